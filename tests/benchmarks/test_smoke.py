"""Each benchmark script runs end to end at tiny sizes (CleanRL-style smoke runs): it prints its numbers and
writes its JSON. The numbers themselves are measurements, never asserted against targets here."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script, args, tmp_path, timeout=600, launcher=()):
    # a fresh data cache: the build runs (in spawned workers, which re-import the script) in every smoke run
    env = dict(os.environ, BENCH_OUT=str(tmp_path / "bench"), EMBODIED_R1_DATA=str(tmp_path / "cache"),
               OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, *launcher, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                         text=True, env=env, timeout=timeout, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_grpo_throughput_smoke(tmp_path):
    out = tmp_path / "grpo.json"
    _run("grpo_throughput.py", ["--model", "tiny", "--steps", "2", "--batch", "8", "--generations", "4",
                                "--new-tokens", "4", "--set", "touch.train_contacts=8", "touch.test_contacts=2",
                                "--json", str(out)], tmp_path)
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and set(result["arms"]) == {"trl", "fast", "fast_cf"}
    for arm in result["arms"].values():
        assert arm["steps"] == 2 and arm["mean_step_s"] > 0 and arm["tokens_per_s_per_gpu"] > 0
        assert 0 <= arm["breakdown_s"]["generation"] <= arm["mean_step_s"]
    assert "tactile_grounded_reward" in result["arms"]["fast_cf"]["rewards"]
    assert "tactile_grounded_reward" not in result["arms"]["trl"]["rewards"]
    assert result["speedup_tokens_per_s"] > 0 and result["counterfactual_step_ratio"] > 0


def test_generate_mode_smoke(tmp_path):
    out = tmp_path / "gen.json"
    _run("grpo_throughput.py", ["--mode", "generate", "--model", "tiny", "--seqs", "4", "--new-tokens", "6",
                                "--repeats", "1", "--set", "touch.train_contacts=8", "touch.test_contacts=2",
                                "--json", str(out)], tmp_path)
    (res,) = json.loads(out.read_text())["generate"]
    assert res["seqs"] == 4 and res["hf"]["new_tokens_total"] == res["fast"]["new_tokens_total"] == 24
    assert res["speedup"] > 0 and res["fast"]["phases_s_per_call"]["decode_s"] > 0


@pytest.mark.slow
def test_grpo_throughput_two_processes_reports_each_rank_and_the_sum(tmp_path):
    from tests.core.test_distributed import _free_port

    out = tmp_path / "grpo2.json"
    launcher = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port())]
    stdout = _run("grpo_throughput.py", ["--arms", "fast", "--model", "tiny", "--steps", "2", "--batch", "8",
                                         "--generations", "4", "--new-tokens", "4", "--set", "touch.train_contacts=8",
                                         "touch.test_contacts=2", "--json", str(out)], tmp_path, launcher=launcher)
    result = json.loads(out.read_text())
    fast = result["arms"]["fast"]
    assert set(result["arms"]) == {"fast"} and result["num_processes"] == 2
    assert [r["rank"] for r in fast["ranks"]] == [0, 1] and all(r["tokens_per_s_per_gpu"] > 0 for r in fast["ranks"])
    assert fast["tokens_per_s_sum"] == sum(r["tokens_per_s_per_gpu"] for r in fast["ranks"])
    assert "--num_processes" in result["command"]["launcher"] and result["accelerate"]["num_processes"] == 2
    assert stdout.count('{"device"') == 1, "one JSON line, from the main process"


def test_tactile_throughput_smoke(tmp_path):
    stdout = _run("tactile_throughput.py", ["--samples", "3"], tmp_path)
    assert "samples/s" in stdout


@pytest.mark.slow
def test_robot_demos_smoke(tmp_path):
    out = tmp_path / "demos.json"
    _run("robot_demos.py", ["--tasks", "Lift", "--episodes", "1", "--oracle-seeds", "1", "--camera-size", "32",
                            "--quiet", "--json", str(out)], tmp_path)
    result = json.loads(out.read_text())
    assert "Lift" in json.dumps(result)


def test_sft_prepare_smoke(tmp_path):
    out = tmp_path / "prepare.json"
    _run("sft_prepare.py", ["--model", "tiny", "--procs", "1", "4", "--rows-per-process", "3",
                            "--set", "touch.train_contacts=6", "touch.test_contacts=2", "--json", str(out)], tmp_path)
    result = json.loads(out.read_text())
    assert result["rows"] == 12 and set(result["runs"]) == {"1", "4"}
    assert result["runs"]["1"]["processes"] == 1 and result["runs"]["4"]["processes"] == 4
    assert all(r["same_rows_as_first"] and r["seconds"] > 0 for r in result["runs"].values())


def test_sft_input_smoke(tmp_path):
    out = tmp_path / "sft.json"
    _run("sft_input.py", ["--model", "tiny", "--batch", "4", "--steps", "4", "--warmup", "1",
                          "--set", "touch.train_contacts=8", "touch.test_contacts=2", "--json", str(out)], tmp_path)
    result = json.loads(out.read_text())
    assert set(result["arms"]) == {"trl", "trl_w8", "prepared"} and result["prepare_once_s"] > 0
    for arm in result["arms"].values():
        assert arm["timed_steps"] == 3 and arm["steps_per_s"] > 0 and 0 <= arm["data_wait_share"] < 1
