"""Drive the end effector to a keypoint ``[x, y, z, g]`` with the OSC controller.

The executor sends robosuite's absolute OSC goal poses (``input_type="absolute"`` in the world frame,
which works in robosuite 1.5.2), but never the keypoint itself: each step's goal is the current eef
position plus a displacement bounded by ``max_step`` (a bounded-delta P controller on top of OSC,
plus a small integral term near the target, see :meth:`TaskEnv.action_toward`), with the task's
fixed top-down orientation. A far keypoint therefore gives a smooth approach rather than a torque
spike. With ``control="delta"`` envs the same bounded displacement is sent as a normalised delta.

Gripper: when the keypoint's ``g`` differs from the current commanded state, the arm first moves to
the position with the *old* gripper state, then switches and holds still ``gripper_steps`` steps
(grasp at the keypoint, not on the way there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class ExecutionResult:
    """Outcome of one keypoint.

    Attributes:
        steps: control steps used.
        reached: final eef position within ``pos_tol`` of the target.
        distance: final eef-to-target distance, metres.
        eef_path: (steps + 1, 3) eef positions, start included.
        stalled: stopped early because the arm came to rest short of the target (blocked).
    """

    steps: int
    reached: bool
    distance: float
    eef_path: np.ndarray
    stalled: bool = False
    gripper_changed: bool = False


@dataclass
class KeypointExecutor:
    """Execute keypoints on a :class:`~envs.robosuite.make.TaskEnv`.

    Attributes:
        env: the task env.
        pos_tol: reach tolerance, metres. 5 mm, not 1 cm: the Door keyframes put the fingertips 6 mm
            beside the handle's hub, and a 1 cm miss there misses the hub (oracle 60% vs 100%).
        max_step: bound on the commanded displacement per control step, metres.
        max_steps_per_keypoint: budget per keypoint (gripper hold included).
        gripper_steps: steps held still after a gripper switch (the Panda closes in ~5).
        stall_steps, stall_dist: stop when the eef moved less than ``stall_dist`` over the last
            ``stall_steps`` steps with the arm at rest (joint speeds < ``settle_vel``).
    """

    env: object
    pos_tol: float = 0.005
    max_step: float = 0.03
    max_steps_per_keypoint: int = 150
    gripper_steps: int = 6
    settle_vel: float = 0.1
    stall_steps: int = 8
    stall_dist: float = 0.002
    on_step: Callable[[object, np.ndarray], None] | None = field(default=None, repr=False)

    def execute(self, keypoint) -> ExecutionResult:
        """Move to ``keypoint[:3]`` (world, metres), then set the gripper (``keypoint[3] >= 0.5``: closed)."""
        kp = np.asarray(keypoint, dtype=np.float64).reshape(-1)
        if kp.shape != (4,) or not np.all(np.isfinite(kp)):
            raise ValueError(f"keypoint must be 4 finite numbers [x, y, z, g], got {keypoint!r}")
        env, target, closed = self.env, kp[:3], bool(kp[3] >= 0.5)
        path = [env.eef_pos]
        steps, stalled = 0, False
        still = 0
        while steps < self.max_steps_per_keypoint:
            dist = float(np.linalg.norm(env.eef_pos - target))
            if dist < self.pos_tol:
                break
            at_rest = float(np.max(np.abs(env.joint_vel))) < self.settle_vel
            still = still + 1 if at_rest else 0
            if still >= self.stall_steps and np.linalg.norm(path[-1] - path[-self.stall_steps]) < self.stall_dist:
                stalled = True
                break
            self._step(target, env.gripper_closed)
            steps += 1
            path.append(env.eef_pos)
        changed = closed != env.gripper_closed
        if changed:
            for _ in range(min(self.gripper_steps, self.max_steps_per_keypoint - steps)):
                self._step(target, closed)
                steps += 1
                path.append(env.eef_pos)
            if steps == self.max_steps_per_keypoint and env.gripper_closed != closed:
                self._step(target, closed)  # the switch is never skipped, even out of budget
                steps += 1
                path.append(env.eef_pos)
        dist = float(np.linalg.norm(env.eef_pos - target))
        return ExecutionResult(steps, dist < self.pos_tol, dist, np.asarray(path), stalled, changed)

    def _step(self, target, closed: bool) -> None:
        action = self.env.action_toward(target, closed, self.max_step)
        if self.on_step is not None:
            self.on_step(self.env, action)
        self.env.step(action)


# ---------------------------------------------------------------------- oracle policy
def oracle_keyframes(task_name: str, seed: int, **record_kwargs) -> list[np.ndarray]:
    """Record the expert demo for ``(task_name, seed)`` (state only) and return its keyframe targets.

    Returns:
        ``[x, y, z, g]`` of each keyframe in order: the expert's eef position and commanded gripper
        state at that frame. This is the "oracle" policy: a perfect keypoint predictor.
    """
    from envs.robosuite.recorder import record_demo

    record_kwargs.setdefault("images", False)
    return record_demo(task_name, seed, **record_kwargs).keyframe_targets()


@dataclass
class OracleResult:
    success: bool
    keypoints: int
    steps: int
    reached: list[bool]
    expert_success: bool


def run_oracle(task_name: str, seed: int, env=None, expert_env=None, **executor_kwargs) -> OracleResult:
    """Replay the expert's own keyframes for ``seed`` through a :class:`KeypointExecutor`.

    Args:
        task_name, seed: the episode.
        env: a TaskEnv of the task to execute in (reset to ``seed``); created if None.
        expert_env: a TaskEnv used to record the expert demo (may be ``env``); created if None.
        **executor_kwargs: :class:`KeypointExecutor` settings.

    Returns:
        :class:`OracleResult`; success is robosuite's success after any keypoint.
    """
    from envs.robosuite.make import make_env
    from envs.robosuite.recorder import record_demo

    env = env or make_env(task_name, seed, render=False)
    demo = record_demo(task_name, seed, images=False, env=expert_env or env)
    env.reset(seed)
    executor = KeypointExecutor(env, **executor_kwargs)
    success, steps, reached = False, 0, []
    for target in demo.keyframe_targets():
        res = executor.execute(target)
        steps += res.steps
        reached.append(res.reached)
        if env.success():
            success = True
            break
    return OracleResult(success, len(reached), steps, reached, demo.success)
