"""robot-keypoint under simulator faults and kills: a faulted demo or episode fails alone with its reason, the
reports count faults, and ``eval-control --resume`` continues a killed sweep without redoing finished episodes.

Real robosuite physics in spawned worker processes; faults are injected with the test-only
``EMBODIED_R1_INJECT_FAULTS`` spec (inherited by the workers), at a chosen control step of a chosen seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embodied_r1.errors import UserError
from envs.robosuite.faults import FAULTS_ENV
from tasks.robot_keypoint.control_output import read_results

SEED0 = 810_000  # away from the seeds of the other tests (they share one demo cache per session)


def _results(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def _cli(*args):
    from click.testing import CliRunner

    from embodied_r1.cli import main

    return CliRunner().invoke(main, ["eval-control", "--task", "robot-keypoint", *args])


# ---------------------------------------------------------------------------------- results.jsonl (no simulator)
def test_read_results_skips_a_torn_last_line_and_rewrites_the_file(tmp_path):
    path = tmp_path / "results.jsonl"
    good = [{"task_name": "Lift", "seed": s, "success": True, "reason": "success"} for s in (1, 2)]
    never = {"task_name": "Lift", "seed": 3, "success": False, "reason": "never ran: all workers exited"}
    path.write_text("".join(json.dumps(r) + "\n" for r in [*good, never, good[0]]) + '{"task_name": "Lift", "se')
    notes = []
    assert read_results(path, log=notes.append) == good  # duplicate, never-ran and torn lines dropped
    assert path.read_text() == "".join(json.dumps(r) + "\n" for r in good)
    assert "torn last line (25 bytes)" in notes[0] and "seed 3 (never ran)" in notes[0]
    path.write_text(json.dumps(good[0]) + "\n{oops\n" + json.dumps(good[1]) + "\n")
    with pytest.raises(UserError, match="line 2 is not JSON"):  # damage in the middle is not a kill: refuse
        read_results(path)
    assert "{oops" in path.read_text()  # and the file is left as it was


def test_resume_needs_an_output_folder_and_a_known_sweep(tmp_path):
    res = _cli("--policy", "zero", "--resume")
    assert res.exit_code == 2 and "--resume needs --output DIR" in res.output and "Traceback" not in res.output
    out = tmp_path / "old"
    out.mkdir()
    (out / "results.jsonl").write_text('{"task_name": "Lift", "seed": 1}\n')  # an older sweep: no options.json
    res = _cli("--policy", "zero", "--output", str(out), "--resume")
    assert res.exit_code == 2 and "no options.json" in res.output


# ------------------------------------------------------------------------------------------ recording (dataset build)
def test_dataset_build_drops_a_faulted_demo_and_its_card_counts_it(monkeypatch):
    from embodied_r1.data import load_or_build
    from tasks.robot_keypoint import RobotKeypointConfig, RobotKeypointTask

    cfg = RobotKeypointConfig(tasks="Lift", episodes=3, heldout_task=None, camera_size=32, seed_offset=SEED0,
                              question_mix={"keypoint": 1.0})
    monkeypatch.setenv(FAULTS_ENV, f"Lift:{SEED0 + 1}:mujoco@20")  # the second demo's simulator fails
    ds, path = load_or_build(RobotKeypointTask(), cfg, seed=0)
    assert sorted(set(ds["train"]["seed"]) | set(ds["test"]["seed"])) == [SEED0, SEED0 + 2]
    demos = json.loads((path / "card.json").read_text())["demos"]["Lift"]
    assert demos["recorded"] == 2 and demos["successes"] == 2
    assert demos["faults"] == {str(SEED0 + 1): "FatalError: mj_stackAlloc: out of memory (injected fault) (step 20)"}
    assert demos["dropped_by_reason"] == {"FatalError": 1}


def test_a_task_whose_every_demo_faults_is_one_clear_error(monkeypatch, tmp_path):
    from tasks.robot_keypoint.data import demo_cache_path, record_all

    monkeypatch.setenv("EMBODIED_R1_DATA", str(tmp_path))
    monkeypatch.setenv(FAULTS_ENV, f"Lift:{SEED0 + 50}:nan@3")
    with pytest.raises(UserError, match=r"all 1 Lift demos hit simulator faults \(nan state×1; first: nan state: "):
        record_all([("Lift", [SEED0 + 50])], 32, progress=False)  # raised in the recording process, one line here
    assert not demo_cache_path("Lift", [SEED0 + 50], 32).exists()  # nothing cached: the next build tries again


# ------------------------------------------------------------------------------------------ eval-control
def test_sim_faults_fail_only_their_episode_and_the_summary_counts_them(tmp_path, monkeypatch):
    from tasks.robot_keypoint.control import run_control

    s = SEED0 + 100
    monkeypatch.setenv(FAULTS_ENV, f"Lift:{s}:mujoco@10,Lift:{s + 1}:nan@10,Lift:{s + 2}:blowup@10")
    out, lines = tmp_path / "faults", []
    summary = run_control({"policy": "oracle", "tasks": "Lift", "episodes": 4, "workers": 1, "seed0": s,
                           "video_episodes": 0, "output": str(out), "offline_eval": False, "progress": False,
                           "camera_size": 32}, policy_factory=None, log=lines.append)
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


def test_resume_continues_a_killed_sweep_without_redoing_finished_episodes(tmp_path):
    out = tmp_path / "sweep"
    args = ["--policy", "zero", "--tasks", "Lift", "--episodes", "3", "--workers", "1", "--output", str(out),
            "seed0=820000", "video_episodes=0", "max_keypoint_calls=2", "camera_size=32", "offline_eval=false",
            "progress=false"]
    assert _cli(*args).exit_code == 0
    first = (out / "results.jsonl").read_text().splitlines()
    assert len(first) == 3 and json.loads((out / "options.json").read_text())["episodes"] == 3
    # ---- a kill: one episode written, the second cut off mid-line, no summary yet
    (out / "results.jsonl").write_text(first[0] + "\n" + first[1][:40])
    (out / "summary.json").unlink()
    res = _cli(*args)  # without --resume the folder is refused, and nothing in it changes
    assert res.exit_code == 2 and "pass --resume to continue it" in res.output
    assert (out / "results.jsonl").read_text() == first[0] + "\n" + first[1][:40]
    res = _cli(*args, "--resume")
    assert res.exit_code == 0, res.output
    assert "torn last line (40 bytes)" in res.output and "2 to run (1 done before)" in res.output
    after = (out / "results.jsonl").read_text().splitlines()
    assert after[0] == first[0]  # the finished episode was kept as it was, not run again
    assert sorted(json.loads(x)["seed"] for x in after) == [820000, 820001, 820002]  # every episode exactly once
    assert min(json.loads(x)["started_at"] for x in after[1:]) > max(json.loads(x)["started_at"] for x in first)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tasks"]["Lift"]["episodes"] == 3 and summary["resumed_episodes"] == 1
    # ---- all done: --resume only rewrites the summary
    (out / "summary.json").unlink()
    res = _cli(*args, "--resume")
    assert res.exit_code == 0 and "0 to run (3 done before)" in res.output
    assert (out / "results.jsonl").read_text().splitlines() == after and (out / "summary.json").exists()
    # ---- other options: one line listing each difference, nothing touched
    res = _cli(*[{"zero": "oracle", "3": "4"}.get(a, a) for a in args], "--resume")
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "episodes 3 -> 4" in res.output and "policy 'zero' -> 'oracle'" in res.output
    assert (out / "results.jsonl").read_text().splitlines() == after


@pytest.mark.slow
def test_a_sigkilled_sweep_leaves_no_worker_playing_and_resumes(tmp_path):
    """A real kill -9 of the sweep: its orphaned worker stops after the episode in hand (instead of playing the
    queued episodes for nobody, beside the resumed sweep), and --resume completes the sweep."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tasks.robot_keypoint.control import run_control

    out = tmp_path / "killed"
    opts = {"policy": "oracle", "tasks": "Lift", "episodes": 10, "workers": 1, "seed0": 830_000, "video_episodes": 0,
            "output": str(out), "offline_eval": False, "progress": False, "camera_size": 32, "max_keypoint_calls": 2}
    root = str(Path(__file__).parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    code = f"from tasks.robot_keypoint.control import run_control; run_control({opts!r}, None, log=print)"
    sweep = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    results, t0 = out / "results.jsonl", time.time()
    while not (results.exists() and results.read_text().count("\n") >= 1) and time.time() - t0 < 180:
        time.sleep(0.1)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    worker = json.loads(results.read_text().splitlines()[0])["pid"]
    t0 = time.time()
    while _running(worker) and time.time() - t0 < 15:  # one episode in hand takes ~3 s; the queue holds 8 more
        time.sleep(0.2)
    assert not _running(worker), "the orphaned worker went on playing the killed sweep's episodes"
    kept = results.read_text().splitlines()
    assert 1 <= len(kept) < 10
    summary = run_control({**opts, "resume": True}, None, log=lambda m: None)
    after = results.read_text().splitlines()
    assert after[:len(kept)] == kept and len(after) == 10 and summary["resumed_episodes"] == len(kept)
    assert sorted(json.loads(x)["seed"] for x in after) == list(range(830_000, 830_010))


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie, dead but not reaped by its new parent, counts as gone)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
