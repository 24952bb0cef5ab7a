"""Demos <-> Hugging Face ``datasets`` (one row per frame, LeRobot-like column names), on disk.

Columns:

========================== ===================================================================
``episode_index``          int, index of the demo in the saved list
``frame_index``            int, frame within the episode
``task_name``              str
``seed``                   int, the episode's initial-state seed
``instruction``            str
``observation.image``      Image (the task camera, upright)
``observation.wrist_image`` Image (only when wrist images were recorded)
``observation.state``      float32[4]: eef x, y, z (world, metres) + gripper (1 closed / 0 open)
``observation.eef_quat``   float32[4]: x, y, z, w
``observation.joint_vel``  float32[7]
``observation.gripper_qpos`` float32[2]
``action``                 float32[7]: the robosuite action
``object_poses``           str: JSON ``{name: [x, y, z, qx, qy, qz, qw]}``
``is_keyframe``            bool
``next_keyframe_index``    int: frame index of the first keyframe after this frame (last frame: itself)
``phase``                  str: the expert phase of the frame's action
``success``                bool: the episode's success
========================== ===================================================================

:func:`save_demos` writes the dataset with ``Dataset.save_to_disk`` plus ``card.json`` (task,
stats, column notes) inside the same directory; :func:`load_demos` rebuilds the :class:`Demo` s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from envs.robosuite.recorder import Demo

CARD_NAME = "card.json"


def _features(with_images: bool, with_wrist: bool):
    from datasets import Features, Image, Sequence, Value

    f = {
        "episode_index": Value("int64"),
        "frame_index": Value("int64"),
        "task_name": Value("string"),
        "seed": Value("int64"),
        "instruction": Value("string"),
        "observation.state": Sequence(Value("float32"), length=4),
        "observation.eef_quat": Sequence(Value("float32"), length=4),
        "observation.joint_vel": Sequence(Value("float32"), length=7),
        "observation.gripper_qpos": Sequence(Value("float32"), length=2),
        "action": Sequence(Value("float32"), length=7),
        "object_poses": Value("string"),
        "is_keyframe": Value("bool"),
        "next_keyframe_index": Value("int64"),
        "phase": Value("string"),
        "success": Value("bool"),
        "camera": Value("string"),
    }
    if with_images:
        f["observation.image"] = Image()
    if with_wrist:
        f["observation.wrist_image"] = Image()
    return Features(f)


def next_keyframe_indices(keyframes: list[int], length: int) -> np.ndarray:
    """For each frame, the first keyframe strictly after it (the last frame maps to itself).

    >>> next_keyframe_indices([2, 4], 5).tolist()
    [2, 2, 4, 4, 4]
    """
    out = np.full(length, length - 1, dtype=np.int64)
    ks = sorted(keyframes)
    j = 0
    for i in range(length):
        while j < len(ks) and ks[j] <= i:
            j += 1
        out[i] = ks[j] if j < len(ks) else length - 1
    return out


def _rows(demos: list[Demo]):
    for ep, d in enumerate(demos):
        key = set(d.keyframes)
        nxt = next_keyframe_indices(d.keyframes, len(d))
        state = d.state
        for i in range(len(d)):
            row = {
                "episode_index": ep,
                "frame_index": i,
                "task_name": d.task_name,
                "seed": d.seed,
                "instruction": d.instruction,
                "observation.state": state[i].tolist(),
                "observation.eef_quat": d.eef_quat[i].astype(np.float32).tolist(),
                "observation.joint_vel": d.joint_vel[i].astype(np.float32).tolist(),
                "observation.gripper_qpos": d.gripper_qpos[i].astype(np.float32).tolist(),
                "action": d.actions[i].astype(np.float32).tolist(),
                "object_poses": json.dumps({k: np.round(v[i], 6).tolist() for k, v in d.object_poses.items()}),
                "is_keyframe": i in key,
                "next_keyframe_index": int(nxt[i]),
                "phase": d.phases[i] if d.phases else "",
                "success": bool(d.success),
                "camera": d.camera,
            }
            if d.images is not None:
                row["observation.image"] = d.images[i]
            if d.wrist_images is not None:
                row["observation.wrist_image"] = d.wrist_images[i]
            yield row


def to_hf_dataset(demos: list[Demo]):
    """One row per frame of every demo, as a ``datasets.Dataset`` (see the module docstring)."""
    try:
        from datasets import Dataset
    except ImportError as err:  # pragma: no cover
        raise ImportError("to_hf_dataset needs the `datasets` package") from err
    if not demos:
        raise ValueError("no demos to convert")
    with_images = all(d.images is not None for d in demos)
    with_wrist = all(d.wrist_images is not None for d in demos)
    rows = list(_rows(demos))
    if not with_images:
        for r in rows:
            r.pop("observation.image", None)
    if not with_wrist:
        for r in rows:
            r.pop("observation.wrist_image", None)
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    return Dataset.from_dict(columns, features=_features(with_images, with_wrist))


def save_demos(demos: list[Demo], path: str | Path, stats: dict | None = None) -> Path:
    """Save demos with ``Dataset.save_to_disk(path)`` and a ``card.json`` (stats) inside ``path``.

    Returns:
        The dataset directory.
    """
    path = Path(path)
    ds = to_hf_dataset(demos)
    ds.save_to_disk(str(path))
    card = {
        "format": "embodied-r1 robosuite demos v1",
        "tasks": sorted({d.task_name for d in demos}),
        "episodes": len(demos),
        "frames": len(ds),
        "keyframes_per_episode": [len(d.keyframes) for d in demos],
        "seeds": [d.seed for d in demos],
        "camera": sorted({d.camera for d in demos}),
        "control": sorted({d.control for d in demos}),
        "keyframe_heuristic": "ARM/PerAct: gripper change | last frame | stopped (|qvel|<=0.1, buffer 4)",
        "frames_convention": "frame i = observation the expert acted from + its action",
        "world_frame": "robosuite world: x forward, y left, z up; metres; quaternions x,y,z,w",
        "stats": stats or {},
    }
    (path / CARD_NAME).write_text(json.dumps(card, indent=2, default=float))
    return path


def load_demo_dataset(path: str | Path):
    """The saved ``datasets.Dataset`` itself."""
    from datasets import load_from_disk

    return load_from_disk(str(path))


def load_card(path: str | Path) -> dict:
    return json.loads((Path(path) / CARD_NAME).read_text())


def load_demos(path: str | Path) -> list[Demo]:
    """Rebuild the :class:`Demo` s saved by :func:`save_demos` (images as uint8 arrays)."""
    ds = load_demo_dataset(path)
    with_images = "observation.image" in ds.column_names
    with_wrist = "observation.wrist_image" in ds.column_names
    episodes = np.asarray(ds["episode_index"])
    demos = []
    for ep in np.unique(episodes):
        rows = ds.select(np.flatnonzero(episodes == ep).tolist())
        order = np.argsort(rows["frame_index"])
        rows = rows.select(order.tolist())
        state = np.asarray(rows["observation.state"], dtype=np.float64)
        poses = [json.loads(s) for s in rows["object_poses"]]
        demos.append(
            Demo(
                task_name=rows[0]["task_name"],
                seed=int(rows[0]["seed"]),
                eef_pos=state[:, :3],
                eef_quat=np.asarray(rows["observation.eef_quat"], dtype=np.float64),
                gripper_closed=state[:, 3] > 0.5,
                gripper_qpos=np.asarray(rows["observation.gripper_qpos"], dtype=np.float64),
                joint_vel=np.asarray(rows["observation.joint_vel"], dtype=np.float64),
                object_poses={k: np.asarray([p[k] for p in poses]) for k in poses[0]},
                actions=np.asarray(rows["action"], dtype=np.float64),
                success=bool(rows[0]["success"]),
                images=np.stack([np.asarray(im) for im in rows["observation.image"]]) if with_images else None,
                wrist_images=(
                    np.stack([np.asarray(im) for im in rows["observation.wrist_image"]]) if with_wrist else None
                ),
                phases=list(rows["phase"]),
                keyframes=np.flatnonzero(np.asarray(rows["is_keyframe"])).tolist(),
                camera=rows[0]["camera"],
            )
        )
    return demos
