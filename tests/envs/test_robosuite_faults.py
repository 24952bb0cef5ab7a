"""envs.robosuite.faults: every control step checks the simulator state; injected faults end one demo, not a recording.

Real robosuite physics (state-only envs, no rendering); the faults are injected through the test-only
``EMBODIED_R1_INJECT_FAULTS`` spec, at a chosen control step of a chosen seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from envs.robosuite.faults import FAULTS_ENV, SimulatorFault, fault_kind, parse_fault_plan

pytest.importorskip("robosuite")

SEEDS = {"mujoco": 1, "nan": 2, "blowup": 3, "unstable": 4}
SPEC = ",".join(f"Lift:{seed}:{kind}@3" for kind, seed in SEEDS.items())


@pytest.fixture(scope="module")
def faulty_env():
    from envs.robosuite.make import make_env

    env = make_env("Lift", seed=0, render=False, faults=SPEC)
    yield env
    env.close()


def _hold(env) -> None:
    env.step(env.action_toward(env.eef_pos + [0.0, 0.0, 0.02], False))


def test_fault_plan_parsing_and_errors():
    assert parse_fault_plan("") == {} and parse_fault_plan(None) == {}
    assert parse_fault_plan("Lift:7:nan@5, Door:0:mujoco@1") == {("Lift", 7): ("nan", 5), ("Door", 0): ("mujoco", 1)}
    for bad, msg in (("Lift:7:nan", "TASK:SEED:KIND@STEP"), ("Lift:x:nan@5", "TASK:SEED:KIND@STEP"),
                     ("Lift:7:melt@5", "KIND is one of"), ("Lift:7:nan@0", "STEP >= 1")):
        with pytest.raises(ValueError, match=msg):
            parse_fault_plan(bad)


@pytest.mark.parametrize("kind,expected", [
    ("mujoco", r"^FatalError: mj_stackAlloc: out of memory \(injected fault\) \(step 3\)$"),
    ("nan", r"^nan state: non-finite qvel at dof 0 \(robot0_joint1\) at step 3$"),
    ("blowup", r"^unstable simulation: MuJoCo reported NaN, inf or huge qvel \(mjWARN_BADQVEL\) and reset the state "
               r"at step 3$"),
    ("unstable", r"^unstable simulation: dof 0 \(robot0_joint1\) speed [0-9.]+ > 10 at step 3$"),
], ids=list(SEEDS))
def test_an_injected_fault_is_a_named_simulator_fault_at_its_step(faulty_env, kind, expected):
    env = faulty_env
    env.reset(SEEDS[kind])
    _hold(env)
    _hold(env)  # steps 1 and 2 are sound
    with pytest.raises(SimulatorFault, match=expected) as info:
        _hold(env)
    assert env.steps == 3 or kind == "mujoco"
    if kind == "blowup":
        # MuJoCo replaced the diverged state with a finite one: only its warning counter tells
        assert np.all(np.isfinite(env.sim.data.qvel)) and np.all(np.isfinite(env.sim.data.qpos))
    assert fault_kind(info.value.reason) in ("FatalError", "nan state", "unstable simulation")
    env.reset(0)  # an untouched seed runs on in the same env after a reset
    for _ in range(5):
        _hold(env)
    assert env.steps == 5


def test_speed_bounds_follow_the_joint_types(faulty_env):
    from envs.robosuite.faults import SpeedLimits

    _, bounds, names, arm = faulty_env._watch
    assert len(bounds) == faulty_env.sim.model.nv and np.all(bounds[arm] == SpeedLimits().arm_joint)
    cube = [i for i, n in enumerate(names) if n == "cube_joint0"]
    assert len(cube) == 6 and list(bounds[cube]) == [50.0] * 3 + [300.0] * 3  # free joint: m/s then rad/s
    assert [bounds[i] for i, n in enumerate(names) if "finger" in n] == [50.0, 50.0]  # slide joints: m/s


def test_record_demos_drops_a_faulted_demo_with_its_reason_and_goes_on(monkeypatch, capsys):
    from envs.robosuite import recorder

    monkeypatch.setenv(FAULTS_ENV, "Lift:11:nan@10,Lift:12:mujoco@4")
    demos, stats = recorder.record_demos("Lift", 4, seed0=10, progress=True, images=False)
    assert [d.seed for d in demos] == [10, 13] and all(d.success for d in demos)
    assert stats["faults"] == {11: "nan state: non-finite qvel at dof 0 (robot0_joint1) at step 10",
                               12: "FatalError: mj_stackAlloc: out of memory (injected fault) (step 4)"}
    assert stats["dropped_by_reason"] == {"nan state": 1, "FatalError": 1} and stats["dropped"] == 2
    assert stats["successes"] == 2 and stats["success_rate"] == pytest.approx(0.5)
    out = capsys.readouterr().out
    assert "seed 11: FAULT nan state" in out and "Traceback" not in out
