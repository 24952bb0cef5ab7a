"""Simulator faults: detect them after every control step, name them, and inject them in tests.

A fault ends one episode (one demo, one closed-loop episode), never the recording or the sweep around it.
:meth:`envs.robosuite.make.TaskEnv.step` raises :class:`SimulatorFault` whose ``reason`` is one line that
starts with its kind (the text before the first ``:``, see :func:`fault_kind`):

* ``<ExceptionType>: <message> (step k)``: MuJoCo or robosuite raised inside the step (``mujoco.FatalError``, ...).
* ``nan state: non-finite qvel at dof 3 (robot0_joint4) at step k``: NaN or inf in ``qpos`` / ``qvel`` / ``qacc``.
* ``unstable simulation: ...``: either MuJoCo's own divergence check fired (it *resets the state to the
  model's home pose and carries on*, so without this check the episode silently teleports; it also does this
  for a NaN that appears inside ``mj_step``), or a speed is beyond :class:`SpeedLimits`.

Speed limits are physical, not statistical (measured maxima of the scripted experts, seeds 0-2, in brackets):

* arm joints 10 rad/s: the Panda's rated joint speeds are 2.175-2.61 rad/s [experts: 0.8 rad/s];
* linear 50 m/s (free-body translation, slide joints): the fastest thing in these scenes is an unused
  PickPlace object that robosuite parks 10 m above the floor, which lands at 14 m/s [12 m/s];
* angular 300 rad/s (free-body spin, hinges such as the door's): the parked objects start overlapping and
  tumble at ~40 rad/s when they land [41 rad/s]; a cube in the gripper turns < 1 rad/s.

A diverging MuJoCo state passes these bounds by orders of magnitude within a step or two (an arm joint
kicked to 50 rad/s still turns at 43 rad/s one control step later).

Fault injection (tests only): ``EMBODIED_R1_INJECT_FAULTS="Lift:100001:nan@5,Stack:3:mujoco@2"`` makes the
env of that task and seed fault at its k-th control step after reset (k >= 1). Kinds: ``mujoco`` (the step
raises ``mujoco.FatalError``), ``nan`` (qvel becomes NaN after the step), ``blowup`` (an arm joint is set to
1e11 rad/s before the step: MuJoCo's own check resets the state), ``unstable`` (an arm joint is kicked to
50 rad/s before the step; the physics carries it on). An environment variable rather than an argument
because the envs live in spawned worker processes (recording, ``eval-control``), which inherit it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

FAULTS_ENV = "EMBODIED_R1_INJECT_FAULTS"
INJECTABLE = ("mujoco", "nan", "blowup", "unstable")

#: MuJoCo warnings that mean the state is no longer the physics' own: bad qpos/qvel/qacc make MuJoCo reset
#: the data, bad ctrl makes it zero the controls, and full contact/constraint buffers drop contacts.
_STATE_WARNINGS = ("mjWARN_BADQPOS", "mjWARN_BADQVEL", "mjWARN_BADQACC", "mjWARN_BADCTRL",
                   "mjWARN_CONTACTFULL", "mjWARN_CNSTRFULL")
_WARNING_TEXT = {"mjWARN_BADQPOS": "NaN, inf or huge qpos", "mjWARN_BADQVEL": "NaN, inf or huge qvel",
                 "mjWARN_BADQACC": "NaN, inf or huge qacc", "mjWARN_BADCTRL": "NaN, inf or huge ctrl",
                 "mjWARN_CONTACTFULL": "contact buffer full", "mjWARN_CNSTRFULL": "constraint buffer full"}


class SimulatorFault(RuntimeError):
    """A simulator fault of one episode; ``reason`` is the one-line description (see the module docstring)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def fault_kind(reason: str) -> str:
    """The kind of a fault reason, for counting: the text before the first ``:``.

    >>> fault_kind("nan state: non-finite qvel at dof 0 (robot0_joint1) at step 5")
    'nan state'
    """
    return reason.split(":", 1)[0].strip() or "?"


