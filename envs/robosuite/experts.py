"""Scripted experts: waypoint state machines over the simulator's object poses.

An expert is a list of :class:`Waypoint` s. Each waypoint's target is computed from the sim state
*when the waypoint starts* (so a place target sees where the held cube really is). The runner drives
the end effector toward the target with bounded steps (:meth:`TaskEnv.action_toward`, fixed
top-down orientation) and counts the waypoint reached once the eef is within ``tol`` *and* the arm
has come to rest (all joint velocities below ``settle_vel``). That brief pause at every waypoint is
what the ARM/PerAct keyframe heuristic (:mod:`envs.robosuite.keyframes`) detects as a stop.
Gripper waypoints keep the previous target and hold the new gripper command for ``hold`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from envs.robosuite.objects import door_joint_state, object_poses

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


def _grip(name: str, closed: bool) -> Waypoint:
    return Waypoint(name, None, closed, tol=np.inf, hold=GRIPPER_STEPS)


# ---------------------------------------------------------------------- task experts
def lift_expert(env) -> list[Waypoint]:
    """Above the cube -> down -> close -> lift 15 cm."""

    def cube(env):
        return object_poses(env)["cube"][:3]

    return [
        Waypoint("above", lambda e, c: cube(e) + [0, 0, 0.08], False),
        Waypoint("grasp", lambda e, c: cube(e) + [0, 0, -0.003], False, tol=0.008, max_step=0.02),
        _grip("close", True),
        Waypoint("lift", lambda e, c: e.eef_pos + [0, 0, 0.15], True, max_step=0.02),
    ]


def stack_expert(env) -> list[Waypoint]:
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
        _grip("close", True),
        Waypoint("lift", lambda e, c: np.append(e.eef_pos[:2], 1.0), True, max_step=0.02),
        Waypoint("above_b", above_b, True, tol=0.006, max_step=0.02),
        Waypoint("place", place, True, tol=0.006, max_step=0.01),
        _grip("release", False),
        Waypoint("retreat", lambda e, c: e.eef_pos + [0, 0, 0.08], False),
    ]


def pick_place_can_expert(env) -> list[Waypoint]:
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
        _grip("close", True),
        Waypoint("lift", lambda e, c: np.append(e.eef_pos[:2], carry_z), True, max_step=0.02),
        Waypoint("carry", lambda e, c: np.append(drop_xy(e), carry_z), True, tol=0.015),
        Waypoint("lower", lambda e, c: np.append(drop_xy(e), 0.9), True, max_step=0.02),
        _grip("release", False),
        Waypoint("retreat", lambda e, c: np.append(e.eef_pos[:2], carry_z), False),
    ]


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


def door_expert(env) -> list[Waypoint]:
    """Close the fingers, put them beside the handle's hub, and push the hub along the door's arc.

    Geometry (why not grasp the lever): the Panda hand is ~20 cm wide along its finger axis, so with
    the fixed top-down orientation it cannot straddle the lever without hitting the door panel. The
    task turns the hand parallel to the door (``gripper_yaw``) and uses the closed fingertips as a
    pusher on the *latch* side of the hub (the cylinder holding the lever, which stands 12.5 cm off the
    panel): pushing the hub toward the hinge side turns the door open about its hinge. The motion is
    set by positions alone (the hub stays on the far side of the fingertips), so the keyframes carry
    it: the oracle executor reproduces it without any force information.
    """
    raw = env.raw
    latch_body = raw.sim.model.body_name2id(raw.door.naming_prefix + "latch")

    def hinge():
        return np.array(raw.sim.data.xanchor[raw.sim.model.joint_name2id(raw.door.hinge_joint)])

    def contact(env, ctx):
        axis = np.array(raw.sim.data.xpos[latch_body])  # hub axis, in the door's mid-plane
        rot = np.array(raw.sim.data.xmat[latch_body]).reshape(3, 3)
        lever_dir = rot[:, 0]  # from the hub toward the lever's tip (the hinge side)
        normal = -rot[:, 1]  # from the door toward the robot, along the hub
        # 9 cm out along the hub (panel face at 2 cm, hub end at 12.5 cm); 5 cm from the hub axis
        # (hub radius 2.5 cm + closed fingers 1.9 cm + margin) on the side away from the lever.
        point = axis + 0.09 * normal - 0.05 * lever_dir
        point[2] = axis[2] + 0.005
        ctx["contact"], ctx["hinge"] = point, hinge()
        return point

    def push(theta):
        def fn(env, ctx):
            v = ctx["contact"] - ctx["hinge"]
            c, s = np.cos(theta), np.sin(theta)
            return ctx["hinge"] + [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]]

        return fn

    return [
        _grip("close", True),
        Waypoint("above", lambda e, c: contact(e, c) + [0, 0, 0.06], True),
        Waypoint("beside_hub", contact, True, tol=0.008, max_step=0.02),
        Waypoint("push", push(0.2), True, max_step=0.02, timeout=60),
        Waypoint("push_more", push(0.45), True, max_step=0.02, timeout=60),
    ]


EXPERTS: dict[str, Callable[[object], list[Waypoint]]] = {
    "Lift": lift_expert,
    "Stack": stack_expert,
    "PickPlaceCan": pick_place_can_expert,
    "Door": door_expert,
}


def get_expert(task_name: str) -> Callable[[object], list[Waypoint]]:
    try:
        return EXPERTS[task_name]
    except KeyError:
        raise KeyError(f"no scripted expert for {task_name!r}; known: {sorted(EXPERTS)}") from None


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


def door_state(env) -> tuple[float, float]:
    """(hinge, latch) angles; re-exported for diagnostics."""
    return door_joint_state(env)
