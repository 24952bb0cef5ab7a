"""robot-keypoint control options: the task's declared ``control_config_cls``, validated by the core like every
config section, set from YAML keys, ``--name value`` flags and ``name=value`` overrides (no simulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_r1.config import build_dataclass
from embodied_r1.errors import UserError
from tasks.robot_keypoint import ControlOptions, RobotKeypointTask


def _cli(*args):
    from click.testing import CliRunner

    from embodied_r1.cli import main

    return CliRunner().invoke(main, ["eval-control", "--task", "robot-keypoint", *args])


def _error_line(res) -> str:
    lines = [x for x in res.output.strip().splitlines() if x.startswith("error:")]
    assert res.exit_code == 2 and len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


def test_the_task_declares_its_control_options_and_policies():
    task = RobotKeypointTask()
    assert task.control_config_cls is ControlOptions
    assert task.control_policies == ("oracle", "zero") and task.control_seed == 100_000


@pytest.mark.parametrize("options,msg", [
    ({"episode": 3}, "unknown config key 'eval-control.episode' (did you mean 'episodes'?)"),
    ({"bogus": 1}, "unknown config key 'eval-control.bogus' (known: batch_size, camera_size"),
    ({"episodes": 0}, "'episodes' must be an integer >= 1"),
    ({"workers": -1}, "'workers' must be an integer >= 0"),
    ({"episodes": "ten"}, "'eval-control.episodes' expects int, got str 'ten'"),
    ({"tasks": ""}, "--tasks is empty"),
    ({"tasks": "Lift,Nope"}, "unknown task(s) Nope; supported: Lift, Stack, PickPlaceCan, Door"),
    ({"temperature": -1}, "temperature"),
    ({"camera_size": 4}, "camera_size"),
    ({"progress": "yes"}, "'eval-control.progress' expects bool"),
    ({"policy": "zero"}, "unknown config key 'eval-control.policy'"),  # generic: a CLI option, not the task's
])
def test_control_options_are_validated_by_the_core_schema(options, msg):
    with pytest.raises(UserError) as err:
        build_dataclass(ControlOptions, options, "eval-control")
    assert msg in str(err.value) and "\n" not in str(err.value)


def test_bad_options_on_the_command_line_are_one_line_naming_the_closest(tmp_path):
    line = _error_line(_cli("--policy", "oracle", "--tasks", "Nope", "--output", str(tmp_path / "o")))
    assert "unknown task(s) Nope" in line
    line = _error_line(_cli("max_calls=3"))
    assert "unknown config key 'eval-control.max_calls' (did you mean 'max_keypoint_calls'?)" in line
    line = _error_line(_cli("--max-calls", "3"))
    assert "--max-calls is not a setting of eval-control of task 'robot-keypoint' (did you mean " \
           "--max-keypoint-calls?); its settings: --tasks, --episodes, --workers" in line
    assert "--episode " not in line and not (tmp_path / "o").exists()  # refused before any folder is written
    assert "--seed must be an integer" in _error_line(_cli("--seed", "-3"))
    assert "not a valid integer" in _cli("--seed", "x").output


def test_yaml_flags_and_overrides_meet_in_the_task_options(tmp_path, monkeypatch):
    """``--name value``, ``--name=value`` and ``name=value`` set the task's fields over the YAML; the generic keys
    (policy, seed, output) reach the context, not the options."""
    seen = []
    monkeypatch.setattr(RobotKeypointTask, "run_control", lambda self, ctx: seen.append(ctx) or {})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: robot-keypoint\npolicy: zero\nseed: 5\ntasks: Lift\nepisodes: 4\nworkers: 1\n")
    res = _cli("--config", str(cfg), "--episodes", "7", "--max-keypoint-calls=3", "temperature=0.5",
               "--tasks", "Lift,Stack", "--output", str(tmp_path / "o"))
    assert res.exit_code == 0, res.output
    ctx = seen[-1]
    assert (ctx.policy, ctx.seed, ctx.output, ctx.resume) == ("zero", 5, tmp_path / "o", False)
    o = ctx.options
    assert (o.tasks, o.episodes, o.workers, o.max_keypoint_calls, o.temperature) == (["Lift", "Stack"], 7, 1, 3, 0.5)
    assert ctx.is_builtin and ctx.make_generator is None
    assert _cli("--config", str(cfg), "--seed", "100", "--output", str(tmp_path / "o")).exit_code == 0
    assert seen[-1].seed == 100  # --seed over the YAML's seed
    cfg.write_text("tasks: Lift\n")
    assert _cli("--config", str(cfg), "--output", str(tmp_path / "o")).exit_code == 0
    assert (seen[-1].policy, seen[-1].seed) == ("oracle", 100_000)  # the task's first built-in policy and seed


def test_help_lists_the_task_options_and_settings():
    from click.testing import CliRunner

    from embodied_r1.cli import main

    res = CliRunner().invoke(main, ["eval-control", "--help"])
    assert res.exit_code == 0 and "Options of task 'robot-keypoint'" in res.output
    assert "--max-keypoint-calls (15)" in res.output and "Keypoints a policy may propose per episode" in res.output
    assert "--seed" in res.output and "built-in policies: oracle, zero" in res.output
    res = CliRunner().invoke(main, ["data", "--help"])
    assert res.exit_code == 0 and "Settings of task 'robot-keypoint'" in res.output and "--episodes" in res.output


def test_the_shipped_eval_control_yaml_is_valid():
    from embodied_r1.config import read_yaml
    from embodied_r1.control import GENERIC_KEYS

    data = read_yaml(Path(__file__).parents[3] / "configs" / "eval_control.yaml")
    generic = {k: data.pop(k) for k in GENERIC_KEYS if k in data}
    assert generic == {"task": "robot-keypoint", "policy": "oracle", "seed": 100_000}
    assert build_dataclass(ControlOptions, data, "eval-control").tasks == ["Lift", "Stack"]
