"""robot-keypoint closed loop under simulator faults: a MuJoCo error, a NaN state, a blow-up or a dead worker
fails only its episode, with its reason, and the summary counts the faults by kind (real robosuite physics;
faults injected with the test-only ``EMBODIED_R1_INJECT_FAULTS`` spec or a faulty env factory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envs.robosuite.faults import FAULTS_ENV
from tests.fixtures.robot_keypoint import FAULT_SEED0, control_ctx

SEED0 = 810_000  # away from the seeds of the other tests (they share one demo cache per session)


def _results(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def test_sim_faults_fail_only_their_episode_and_the_summary_counts_them(tmp_path, monkeypatch):
    from tasks.robot_keypoint.control import run_control

    s = SEED0 + 100
    monkeypatch.setenv(FAULTS_ENV, f"Lift:{s}:mujoco@10,Lift:{s + 1}:nan@10,Lift:{s + 2}:blowup@10")
    out, lines = tmp_path / "faults", []
    summary = run_control(control_ctx(tmp_path, {"tasks": "Lift", "episodes": 4, "workers": 1, "video_episodes": 0,
                                                 "camera_size": 32}, seed=s, output=str(out), log=lines.append))
    by_seed = {r["seed"] - s: r for r in _results(out)}
    assert sorted(by_seed) == [0, 1, 2, 3]
    assert by_seed[0]["fault"] == "FatalError: mj_stackAlloc: out of memory (injected fault) (step 10)"
    assert by_seed[1]["fault"] == "nan state: non-finite qvel at dof 0 (robot0_joint1) at step 10"
    assert by_seed[2]["fault"].startswith("unstable simulation: MuJoCo reported NaN, inf or huge qvel")
    for i in range(3):
        r = by_seed[i]
        # the FatalError step never completed: 9 steps; the NaN and blow-up steps did: 10
        assert not r["success"] and r["reason"] == f"fault: {r['fault']}" and r["env_steps"] == (9 if i == 0 else 10)
        assert "traceback" not in r
    assert by_seed[3]["success"] and by_seed[3]["fault"] is None  # the episode after the faults is sound
    lift = summary["tasks"]["Lift"]
    assert lift["episodes"] == 4 and lift["successes"] == 1 and lift["success_rate"] == 0.25
    assert lift["faults"] == 3 and lift["fault_reasons"] == {"FatalError": 1, "nan state": 1, "unstable simulation": 1}
    assert any(line.startswith("simulator faults: 3/4 episodes (FatalError×1") for line in lines)


@pytest.mark.slow
def test_fault_in_one_episode_fails_it_and_the_sweep_goes_on(tmp_path):
    from tasks.robot_keypoint.control import run_control

    out = tmp_path / "faults"
    ctx = control_ctx(tmp_path, {"tasks": "Lift", "episodes": 4, "workers": 1, "video_episodes": 0}, seed=FAULT_SEED0,
                      output=str(out))
    summary = run_control(ctx, env_factory="tests.fixtures.robot_keypoint:faulty_env_factory")
    results = {r["seed"] - FAULT_SEED0: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert sorted(results) == [0, 1, 2, 3]
    assert not results[0]["success"] and results[0]["fault"] == "FatalError: mj_stackAlloc: insufficient memory (injected)"
    assert not results[1]["success"] and results[1]["fault"] == "worker process died: exit code 3"
    assert not results[2]["success"] and results[2]["reason"].startswith("fault: simulation unstable")
    assert results[3]["success"] and results[3]["fault"] is None, results[3]
    assert summary["tasks"]["Lift"]["episodes"] == 4 and summary["tasks"]["Lift"]["successes"] == 1
    assert summary["tasks"]["Lift"]["fault_reasons"] == {"FatalError": 1, "worker process died": 1,
                                                         "simulation unstable": 1}
