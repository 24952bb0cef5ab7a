"""Object poses read from the simulator (world frame, quaternions x, y, z, w).

Which objects a task has is the task's own business (``SPEC.object_poses`` in its module of
:mod:`envs.robosuite.tasks`); this module holds the readers they share.
"""

from __future__ import annotations

import numpy as np


def body_pose(sim, body_id: int) -> np.ndarray:
    """``[x, y, z, qx, qy, qz, qw]`` of a MuJoCo body."""
    pos = np.array(sim.data.body_xpos[body_id])
    w, x, y, z = sim.data.body_xquat[body_id]  # MuJoCo is (w, x, y, z)
    return np.concatenate([pos, [x, y, z, w]])


def site_pose(sim, site_id: int) -> np.ndarray:
    """``[x, y, z, qx, qy, qz, qw]`` of a MuJoCo site."""
    from scipy.spatial.transform import Rotation

    pos = np.array(sim.data.site_xpos[site_id])
    quat = Rotation.from_matrix(np.array(sim.data.site_xmat[site_id]).reshape(3, 3)).as_quat()
    return np.concatenate([pos, quat])


def body_id(raw, name: str) -> int:
    """The MuJoCo id of a body of the robosuite env ``raw``."""
    return raw.sim.model.body_name2id(name)


def object_poses(env) -> dict[str, np.ndarray]:
    """The task objects' poses: name -> 7-vector ``[x, y, z, qx, qy, qz, qw]`` (the task's ``SPEC.object_poses``).

    Args:
        env: A :class:`~envs.robosuite.make.TaskEnv`.

    Returns:
        One entry per object the task names (Lift: ``cube``; Stack: ``cubeA``, ``cubeB``; ...).
    """
    from envs.robosuite.tasks import get_task

    return get_task(env.task_name).object_poses(env)
