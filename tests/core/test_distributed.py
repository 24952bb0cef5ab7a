"""Two processes through ``accelerate launch`` (gloo, CPU) on the tiny preset: a real multi-process run.

A SIGTERM that reaches one rank only must stop both at the same step, with a checkpoint; ``--resume`` finishes
the run, and the run directory is whole.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

ARGS = ["--task", "touch", "stages=[sft]", "sft.max_steps=40", "sft.save_steps=100", "sft.logging_steps=1",
        "touch.train_contacts=16", "touch.test_contacts=4"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args, env, command="train"):
    # --multi_gpu is accelerate's torchrun launcher; on a machine without GPUs the ranks run on the CPU with gloo
    # (--cpu would start one process and expect mpirun for more).
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
            "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
            "-m", "embodied_r1.cli", command, *args]


def _workers(marker: str) -> dict[int, int]:
    """rank -> pid of the worker processes whose command line holds ``marker`` (read from /proc)."""
    found = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = open(f"/proc/{d}/cmdline", "rb").read().decode(errors="replace")
            envs = open(f"/proc/{d}/environ", "rb").read().decode(errors="replace").split("\0")
        except OSError:
            continue
        rank = [e.split("=", 1)[1] for e in envs if e.startswith("RANK=")]
        if marker in cmd and "embodied_r1.cli" in cmd and rank:
            found[int(rank[0])] = int(d)
    return found


@pytest.mark.slow
def test_two_ranks_stop_together_and_resume(tmp_path):
    env = dict(os.environ, EMBODIED_R1_DATA=str(tmp_path / "cache"), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    out = tmp_path / "run"
    log = (tmp_path / "launch.log").open("w")
    proc = subprocess.Popen(_launch([*ARGS, "--output", str(out)], env), stdout=log, stderr=subprocess.STDOUT,
                            env=env, text=True)
    deadline = time.time() + 300
    metrics = out / "metrics.jsonl"
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    assert proc.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
    workers = _workers(str(out))
    assert sorted(workers) == [0, 1], workers
    os.kill(workers[1], signal.SIGTERM)  # the preemption notice reaches one rank only
    proc.wait(timeout=300)
    text = (tmp_path / "launch.log").read_text()
    stops = sorted(set(int(x.split("step ")[-1]) for x in text.splitlines() if "stopped at step" in x))
    assert len(stops) == 1 and stops[0] < 40, text[-3000:]
    assert (out / "sft" / f"checkpoint-{stops[0]}" / "embodied_r1_complete.json").exists()
    res = subprocess.run(_launch(["--output", str(out), "--resume"], env), capture_output=True, text=True, env=env)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert "rank 0 stopped at step 40" in res.stdout and "rank 1 stopped at step 40" in res.stdout
    assert res.stdout.count("training loss") == 1, "one summary, from the main process"
    rows = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == list(range(1, 41))
    assert (out / "final" / "config.json").exists() and json.loads((out / "run.json").read_text())["done"] == ["sft"]


EVAL_ARGS = ["--task", "touch", "--model", "tiny", "touch.train_contacts=4", "touch.test_contacts=7",
             "eval.max_samples=12", "eval.batch_size=4", "eval.max_new_tokens=12"]


@pytest.mark.slow
def test_two_process_eval_equals_one_process(tmp_path):
    """Each rank answers whole groups (contacts) of the rows; the main process gathers them in row order and
    writes the same eval.json and predictions as a one-process eval of the same rows."""
    env = dict(os.environ, EMBODIED_R1_DATA=str(tmp_path / "cache"), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    one = subprocess.run([sys.executable, "-m", "embodied_r1.cli", "eval", *EVAL_ARGS, "--output", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env)
    assert one.returncode == 0, (one.stdout + one.stderr)[-3000:]
    two = subprocess.run(_launch([*EVAL_ARGS, "--output", str(tmp_path / "two")], env, command="eval"),
                         capture_output=True, text=True, env=env)
    assert two.returncode == 0, (two.stdout + two.stderr)[-3000:]
    assert two.stdout.count("results:") == 1, "one report, from the main process"
    shares = [int(line.split("answers ")[1].split(" of")[0]) for line in two.stdout.splitlines()
              if line.startswith("eval: process")]
    assert len(shares) == 2 and sum(shares) == 12 and min(shares) > 0, two.stdout[-2000:]
    a, b = (json.loads((tmp_path / d / "eval.json").read_text()) for d in ("one", "two"))
    assert a["n"] == b["n"] == 12 and a["metrics"] == b["metrics"] and a["baselines"] == b["baselines"]
    preds = [(tmp_path / d / "predictions.jsonl").read_text().splitlines() for d in ("one", "two")]
    assert preds[0] == preds[1]
    contacts = [json.loads(x)["contact_id"] for x in preds[0]]
    assert len(set(contacts)) > 2, "several groups to split"


GRPO_ARGS = ["--task", "touch", "stages=[grpo]", "grpo.max_steps=3", "grpo.save_steps=2", "grpo.logging_steps=1",
             "grpo.per_device_train_batch_size=4", "grpo.num_generations=2", "grpo.max_completion_length=8",
             "touch.train_contacts=8", "touch.test_contacts=2"]


@pytest.mark.slow
def test_two_process_grpo_run_completes_with_both_ranks_at_the_last_step(tmp_path):
    env = dict(os.environ, EMBODIED_R1_DATA=str(tmp_path / "cache"), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    out = tmp_path / "run"
    res = subprocess.run(_launch([*GRPO_ARGS, "--output", str(out)], env), capture_output=True, text=True, env=env)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert "rank 0 stopped at step 3" in res.stdout and "rank 1 stopped at step 3" in res.stdout, res.stdout[-3000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train" and "reward" in r] == [1, 2, 3]
    assert (out / "grpo" / "checkpoint-2" / "embodied_r1_complete.json").exists()
    assert (out / "final" / "config.json").exists() and (out / "final" / "model.safetensors").exists()
    assert json.loads((out / "run.json").read_text())["done"] == ["grpo"]


def test_shard_rows_keeps_groups_whole_and_covers_every_row():
    from embodied_r1.evaluate import shard_rows

    groups = ["a", "a", "b", "c", "c", "c", "d", "e", "e", "b"]  # "b" returns at the end: still one process
    for world in (1, 2, 3, 4, 12):
        shares = [shard_rows(groups, r, world) for r in range(world)]
        assert sorted(i for s in shares for i in s) == list(range(len(groups)))
        owner = {g: {r for r, s in enumerate(shares) for i in s if groups[i] == g} for g in set(groups)}
        assert all(len(v) == 1 for v in owner.values()), (world, owner)
    assert [len(s) for s in (shard_rows(groups, r, 2) for r in range(2))] == [4, 6]
    assert shard_rows([], 0, 2) == []
