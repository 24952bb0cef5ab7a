"""The robosuite keypoint tasks: one module per task, collected in :data:`TASKS`.

Each module (``lift.py``, ``stack.py``, ``pick_place_can.py``, ``door.py``) defines its ``SPEC``, a
:class:`~envs.robosuite.tasks.spec.TaskSpec` holding the task's instruction, reference point, workspace,
camera, scripted expert and object poses, as robosuite keeps one task per file. Adding a task is one new
module plus one line in :data:`TASKS` (README, "Add a robosuite task").

Importing this package does not import robosuite (the experts and pose readers touch the simulator only
when called).
"""

from __future__ import annotations

import numpy as np

from envs.robosuite.tasks import door, lift, pick_place_can, stack
from envs.robosuite.tasks.spec import PANDA_EEF_SIZE, TABLE_CENTRE, TaskSpec


def _collect(*specs: TaskSpec) -> dict[str, TaskSpec]:
    """Name -> spec; a name given twice raises (a silently replaced task would record the wrong demos)."""
    out: dict[str, TaskSpec] = {}
    for spec in specs:
        if spec.name in out:
            raise ValueError(f"robosuite task {spec.name!r} is defined twice; known: {sorted(out)}")
        out[spec.name] = spec
    return out


#: The registry: one line per task module.
TASKS: dict[str, TaskSpec] = _collect(
    lift.SPEC,
    stack.SPEC,
    pick_place_can.SPEC,
    door.SPEC,
)

SUPPORTED_TASKS: tuple[str, ...] = tuple(TASKS)


def get_task(task_name: str) -> TaskSpec:
    """Look up a task's spec.

    Args:
        task_name: one of :data:`SUPPORTED_TASKS`.

    Returns:
        The :class:`TaskSpec`.

    Raises:
        KeyError: unknown task, with the known names in the message.

    >>> get_task("Lift").env_name
    'Lift'
    """
    try:
        return TASKS[task_name]
    except KeyError:
        raise KeyError(f"unknown robosuite task {task_name!r}; known: {sorted(TASKS)}") from None


def task_instruction(task_name: str) -> str:
    """Natural-language instruction of a task.

    >>> task_instruction("Lift")
    'lift the red cube'
    """
    return get_task(task_name).instruction


def reference_point(task_name: str) -> np.ndarray:
    """The task's reference point (table-top centre) in the world frame, metres."""
    return np.asarray(get_task(task_name).reference_point, dtype=np.float64)


def workspace_bounds(task_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) xyz bounds of commandable end-effector positions for a task."""
    spec = get_task(task_name)
    return np.asarray(spec.workspace_low, float), np.asarray(spec.workspace_high, float)


def task_metadata(task_name: str) -> dict:
    """JSON-friendly metadata (instruction, reference point, axes, eef size, workspace)."""
    return get_task(task_name).metadata()


__all__ = ["PANDA_EEF_SIZE", "SUPPORTED_TASKS", "TABLE_CENTRE", "TASKS", "TaskSpec", "get_task", "reference_point",
           "task_instruction", "task_metadata", "workspace_bounds"]
