"""Per-task object poses read from the simulator (world frame, quaternions x, y, z, w)."""

from __future__ import annotations

import numpy as np


def _body_pose(sim, body_id: int) -> np.ndarray:
    pos = np.array(sim.data.body_xpos[body_id])
    w, x, y, z = sim.data.body_xquat[body_id]  # MuJoCo is (w, x, y, z)
    return np.concatenate([pos, [x, y, z, w]])


def _site_pose(sim, site_id: int) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    pos = np.array(sim.data.site_xpos[site_id])
    quat = Rotation.from_matrix(np.array(sim.data.site_xmat[site_id]).reshape(3, 3)).as_quat()
    return np.concatenate([pos, quat])


def _body(raw, name: str) -> int:
    return raw.sim.model.body_name2id(name)


def object_poses(env) -> dict[str, np.ndarray]:
    """Task objects' poses: name -> 7-vector [x, y, z, qx, qy, qz, qw].

    Lift: ``cube``; Stack: ``cubeA`` (red, to pick), ``cubeB`` (green, base);
    PickPlaceCan: ``can`` and ``target`` (the translucent can marking the goal spot in the bin);
    Door: ``door`` (the panel) and ``handle`` (the lever's tip site).
    """
    raw, sim, task = env.raw, env.sim, env.task_name
    if task == "Lift":
        return {"cube": _body_pose(sim, _body(raw, raw.cube.root_body))}
    if task == "Stack":
        return {
            "cubeA": _body_pose(sim, _body(raw, raw.cubeA.root_body)),
            "cubeB": _body_pose(sim, _body(raw, raw.cubeB.root_body)),
        }
    if task == "PickPlaceCan":
        return {
            "can": _body_pose(sim, raw.obj_body_id["Can"]),
            "target": _body_pose(sim, raw.obj_body_id["VisualCan"]),
        }
    if task == "Door":
        return {
            "door": _body_pose(sim, _body(raw, raw.door.door_body)),
            "handle": _site_pose(sim, raw.door_handle_site_id),
        }
    raise KeyError(f"no object poses defined for task {task!r}")


def door_joint_state(env) -> tuple[float, float]:
    """(hinge angle, latch angle) of the Door task, radians."""
    raw = env.raw
    hinge = float(raw.sim.data.qpos[raw.hinge_qpos_addr])
    latch = float(raw.sim.data.qpos[raw.handle_qpos_addr]) if raw.use_latch else 0.0
    return hinge, latch
