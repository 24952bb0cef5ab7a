"""robot-keypoint sweep folder: ``results.jsonl`` written as episodes finish, ``options.json``, and ``--resume`` of
a killed sweep (a torn last line, finished episodes kept, other options refused); a real ``kill -9``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embodied_r1.errors import UserError
from tasks.robot_keypoint.control_output import read_results


def _cli(*args):
    from click.testing import CliRunner

    from embodied_r1.cli import main

    return CliRunner().invoke(main, ["eval-control", "--task", "robot-keypoint", *args])


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


def test_resume_continues_a_killed_sweep_without_redoing_finished_episodes(tmp_path):
    out = tmp_path / "sweep"
    args = ["--policy", "zero", "--tasks", "Lift", "--episodes", "3", "--workers", "1", "--output", str(out),
            "--seed", "820000", "video_episodes=0", "max_keypoint_calls=2", "camera_size=32", "offline_eval=false",
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

    from embodied_r1.control import run_control

    out = tmp_path / "killed"
    opts = {"tasks": "Lift", "episodes": 10, "workers": 1, "video_episodes": 0, "offline_eval": False,
            "progress": False, "camera_size": 32, "max_keypoint_calls": 2}
    where = {"policy": "oracle", "seed": 830_000, "output": str(out)}
    root = str(Path(__file__).parents[3])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    code = f"from embodied_r1.control import run_control; run_control('robot-keypoint', {opts!r}, **{where!r})"
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
    summary = run_control("robot-keypoint", opts, **where, resume=True, log=lambda m: None)
    after = results.read_text().splitlines()
    assert after[:len(kept)] == kept and len(after) == 10 and summary["resumed_episodes"] == len(kept)
    assert sorted(json.loads(x)["seed"] for x in after) == list(range(830_000, 830_010))


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie, dead but not reaped by its new parent, counts as gone)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
