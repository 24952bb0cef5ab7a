"""``experiments/touch_arms.sh`` chains the shared encoder -> SFT run and a GRPO arm from its model, evaluates
both, and skips what is finished when run again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = ("encoder.max_steps=2 encoder.probe=false encoder.save_steps=2 sft.max_steps=2 sft.save_steps=2 "
        "grpo.max_steps=1 grpo.save_steps=1 touch.train_contacts=8 touch.test_contacts=2 eval.max_samples=4 "
        "eval.max_new_tokens=8 grpo.max_completion_length=8 data_workers=1")


def _arms(tmp_path, *args, **env_extra):
    env = dict(os.environ, CONFIG="configs/touch_encoder_quickstart.yaml", EXTRA=TINY, OMP_NUM_THREADS="1", **env_extra,
               ER1=f"{sys.executable} -m embodied_r1.cli", EMBODIED_R1_DATA=str(tmp_path / "cache"))
    return subprocess.run(["bash", str(ROOT / "experiments" / "touch_arms.sh"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def test_touch_arms_chain_evaluate_and_skip_finished_work(tmp_path):
    out = tmp_path / "arms"
    res = _arms(tmp_path, str(out), "3", "sft", "grpo_no_grounded", "grpo_exact")
    assert res.returncode == 0, res.stderr[-3000:]
    for arm in ("sft", "grpo_no_grounded"):
        result = json.loads((out / arm / "eval" / "eval.json").read_text())
        assert result["n"] > 0 and "exact_match" in result["metrics"]
    grpo_cfg = yaml.safe_load((out / "grpo_no_grounded" / "config.yaml").read_text())
    assert grpo_cfg["model"]["name"] == str(out / "sft" / "final") and grpo_cfg["seed"] == 3
    assert grpo_cfg["stages"] == ["grpo"]
    assert grpo_cfg["touch"]["rewards"]["tactile_grounded_reward"]["weight"] == 0
    exact = yaml.safe_load((out / "grpo_exact" / "config.yaml").read_text())["touch"]["rewards"]
    assert exact["ordinal_accuracy_reward"]["weight"] == 0 and exact["exact_accuracy_reward"]["weight"] == 1
    logged = [json.loads(x) for x in (out / "grpo_exact" / "metrics.jsonl").read_text().splitlines()]
    assert any("rewards/exact_accuracy_reward/mean" in r for r in logged)
    assert not any("rewards/ordinal_accuracy_reward/mean" in r for r in logged)
    stamp = (out / "sft" / "eval" / "eval.json").stat().st_mtime_ns
    again = _arms(tmp_path, str(out), "3", "sft", "grpo_no_grounded")
    assert again.returncode == 0 and (out / "sft" / "eval" / "eval.json").stat().st_mtime_ns == stamp

    bad = _arms(tmp_path, str(out), "3", "sft", "grpo_everything")
    assert bad.returncode == 2 and "unknown arm 'grpo_everything'" in bad.stderr
    assert not (out / "grpo_everything").exists()


def test_touch_arms_in_parallel_without_the_encoder(tmp_path):
    """PARALLEL=1: the no-encoder SFT model first, then its GRPO arms side by side, each logged on its own."""
    out = tmp_path / "arms"
    res = _arms(tmp_path, str(out), "1", "grpo_hot_noenc", "grpo_long_noenc", PARALLEL="1")
    assert res.returncode == 0, res.stderr[-3000:]
    sft = yaml.safe_load((out / "sft_noenc" / "config.yaml").read_text())
    assert sft["stages"] == ["sft"] and sft["model"]["freeze_vision"] is False
    hot = yaml.safe_load((out / "grpo_hot_noenc" / "config.yaml").read_text())
    assert hot["model"]["name"] == str(out / "sft_noenc" / "final") and hot["grpo"]["temperature"] == 1.5
    long = yaml.safe_load((out / "grpo_long_noenc" / "config.yaml").read_text())["grpo"]
    recipe = yaml.safe_load((ROOT / "configs" / "touch_encoder_quickstart.yaml").read_text())["grpo"]
    assert long["max_steps"] == 4 and long["learning_rate"] == pytest.approx(2.5 * recipe["learning_rate"])
    for arm in ("sft_noenc", "grpo_hot_noenc", "grpo_long_noenc"):
        assert json.loads((out / arm / "eval" / "eval.json").read_text())["n"] > 0
        assert (out / "logs" / f"{arm}.log").stat().st_size > 0
    assert not (out / "sft").exists()  # no arm asked for the encoder's SFT model