def is_simulator_fault(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the simulator (a :class:`SimulatorFault` or a MuJoCo error), not from our code."""
    return isinstance(exc, SimulatorFault) or type(exc).__module__.split(".")[0] == "mujoco"


def fault_reason(exc: BaseException) -> str:
    """One line for an exception: the fault's own reason, else ``Type: first line of the message``."""
    if isinstance(exc, SimulatorFault):
        return exc.reason
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {msg}"[:300]


@dataclass(frozen=True)
class SpeedLimits:
    """Bounds beyond which a simulation counts as unstable (see the module docstring for why these values).

    Attributes:
        arm_joint: rad/s, the arm's joints.
        linear: m/s, free-body translation and slide joints.
        angular: rad/s, free-body rotation, hinge and ball joints other than the arm's.
    """

    arm_joint: float = 10.0
    linear: float = 50.0
    angular: float = 300.0


def dof_speed_bounds(model, arm_dofs, limits: SpeedLimits = SpeedLimits()) -> tuple[np.ndarray, list[str]]:
    """Per-dof speed bound and the joint name of each dof.

    Args:
        model: the ``mujoco.MjModel``.
        arm_dofs: dof indices of the arm's joints.
        limits: the bounds.

    Returns:
        ``(bounds (nv,), names (nv,))``.
    """
    import mujoco

    bounds, names = np.full(model.nv, limits.angular), [""] * model.nv
    for j in range(model.njnt):
        adr, kind, name = model.jnt_dofadr[j], model.jnt_type[j], mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
        width = {mujoco.mjtJoint.mjJNT_FREE: 6, mujoco.mjtJoint.mjJNT_BALL: 3}.get(kind, 1)
        names[adr:adr + width] = [name or f"joint {j}"] * width
        if kind == mujoco.mjtJoint.mjJNT_FREE:
            bounds[adr:adr + 3] = limits.linear
        elif kind == mujoco.mjtJoint.mjJNT_SLIDE:
            bounds[adr] = limits.linear
    bounds[np.asarray(arm_dofs, dtype=int)] = limits.arm_joint
    return bounds, names


def warning_counts(data) -> np.ndarray:
    """Counts of the state-corrupting MuJoCo warnings (:data:`_STATE_WARNINGS`) of an ``MjData``."""
    import mujoco

    return np.array([data.warning[int(getattr(mujoco.mjtWarning, w))].number for w in _STATE_WARNINGS])


def check_state(data, baseline: np.ndarray, bounds: np.ndarray, names: list[str], step: int) -> str | None:
    """The fault reason of the state after control step ``step``, or None when it is sound.

    Args:
        data: the ``mujoco.MjData``.
        baseline: :func:`warning_counts` at reset (MuJoCo keeps counting across its own resets).
        bounds, names: from :func:`dof_speed_bounds`.
        step: control step number since reset, for the reason.

    Returns:
        ``"unstable simulation: ..."``, ``"nan state: ..."`` or None.
    """
    grown = np.flatnonzero(warning_counts(data) > baseline)
    if len(grown):  # checked first: MuJoCo has already replaced the bad state with the home pose
        w = _STATE_WARNINGS[grown[0]]
        return f"unstable simulation: MuJoCo reported {_WARNING_TEXT[w]} ({w}) and reset the state at step {step}"
    for field in ("qpos", "qvel", "qacc"):
        bad = np.flatnonzero(~np.isfinite(getattr(data, field)))
        if len(bad):
            dof = int(bad[0])
            where = f"dof {dof} ({names[dof]})" if field != "qpos" else f"qpos index {dof}"
            return f"nan state: non-finite {field} at {where} at step {step}"
    over = np.flatnonzero(np.abs(data.qvel) > bounds)
    if len(over):
        dof = int(over[0])
        return (f"unstable simulation: dof {dof} ({names[dof]}) speed {abs(data.qvel[dof]):.3g} > {bounds[dof]:g} "
                f"at step {step}")
    return None


# ---------------------------------------------------------------------- injection (tests only)
def parse_fault_plan(spec: str | None) -> dict[tuple[str, int], tuple[str, int]]:
    """``"Lift:7:nan@5,..."`` -> ``{("Lift", 7): ("nan", 5)}`` (see the module docstring).

    >>> parse_fault_plan("Lift:7:nan@5, Door:0:mujoco@1")
    {('Lift', 7): ('nan', 5), ('Door', 0): ('mujoco', 1)}
    """
    plan = {}
    for item in filter(None, (s.strip() for s in (spec or "").split(","))):
        try:
            task, seed, rest = item.split(":")
            kind, step = rest.split("@")
            plan[(task, int(seed))] = (kind, int(step))
        except ValueError:
            hint = "expected TASK:SEED:KIND@STEP, e.g. Lift:7:nan@5"
            raise ValueError(f"{FAULTS_ENV}: bad item {item!r}; {hint}") from None
        if kind not in INJECTABLE or int(step) < 1:
            raise ValueError(f"{FAULTS_ENV}: bad item {item!r}; KIND is one of {', '.join(INJECTABLE)}, STEP >= 1")
    return plan


def fault_plan_from_env() -> dict[tuple[str, int], tuple[str, int]]:
    """The injection plan of ``$EMBODIED_R1_INJECT_FAULTS`` (empty when unset)."""
    return parse_fault_plan(os.environ.get(FAULTS_ENV))


def inject_before_step(kind: str, data, arm_dofs) -> None:
    """Apply an injected fault that acts before ``mj_step`` (``mujoco``, ``blowup``, ``unstable``)."""
    import mujoco

    if kind == "mujoco":
        raise mujoco.FatalError("mj_stackAlloc: out of memory (injected fault)")
    if kind == "blowup":
        data.qvel[arm_dofs[0]] = 1e11
    elif kind == "unstable":
        data.qvel[arm_dofs[0]] = 50.0


def inject_after_step(kind: str, data, arm_dofs) -> None:
    """Apply an injected fault that acts after ``mj_step`` (``nan``)."""
    if kind == "nan":
        data.qvel[arm_dofs[0]] = np.nan
