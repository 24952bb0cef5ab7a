"""Task metadata for the robosuite keypoint tasks: instruction, reference point, workspace, eef size.

Pure data; importing this module does not import robosuite.

World frame (robosuite, see docs/CONTRACTS.md): x forward (away from the robot base), y to the
robot's left, z up; metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Table-top centre of the tabletop tasks (Lift, Stack): robosuite's ``table_offset``.
TABLE_CENTRE: tuple[float, float, float] = (0.0, 0.0, 0.8)

#: Panda gripper size used as "eef size" in task metadata: (finger span when open, finger length), metres.
PANDA_EEF_SIZE: tuple[float, float] = (0.08, 0.05)


@dataclass(frozen=True)
class TaskSpec:
    """Static description of one supported task.

    Attributes:
        name: our task name (also the ``task_name`` column of the datasets).
        env_name: robosuite environment class name passed to ``robosuite.make``.
        instruction: natural-language task instruction given to a policy.
        reference_point: the scene's reference point in the world frame (table-top centre), metres.
        workspace_low / workspace_high: axis-aligned box the end effector may be commanded into.
        env_kwargs: extra keyword arguments for ``robosuite.make``.
        gripper_yaw: yaw (rad, about world z) of the task's fixed top-down gripper orientation,
            relative to the Panda's default, whose fingers close along world y.
        camera: the camera rendered as the task's main image (``agentview`` unless it misses the scene).
    """

    name: str
    env_name: str
    instruction: str
    reference_point: tuple[float, float, float]
    workspace_low: tuple[float, float, float]
    workspace_high: tuple[float, float, float]
    env_kwargs: dict = field(default_factory=dict)
    gripper_yaw: float = 0.0
    camera: str = "agentview"

    def metadata(self) -> dict:
        """JSON-friendly metadata handed to policies (and stored in dataset cards)."""
        return {
            "task_name": self.name,
            "instruction": self.instruction,
            "reference_point": list(self.reference_point),
            "reference_point_name": "table_centre",
            "axes": {
                "x": "forward, away from the robot base",
                "y": "left, from the robot's point of view",
                "z": "up",
            },
            "units": "metres",
            "gripper": "g = 1 closed, 0 open",
            "eef_size": {"open_width": PANDA_EEF_SIZE[0], "finger_length": PANDA_EEF_SIZE[1]},
            "workspace_low": list(self.workspace_low),
            "workspace_high": list(self.workspace_high),
        }


TASKS: dict[str, TaskSpec] = {
    "Lift": TaskSpec(
        name="Lift",
        env_name="Lift",
        instruction="lift the red cube",
        reference_point=TABLE_CENTRE,
        workspace_low=(-0.25, -0.3, 0.80),
        workspace_high=(0.25, 0.3, 1.20),
    ),
    "Stack": TaskSpec(
        name="Stack",
        env_name="Stack",
        instruction="stack the red cube on the green cube",
        reference_point=TABLE_CENTRE,
        workspace_low=(-0.25, -0.3, 0.80),
        workspace_high=(0.25, 0.3, 1.20),
    ),
    "PickPlaceCan": TaskSpec(
        name="PickPlaceCan",
        env_name="PickPlaceCan",
        # The target spot (robosuite's translucent "VisualCan") is the target bin's compartment on the
        # robot's left (+y) and away from it (+x): in agentview, right and nearest the camera.
        instruction="pick up the red can and put it in the right-hand bin, in the compartment nearest the camera",
        # robosuite's bins: bin1 (source) at y=-0.25, bin2 (target) at y=+0.28; the table between them.
        reference_point=(0.1, 0.015, 0.8),
        workspace_low=(-0.2, -0.5, 0.80),
        workspace_high=(0.35, 0.5, 1.25),
    ),
    "Door": TaskSpec(
        name="Door",
        env_name="Door",
        instruction="open the door",
        # Door's table: offset (-0.2, -0.35, 0.8).
        reference_point=(-0.2, -0.35, 0.8),
        workspace_low=(-0.35, -0.6, 0.80),
        workspace_high=(0.3, 0.3, 1.35),
        # robosuite's agentview sits behind the pedestal for Door and barely shows the door.
        camera="sideview",
        # robosuite's default latched door needs the lever turned ~1.2 rad first; with a top-down hand
        # the hand hits the lever's hub before that in about half the seeds, so the task uses
        # robosuite's unlatched variant (the door still swings on its hinge; success: hinge > 0.3 rad).
        env_kwargs={"use_latch": False},
        # The Panda hand is ~20 cm wide along its finger axis; turned 90 degrees it lies parallel to
        # the door instead of hitting the panel when the fingertips reach the handle.
        gripper_yaw=-np.pi / 2,
    ),
}

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
