"""A demo at a glance: first frame, a middle keyframe, final frame, and the keyframe timeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from envs.robosuite.make import project_points


def save_demo_figure(demo, path: str | Path, title: str | None = None) -> Path:
    """Draw ``demo`` (recorded with images) to ``path`` (PNG).

    Top row: the first frame, the middle keyframe and the final frame, each with every keyframe's
    eef position projected into the image (numbered; the frame's own keyframe ringed, green = gripper
    open, red = closed). Bottom: eef height, gripper command and joint speed over time with the
    keyframes marked.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if demo.images is None:
        raise ValueError("the demo has no images (record it with images=True)")
    keys = list(demo.keyframes)
    mid = keys[(len(keys) - 1) // 2] if keys else len(demo) // 2
    frames = [(0, "first frame"), (mid, f"keyframe {keys.index(mid) + 1 if mid in keys else '-'} (frame {mid})"),
              (len(demo) - 1, "final frame")]
    pix = project_points(demo.camera_matrix, demo.eef_pos[keys]) if demo.camera_matrix is not None and keys else None

    fig = plt.figure(figsize=(10.5, 6.4))
    grid = fig.add_gridspec(2, 3, height_ratios=[3, 1.5])
    for col, (i, label) in enumerate(frames):
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(demo.images[i])
        if pix is not None:
            for n, (k, (u, v)) in enumerate(zip(keys, pix)):
                color = "red" if demo.gripper_closed[k] else "lime"
                ax.plot(u, v, "o", ms=6 if k != i else 11, mfc="none" if k != i else color, mec=color, mew=1.5)
                ax.annotate(str(n + 1), (u, v), xytext=(4, -4), textcoords="offset points", color=color, fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[1, :])
    t = np.arange(len(demo))
    ax.plot(t, demo.eef_pos[:, 2], label="eef z (m)")
    ax.plot(t, np.abs(demo.joint_vel).max(axis=1) * 0.1 + demo.eef_pos[:, 2].min() - 0.05,
            lw=0.8, color="grey", label="max |joint vel| (scaled)")
    ax2 = ax.twinx()
    ax2.step(t, demo.gripper_closed.astype(int), where="post", color="red", lw=1, label="gripper closed")
    ax2.set_ylim(-0.1, 3)
    ax2.set_yticks([0, 1])
    for n, k in enumerate(keys):
        ax.axvline(k, color="k", ls=":", lw=0.8)
        ax.text(k, ax.get_ylim()[1], str(n + 1), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("frame (20 Hz)")
    ax.legend(loc="upper left", fontsize=7)
    ax2.legend(loc="upper right", fontsize=7)
    fig.suptitle(title or f"{demo.task_name} (seed {demo.seed}, camera {demo.camera}): {len(demo)} frames, "
                 f"{len(keys)} keyframes, success={demo.success}\n\"{demo.instruction}\"", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
