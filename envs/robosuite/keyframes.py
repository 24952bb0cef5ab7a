"""Keyframe discovery from a demo, the ARM / PerAct heuristic (``helpers/demo_loading_utils.py``).

Pure numpy; no simulator needed.

Frame ``i`` (``i > 0``) is a keyframe if the gripper open state changed since ``i - 1``, or it is the
last frame, or the arm has *stopped*. The arm counts as stopped at ``i`` when

* every joint velocity is within ``vel_tol`` of zero,
* the stop buffer has run out (it is set to ``stop_buffer`` at each stop and counts down by one per
  frame otherwise),
* ``i != T - 2``, and
* the gripper state is unchanged over ``i - 2 .. i + 1``.

Finally, if the last two keyframes are adjacent, the first of them is dropped.

One deliberate difference from the PerAct code: there, ``demo[i - 1]`` / ``demo[i - 2]`` at
``i < 2`` wrap around to the *end* of the demo (Python negative indexing), so whether frame 0/1 can
count as a stop depends on the final gripper state. Here out-of-range neighbours are clamped to the
first frame. Frames 0 and 1 only matter through the stop buffer (frame 0 is never a keyframe).
"""

from __future__ import annotations

import numpy as np


def _gripper_unchanged(gripper_open: np.ndarray, i: int) -> bool:
    t = len(gripper_open)
    window = gripper_open[max(i - 2, 0) : min(i + 1, t - 1) + 1]
    return bool(np.all(window == window[0]))


def is_stopped(
    joint_velocities: np.ndarray, gripper_open: np.ndarray, i: int, buffer: int, vel_tol: float = 0.1
) -> bool:
    """Whether the arm counts as stopped at frame ``i`` given the current stop buffer."""
    t = len(gripper_open)
    small_velocity = bool(np.all(np.abs(joint_velocities[i]) <= vel_tol))
    # PerAct: i < T - 2 inside the gripper check, and i != T - 2 again: both exclude the last two frames.
    return buffer <= 0 and small_velocity and i < t - 2 and _gripper_unchanged(gripper_open, i)


def extract_keyframes(
    joint_velocities: np.ndarray,
    gripper_open: np.ndarray,
    vel_tol: float = 0.1,
    stop_buffer: int = 4,
) -> list[int]:
    """Keyframe indices of a demo (ARM / PerAct heuristic).

    Args:
        joint_velocities: (T, J) arm joint velocities, rad/s.
        gripper_open: (T,) bool, True where the gripper is (commanded) open.
        vel_tol: a joint counts as still when ``|velocity| <= vel_tol``.
        stop_buffer: frames during which no new stop is detected after a stop.

    Returns:
        Sorted frame indices; always ends with ``T - 1`` for ``T >= 2``.

    >>> vel = np.ones((10, 7)); vel[4] = 0.0
    >>> grip = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    >>> extract_keyframes(vel, grip)
    [4, 7, 9]
    """
    vel = np.asarray(joint_velocities, dtype=np.float64)
    grip = np.asarray(gripper_open).astype(bool).reshape(-1)
    if vel.ndim != 2 or len(vel) != len(grip):
        raise ValueError(f"joint_velocities must be (T, J) and gripper_open (T,); got {vel.shape}, {grip.shape}")
    t = len(grip)
    keyframes: list[int] = []
    buffer = 0
    for i in range(t):
        stopped = is_stopped(vel, grip, i, buffer, vel_tol)
        buffer = stop_buffer if stopped else buffer - 1
        changed = i > 0 and grip[i] != grip[i - 1]
        if i > 0 and (changed or i == t - 1 or stopped):
            keyframes.append(i)
    if len(keyframes) > 1 and keyframes[-1] - 1 == keyframes[-2]:
        keyframes.pop(-2)
    return keyframes
