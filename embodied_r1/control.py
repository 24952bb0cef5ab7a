"""``embodied-r1 eval-control``: resolve the policy, the options and the eval data, and hand them to the task.

The core does not know any simulator. It finds the registered task that declares a ``control_config_cls``,
validates the options against it, resolves the policy (a built-in name of the task, or a model: a run
directory brings its own task config, seed and model settings from its ``config.yaml``), and hands the task
one :class:`embodied_r1.task.ControlContext`. The task reads no config file and no cache folder: the policy
model and the eval data come from the context, loaded only when the task asks for them.
"""

from __future__ import annotations

import time
from pathlib import Path

from embodied_r1.errors import UserError
from embodied_r1.registry import REGISTRY
from embodied_r1.task import ControlContext, Task

#: The options of ``eval-control`` that every task shares; all other keys belong to the task's control options.
GENERIC_KEYS = ("task", "policy", "output", "resume", "seed")


def control_task_names() -> list[str]:
    """Registered tasks that implement closed-loop control (they declare a ``control_config_cls``)."""
    names = []
    for n in REGISTRY.names():
        try:
            if REGISTRY.get_class(n).control_config_cls is not None:
                names.append(n)
        except UserError:
            continue
    return names


def control_task(name: str | None) -> Task:
    """The task to run ``eval-control`` with: ``name``, or the only control task when None.

    Raises:
        UserError: no name and not exactly one control task, or the task has no closed-loop control.
    """
    names = control_task_names()
    if name is None:
        if len(names) != 1:
            raise UserError(f"pass --task: tasks with closed-loop control: {', '.join(names) or 'none'}")
        name = names[0]
    if name not in names:
        REGISTRY.get_class(name)  # an unknown task says so, with the registered ones
        raise UserError(f"task '{name}' has no closed-loop control; tasks that do: {', '.join(names) or 'none'}")
    return REGISTRY.make(name)


def _run_settings(task: Task, policy: str) -> tuple:
    """``(task_config, data_seed, model_config, rollout_config)`` of a run directory (its ``config.yaml``), else
    the task's defaults, seed 0, no model settings and the default rollout engine.

    Only the sections a control run uses are read (the task's, ``seed``, ``model``, ``rollout``), so that an older
    run whose training sections no longer validate can still be evaluated.
    """
    from embodied_r1.config import ModelConfig, build_dataclass, read_yaml
    from embodied_r1.rollout import RolloutConfig

    path = Path(policy) / "config.yaml"
    if not path.is_file():
        return build_dataclass(task.config_cls, {}, task.name), 0, None, RolloutConfig()
    stored = read_yaml(path)
    if stored.get("task") not in (None, task.name):
        raise UserError(f"policy {policy} is a run of task '{stored.get('task')}', not '{task.name}'")
    seed = stored.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"{path}: 'seed' must be an integer, got {seed!r}")
    model = build_dataclass(ModelConfig, stored.get("model"), "model")
    rollout = build_dataclass(RolloutConfig, stored.get("rollout"), "rollout")
    return build_dataclass(task.config_cls, stored.get(task.name), task.name), seed, model, rollout


def _once(fn):
    """``fn`` called at most once; later calls return the first result (the model and data load once)."""
    cache: list = []

    def wrapper(*args, **kwargs):
        if not cache:
            cache.append(fn(*args, **kwargs))
        return cache[0]

    return wrapper


def control_context(task: Task, options: dict, policy: str | None = None, output: str | None = None,
                    resume: bool = False, seed: int | None = None, log=print) -> ControlContext:
    """Resolve everything a task's :meth:`~embodied_r1.task.Task.run_control` needs.

    Args:
        task: A task with ``control_config_cls``.
        options: The task's control options, plain (YAML keys and flags); validated here.
        policy: A built-in policy of the task (default: its first) or a run directory / model folder / preset.
        output: Sweep folder (default ``runs/control-<policy>-<time>``; required with ``resume``).
        resume: Continue the sweep in ``output``.
        seed: First episode seed (default: the task's ``control_seed``).
        log: Progress lines.

    Returns:
        The :class:`~embodied_r1.task.ControlContext`.
    """
    from embodied_r1.config import build_dataclass

    opts = build_dataclass(task.control_config_cls, options, "eval-control")
    policy = policy if policy is not None else (task.control_policies[0] if task.control_policies else None)
    if not isinstance(policy, str) or not policy.strip():
        builtin = ", ".join(task.control_policies)
        raise UserError(f"eval-control: --policy must be {builtin + ', or ' if builtin else ''}a run directory, "
                        f"model folder or preset")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise UserError(f"eval-control: --seed must be an integer >= 0, got {seed!r}")
    if output is None:
        if resume:
            raise UserError("eval-control --resume needs --output DIR: the folder of the sweep to continue")
        output = str(Path("runs") / f"control-{Path(policy.rstrip('/')).name}-{time.strftime('%Y%m%d-%H%M%S')}")
    builtin = policy in task.control_policies
    task_config, data_seed, model_cfg, rollout_cfg = _run_settings(task, policy) if not builtin else (
        build_dataclass(task.config_cls, {}, task.name), 0, None, None)

    def make_generator(batch_size: int = 16):
        import torch  # noqa: F401  (before anything renders with EGL: a first torch/triton import after EGL can crash)

        from embodied_r1.evaluate import load_generator

        return load_generator(policy, model_cfg, data_seed, batch_size, rollout_cfg)

    def load_eval_data():
        from embodied_r1.data import load_or_build

        return load_or_build(task, task_config, data_seed)

    def answer_rows(generator, rows, batch_size: int = 16, max_new_tokens: int = 128):
        from embodied_r1.evaluate import answer_rows as answer

        return answer(generator, rows, batch_size, max_new_tokens)

    return ControlContext(policy=policy, options=opts, task_config=task_config, data_seed=data_seed,
                          seed=task.control_seed if seed is None else seed, output=Path(output), resume=bool(resume),
                          log=log, make_generator=None if builtin else _once(make_generator),
                          load_eval_data=_once(load_eval_data), answer_rows=answer_rows)


def run_control(task: str | None, options: dict, policy: str | None = None, output: str | None = None,
                resume: bool = False, seed: int | None = None, log=print) -> dict:
    """Run the task's closed-loop evaluation (see :func:`control_context` for the arguments).

    Returns:
        The task's summary dict.
    """
    t = control_task(task)
    return t.run_control(control_context(t, options, policy=policy, output=output, resume=resume, seed=seed, log=log))
