"""``experiments/report_arms.py``: per-arm means over seeds, a GRPO arm's change against its own SFT model,
plots, and one clear error for folders it cannot read."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "report_arms.py"


def _eval(folder: Path, arm: str, metrics: dict, task="touch", layout="run"):
    d = folder / arm / "eval" if layout == "run" else folder / arm
    d.mkdir(parents=True, exist_ok=True)
    (d / "eval.json").write_text(json.dumps({"task": task, "n": 10, "metrics": metrics,
                                             "baselines": {"majority_train": {"heldout_sensor_omae": 0.9}}}))


def _grpo_log(folder: Path, arm: str, rewards: list[float]):
    lines = [json.dumps({"stage": "sft", "step": 1, "loss": 1.0})]
    lines += [json.dumps({"stage": "grpo", "step": i + 1, "reward": r, "frac_reward_zero_std": 0.0, "entropy": 0.1})
              for i, r in enumerate(rewards)]
    (folder / arm / "metrics.jsonl").write_text("\n".join(lines) + "\n{\"stage\": \"grpo\", \"rew")  # a cut last line


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_means_changes_against_the_right_sft_model_and_plots(tmp_path):
    seeds = [tmp_path / "s0", tmp_path / "s1"]
    for i, s in enumerate(seeds):
        _eval(s, "sft", {"heldout_sensor_omae": 0.8, "csc": 0.5})
        _eval(s, "sft_noenc", {"heldout_sensor_omae": 1.0, "csc": 0.5})
        _eval(s, "grpo_full", {"heldout_sensor_omae": 0.6 + 0.1 * i, "csc": 0.6})  # -25 % and -12.5 %
        _eval(s, "grpo_full_noenc", {"heldout_sensor_omae": 0.9, "csc": 0.4}, layout="docs")  # -10 %
        _grpo_log(s, "grpo_full", [0.5, 1.0])
    out = tmp_path / "report"
    res = _run(*seeds, "--out", out)
    assert res.returncode == 0, res.stderr
    report = json.loads((out / "report_touch.json").read_text())
    full = report["arms"]["grpo_full"]
    assert full["mean"]["heldout_sensor_omae"] == pytest.approx(0.65)
    assert full["vs_base"]["heldout_sensor_omae"]["per_seed"] == pytest.approx([-0.25, -0.125])
    assert full["vs_base"]["csc"] == {"per_seed": pytest.approx([0.1, 0.1]), "mean": pytest.approx(0.1), "kind": "absolute"}
    noenc = report["arms"]["grpo_full_noenc"]["vs_base"]["heldout_sensor_omae"]
    assert noenc["mean"] == pytest.approx(-0.1)  # against sft_noenc, not sft
    assert report["arms"]["sft"]["vs_base"] == {}
    assert report["baselines"]["majority_train"]["heldout_sensor_omae"] == pytest.approx(0.9)
    assert "| grpo_full | 0.650 (0.600 / 0.700) · -18.8 % |" in res.stdout
    for png in ("arms_touch.png", "grpo_curves_touch.png"):
        assert (out / png).stat().st_size > 10_000


def test_unreadable_input_is_one_clear_line(tmp_path):
    res = _run(tmp_path / "nope", "--out", tmp_path / "r")
    assert res.returncode == 2 and "not a folder" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "empty" / "sft").mkdir(parents=True)
    res = _run(tmp_path / "empty", "--out", tmp_path / "r")
    assert res.returncode == 2 and "holds no arm with results" in res.stderr
    _eval(tmp_path / "a", "sft", {"omae": 0.5})
    _eval(tmp_path / "b", "sft", {"keypoint_l2_mean": 0.05}, task="robot-keypoint")
    res = _run(tmp_path / "a", tmp_path / "b", "--out", tmp_path / "r")
    assert res.returncode != 0 and "mix tasks" in res.stderr
