"""End to end through the CLI: the touch quickstart config, shrunk to a few steps, then eval."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from embodied_r1.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHRINK = ["sft.max_steps=3", "grpo.max_steps=2", "grpo.max_completion_length=12", "touch.num_materials=12",
          "touch.train_contacts=8", "touch.test_contacts=4", "eval.max_samples=12", "eval.max_new_tokens=12"]


@pytest.mark.slow
def test_quickstart_train_then_eval(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBODIED_R1_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    runner = CliRunner()
    res = runner.invoke(main, ["train", "--task", "touch", "--config", str(ROOT / "configs" / "touch_quickstart.yaml"),
                               "--output", str(out), *SHRINK], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    for rel in ("metrics.jsonl", "plots/rewards.png", "final/config.json", "sft/final/config.json", "config.yaml"):
        assert (out / rel).exists(), rel
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {"sft", "grpo"}
    grpo = [r for r in rows if r["stage"] == "grpo" and "reward" in r]
    assert grpo and all(f"rewards/{n}/mean" in grpo[0] for n in (
        "ordinal_accuracy_reward", "touch_format_reward", "tactile_grounded_reward"))

    res = runner.invoke(main, ["eval", "--model", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    result = json.loads((out / "eval" / "eval.json").read_text())
    assert result["task"] == "touch" and result["split"] == "test" and result["n"] == 12
    m = result["metrics"]
    for key in ("exact_match", "omae", "parse_rate", "csc", "heldout_sensor_accuracy", "cf_gap/removed",
                "cf_gap/shuffled", "cf_gap/noise"):
        assert key in m, key
    assert set(result["baselines"]) == {"random", "majority_train", "majority_eval"}
    assert result["baselines"]["random"]["parse_rate"] == 1.0
    for png in ("touch_confusion.png", "touch_accuracy_by_sensor.png", "touch_accuracy_by_type.png"):
        assert (out / "eval" / png).exists(), png
    assert "heldout_sensor_accuracy" in res.output and "majority" in res.output
