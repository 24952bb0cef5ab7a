"""Lift: pick up the red cube (robosuite ``Lift``).

Success (robosuite): the cube's bottom is more than 4 cm above the table.
"""

from __future__ import annotations

from envs.robosuite.experts import Waypoint, grip
from envs.robosuite.objects import body_id, body_pose
from envs.robosuite.tasks.spec import TABLE_CENTRE, TaskSpec


def object_poses(env) -> dict:
    """``cube``: the red cube."""
    raw = env.raw
    return {"cube": body_pose(env.sim, body_id(raw, raw.cube.root_body))}


def expert(env) -> list[Waypoint]:
    """Above the cube -> down -> close -> lift 15 cm."""

    def cube(env):
        return object_poses(env)["cube"][:3]

    return [
        Waypoint("above", lambda e, c: cube(e) + [0, 0, 0.08], False),
        Waypoint("grasp", lambda e, c: cube(e) + [0, 0, -0.003], False, tol=0.008, max_step=0.02),
        grip("close", True),
        Waypoint("lift", lambda e, c: e.eef_pos + [0, 0, 0.15], True, max_step=0.02),
    ]


SPEC = TaskSpec(
    name="Lift",
    env_name="Lift",
    instruction="lift the red cube",
    reference_point=TABLE_CENTRE,
    workspace_low=(-0.25, -0.3, 0.80),
    workspace_high=(0.25, 0.3, 1.20),
    expert=expert,
    object_poses=object_poses,
)
