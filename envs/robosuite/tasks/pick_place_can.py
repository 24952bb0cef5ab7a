"""PickPlaceCan: carry the can from the left bin into its compartment of the right bin (robosuite ``PickPlaceCan``).

Success (robosuite): the can lies inside its target compartment (``not_in_bin`` is False).
"""

from __future__ import annotations

import numpy as np

from envs.robosuite.experts import Waypoint, grip
from envs.robosuite.objects import body_pose
from envs.robosuite.tasks.spec import TaskSpec


def object_poses(env) -> dict:
    """``can`` and ``target`` (the translucent can marking the goal spot in the bin)."""
    raw, sim = env.raw, env.sim
    return {
        "can": body_pose(sim, raw.obj_body_id["Can"]),
        "target": body_pose(sim, raw.obj_body_id["VisualCan"]),
    }


def can_compartment(env) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) xy corners of the can's target compartment, robosuite's ``not_in_bin`` bounds."""
    raw = env.raw
    bin_id = raw.object_to_id["can"]
    low = np.array(raw.bin2_pos[:2], dtype=float)
    if bin_id in (0, 2):
        low[0] -= raw.bin_size[0] / 2
    if bin_id < 2:
        low[1] -= raw.bin_size[1] / 2
    return low, low + np.asarray(raw.bin_size[:2]) / 2


def expert(env) -> list[Waypoint]:
    """Pick the can from the left bin, carry it over its target compartment, lower, release, retreat."""

    def can(env):
        return object_poses(env)["can"][:3]

    def drop_xy(env):
        # robosuite's own target spot (the compartment centre) is at the edge of the Panda's reach;
        # any point inside the compartment counts, so aim 5.5 cm in from its corner nearest the robot.
        low, _ = can_compartment(env)
        return low + 0.055

    carry_z = 1.0
    return [
        Waypoint("above", lambda e, c: can(e) + [0, 0, 0.1], False),
        Waypoint("grasp", lambda e, c: can(e) + [0, 0, 0.0], False, tol=0.008, max_step=0.02),
        grip("close", True),
        Waypoint("lift", lambda e, c: np.append(e.eef_pos[:2], carry_z), True, max_step=0.02),
        Waypoint("carry", lambda e, c: np.append(drop_xy(e), carry_z), True, tol=0.015),
        Waypoint("lower", lambda e, c: np.append(drop_xy(e), 0.9), True, max_step=0.02),
        grip("release", False),
        Waypoint("retreat", lambda e, c: np.append(e.eef_pos[:2], carry_z), False),
    ]


SPEC = TaskSpec(
    name="PickPlaceCan",
    env_name="PickPlaceCan",
    # The target spot (robosuite's translucent "VisualCan") is the target bin's compartment on the
    # robot's left (+y) and away from it (+x): in agentview, right and nearest the camera.
    instruction="pick up the red can and put it in the right-hand bin, in the compartment nearest the camera",
    # robosuite's bins: bin1 (source) at y=-0.25, bin2 (target) at y=+0.28; the table between them.
    reference_point=(0.1, 0.015, 0.8),
    workspace_low=(-0.2, -0.5, 0.80),
    workspace_high=(0.35, 0.5, 1.25),
    expert=expert,
    object_poses=object_poses,
)
