"""Scripted experts: waypoint state machines over the simulator's object poses.

An expert is a list of :class:`Waypoint` s. Each waypoint's target is computed from the sim state
*when the waypoint starts* (so a place target sees where the held cube really is). The runner drives
the end effector toward the target with bounded steps (:meth:`TaskEnv.action_toward`, fixed
top-down orientation) and counts the waypoint reached once the eef is within ``tol`` *and* the arm
has come to rest (all joint velocities below ``settle_vel``). That brief pause at every waypoint is
what the ARM/PerAct keyframe heuristic (:mod:`envs.robosuite.keyframes`) detects as a stop.
Gripper waypoints keep the previous target and hold the new gripper command for ``hold`` steps.

Each task's expert lives in its own module (:mod:`envs.robosuite.tasks`); this module holds the waypoint type
and the runner they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Target = Callable[["object", dict], np.ndarray]


@dataclass
class Waypoint:
    """One phase of an expert.

    Attributes:
        name: phase name (for logs and figures).
        target: ``fn(env, ctx) -> xyz`` evaluated when the phase starts; ``None`` keeps the previous
            target (gripper-only phases).
        gripper_closed: gripper command during the phase.
        tol: position tolerance, metres (``inf`` for gripper-only phases).
        max_step: bound on the commanded displacement per control step, metres.
        hold: steps to keep commanding the target after it is reached (gripper actuation time).
        timeout: steps after which the phase ends even if not reached.
    """

    name: str
    target: Target | None
    gripper_closed: bool
    tol: float = 0.01
    max_step: float = 0.03
    hold: int = 0
    timeout: int = 150


@dataclass
class ExpertResult:
    success: bool
    steps: int
    reached: list[bool] = field(default_factory=list)
    phase_names: list[str] = field(default_factory=list)


GRIPPER_STEPS = 6  # the Panda closes on a 4 cm cube in ~5 control steps


def grip(name: str, closed: bool) -> Waypoint:
    """A gripper-only phase: keep the previous target, command the gripper for :data:`GRIPPER_STEPS` steps."""
    return Waypoint(name, None, closed, tol=np.inf, hold=GRIPPER_STEPS)


def get_expert(task_name: str) -> Callable[[object], list[Waypoint]]:
    """The scripted expert of a task: its module's ``SPEC.expert`` (:mod:`envs.robosuite.tasks`).

    Raises:
        KeyError: unknown task, with the known names in the message.
    """
    from envs.robosuite.tasks import get_task  # the task modules import this one: a lazy import breaks the cycle

    return get_task(task_name).expert


# ---------------------------------------------------------------------- runner
def run_expert(
    env,
    waypoints: list[Waypoint] | None = None,
    on_step: Callable[[object, np.ndarray, str], None] | None = None,
    settle_vel: float = 0.1,
    stall_steps: int = 5,
    stall_dist: float = 0.002,
    final_steps: int = 1,
    max_steps: int = 800,
) -> ExpertResult:
    """Run an expert from the env's current state.

    Args:
        env: a reset :class:`~envs.robosuite.make.TaskEnv`.
        waypoints: the expert; default ``get_expert(env.task_name)(env)``.
        on_step: ``fn(env, action, phase_name)`` called before every ``env.step(action)``
            (the recorder's hook: the env still shows the state the action is taken from).
        settle_vel: a waypoint counts as reached only when every joint speed is below this (rad/s).
        stall_steps, stall_dist: a phase also ends when the arm has been at rest for ``stall_steps``
            steps and the eef moved less than ``stall_dist`` metres over them (blocked by contact, e.g.
            the door lever at its stop, or a steady-state error the integral term cannot remove).
        final_steps: steps holding the last target after the last phase.
        max_steps: hard cap on control steps.

    Returns:
        :class:`ExpertResult` with robosuite's success at the end.
    """
    waypoints = get_expert(env.task_name)(env) if waypoints is None else waypoints
    ctx: dict = {}
    target = env.eef_pos
    reached: list[bool] = []
    steps = 0

    def act(target, closed, max_step, name):
        nonlocal steps
        action = env.action_toward(target, closed, max_step)
        if on_step is not None:
            on_step(env, action, name)
        env.step(action)
        steps += 1

    for wp in waypoints:
        if steps >= max_steps:
            break
        if wp.target is not None:
            target = np.asarray(wp.target(env, ctx), dtype=np.float64)
        ok, still, n = False, 0, 0
        history: list[np.ndarray] = []
        while steps < max_steps:
            dist = float(np.linalg.norm(env.eef_pos - target))
            at_rest = float(np.max(np.abs(env.joint_vel))) < settle_vel
            still = still + 1 if at_rest else 0
            history.append(env.eef_pos)
            if at_rest and dist < wp.tol:
                ok = True
                break
            stalled = still >= stall_steps and np.linalg.norm(history[-1] - history[-stall_steps]) < stall_dist
            if (n >= 5 and stalled) or n >= wp.timeout:
                break
            act(target, wp.gripper_closed, wp.max_step, wp.name)
            n += 1
        reached.append(ok)
        for _ in range(wp.hold):
            if steps >= max_steps:
                break
            act(target, wp.gripper_closed, wp.max_step, wp.name)
    closed = waypoints[-1].gripper_closed if waypoints else False
    for _ in range(final_steps):
        if steps >= max_steps:
            break
        act(target, closed, 0.03, "final")
    return ExpertResult(env.success(), steps, reached, [w.name for w in waypoints])
