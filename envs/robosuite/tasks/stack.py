"""Stack: put the red cube on the green one (robosuite ``Stack``).

Success (robosuite): cube A rests on cube B and the gripper no longer holds it.
"""

from __future__ import annotations

import numpy as np

from envs.robosuite.experts import Waypoint, grip
from envs.robosuite.objects import body_id, body_pose
from envs.robosuite.tasks.spec import TABLE_CENTRE, TaskSpec


def object_poses(env) -> dict:
    """``cubeA`` (red, to pick) and ``cubeB`` (green, the base)."""
    raw, sim = env.raw, env.sim
    return {
        "cubeA": body_pose(sim, body_id(raw, raw.cubeA.root_body)),
        "cubeB": body_pose(sim, body_id(raw, raw.cubeB.root_body)),
    }


def expert(env) -> list[Waypoint]:
    """Pick the red cube (A), carry it above the green cube (B), lower, release, retreat."""

    def pose(env, name):
        return object_poses(env)[name][:3]

    def place(env, ctx):
        # Where the eef must be for A's bottom to sit on B's top: keep the grip offset eef - A.
        offset = env.eef_pos - pose(env, "cubeA")
        b = pose(env, "cubeB")
        return b + [0, 0, 0.025 + 0.02 + 0.004] + offset

    def above_b(env, ctx):
        return np.concatenate([pose(env, "cubeB")[:2], [env.eef_pos[2]]]) + np.append(
            (env.eef_pos - pose(env, "cubeA"))[:2], 0.0
        )

    return [
        Waypoint("above_a", lambda e, c: pose(e, "cubeA") + [0, 0, 0.08], False),
        Waypoint("grasp_a", lambda e, c: pose(e, "cubeA") + [0, 0, -0.003], False, tol=0.008, max_step=0.02),
        grip("close", True),
        Waypoint("lift", lambda e, c: np.append(e.eef_pos[:2], 1.0), True, max_step=0.02),
        Waypoint("above_b", above_b, True, tol=0.006, max_step=0.02),
        Waypoint("place", place, True, tol=0.006, max_step=0.01),
        grip("release", False),
        Waypoint("retreat", lambda e, c: e.eef_pos + [0, 0, 0.08], False),
    ]


SPEC = TaskSpec(
    name="Stack",
    env_name="Stack",
    instruction="stack the red cube on the green cube",
    reference_point=TABLE_CENTRE,
    workspace_low=(-0.25, -0.3, 0.80),
    workspace_high=(0.25, 0.3, 1.20),
    expert=expert,
    object_poses=object_poses,
)
