"""Task registry: built-in tasks and those of separately installed packages, by name.

Tasks register through the entry-point group ``embodied_r1.tasks`` (``name = "module:TaskClass"``); the
project's own tasks use the same group in its ``pyproject.toml``. ``register_task`` adds one at run time
(tests, notebooks). Unlike Gymnasium's registry, a duplicate name is an error, and an unknown name lists the
known ones.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from embodied_r1.errors import UserError
from embodied_r1.task import Task

GROUP = "embodied_r1.tasks"


class Registry:
    """Name -> task class, filled lazily from entry points plus explicit registrations."""

    def __init__(self, group: str = GROUP):
        self.group = group
        self._specs: dict[str, str | type] = {}
        self._loaded = False

    def _load_entry_points(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for ep in entry_points(group=self.group):
            if ep.name in self._specs:
                raise UserError(f"task '{ep.name}' is registered twice (entry point {ep.value}); rename one of them")
            self._specs[ep.name] = ep.value

    def register(self, name: str, task: str | type) -> None:
        """Register ``task`` (a Task subclass or ``"module:Class"``) under ``name``; duplicates raise."""
        self._load_entry_points()
        if name in self._specs:
            raise ValueError(f"task '{name}' is already registered; known tasks: {', '.join(sorted(self._specs))}")
        self._specs[name] = task

    def unregister(self, name: str) -> None:
        """Remove a registration (tests)."""
        self._specs.pop(name, None)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._specs)

    def get_class(self, name: str) -> type:
        """The task class registered as ``name``."""
        self._load_entry_points()
        if name not in self._specs:
            known = ", ".join(sorted(self._specs)) or "none"
            raise UserError(f"unknown task '{name}'; registered tasks: {known} (see `embodied-r1 tasks`)")
        spec = self._specs[name]
        if isinstance(spec, str):
            module, _, attr = spec.partition(":")
            try:
                spec = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise UserError(f"task '{name}' could not be loaded from '{self._specs[name]}': {exc}") from exc
        if not (isinstance(spec, type) and issubclass(spec, Task)):
            raise UserError(f"task '{name}' is registered as {spec!r}, which is not a embodied_r1.task.Task subclass")
        return spec

    def make(self, name: str) -> Task:
        """An instance of the task registered as ``name``."""
        return self.get_class(name)()


REGISTRY = Registry()


def register_task(name: str, task: str | type) -> None:
    """Register a task class (or ``"module:Class"`` string) under ``name`` in the default registry."""
    REGISTRY.register(name, task)


def make_task(name: str) -> Task:
    """Instantiate a registered task by name."""
    return REGISTRY.make(name)


def task_names() -> list[str]:
    """Names of all registered tasks."""
    return REGISTRY.names()
