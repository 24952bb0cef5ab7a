"""What a robosuite keypoint task declares: :class:`TaskSpec` (instruction, reference point, workspace, camera,
scripted expert, object poses), and the constants the tasks share.

Importing this module does not import robosuite. World frame (robosuite, see docs/CONTRACTS.md): x forward
(away from the robot base), y to the robot's left, z up; metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

#: Table-top centre of the tabletop tasks (Lift, Stack): robosuite's ``table_offset``.
TABLE_CENTRE: tuple[float, float, float] = (0.0, 0.0, 0.8)

#: Panda gripper size used as "eef size" in task metadata: (finger span when open, finger length), metres.
PANDA_EEF_SIZE: tuple[float, float] = (0.08, 0.05)


@dataclass(frozen=True)
class TaskSpec:
    """One robosuite keypoint task: its static description, its scripted expert and its object poses.

    Each task is one module of this package that defines its ``SPEC`` (robosuite keeps one task per file too);
    :data:`envs.robosuite.tasks.TASKS` collects them.

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
        expert: ``fn(env) -> list[Waypoint]``, the scripted expert (:mod:`envs.robosuite.experts` runs it)
            from a reset :class:`~envs.robosuite.make.TaskEnv`.
        object_poses: ``fn(env) -> {name: [x, y, z, qx, qy, qz, qw]}``, the task objects' poses (world frame),
            recorded with every demo frame.
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
    # required, keyword-only: a task without its expert or its object poses cannot record a demo
    expert: Callable = field(kw_only=True, compare=False, repr=False)
    object_poses: Callable = field(kw_only=True, compare=False, repr=False)

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
