import pytest

from embodied_r1.errors import UserError
from embodied_r1.registry import Registry
from embodied_r1.task import Task
from tests.fixtures.toy_task import ToyTask


def test_register_and_make():
    reg = Registry(group="embodied_r1.no_such_group")
    reg.register("toy", ToyTask)
    assert reg.names() == ["toy"]
    assert isinstance(reg.make("toy"), ToyTask)


def test_register_by_import_string():
    reg = Registry(group="embodied_r1.no_such_group")
    reg.register("toy", "tests.fixtures.toy_task:ToyTask")
    assert reg.get_class("toy") is ToyTask


def test_duplicate_raises_and_lists_known():
    reg = Registry(group="embodied_r1.no_such_group")
    reg.register("toy", ToyTask)
    with pytest.raises(ValueError, match="already registered.*toy"):
        reg.register("toy", ToyTask)


def test_unknown_task_names_the_known_ones():
    reg = Registry(group="embodied_r1.no_such_group")
    reg.register("toy", ToyTask)
    with pytest.raises(UserError, match="unknown task 'nope'; registered tasks: toy"):
        reg.make("nope")


def test_bad_import_string_is_a_user_error():
    reg = Registry(group="embodied_r1.no_such_group")
    reg.register("broken", "tests.fixtures.no_such_module:Thing")
    with pytest.raises(UserError, match="could not be loaded"):
        reg.make("broken")


def test_non_task_class_rejected():
    reg = Registry(group="embodied_r1.no_such_group")
    reg.register("notatask", dict)
    with pytest.raises(UserError, match="not a embodied_r1.task.Task subclass"):
        reg.get_class("notatask")


def test_entry_point_group_registers_builtin_tasks():
    from importlib.metadata import entry_points

    from embodied_r1.registry import REGISTRY

    eps = {ep.name for ep in entry_points(group="embodied_r1.tasks")}
    assert eps, "the package declares its built-in tasks through the entry-point group"
    for name in eps:
        assert issubclass(REGISTRY.get_class(name), Task)


def test_separately_installed_package_adds_a_task(tmp_path, monkeypatch):
    """A package that declares the entry point (here: a minimal installed distribution) is found by name."""
    (tmp_path / "my_embodied_task.py").write_text(
        "from tests.fixtures.toy_task import ToyTask\n\nclass MyTask(ToyTask):\n    name = 'mine'\n")
    dist = tmp_path / "my_embodied_task-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-embodied-task\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[embodied_r1.tasks]\nmine = my_embodied_task:MyTask\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry()
    assert "mine" in reg.names()
    assert reg.make("mine").name == "mine"
