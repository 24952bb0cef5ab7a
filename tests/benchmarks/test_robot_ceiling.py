"""``benchmarks/robot_ceiling.py`` runs end to end on real robosuite demos at tiny size: every method on every
group, scored by the project's metric. Its numbers are measurements, never asserted against targets here."""

import json
import math

import numpy as np
from datasets import load_from_disk

from tests.benchmarks.test_smoke import _run

TINY = ["robot-keypoint.tasks=Lift", "robot-keypoint.episodes=3", "robot-keypoint.test_fraction=0.34",
        "robot-keypoint.heldout_task=Door", "robot-keypoint.heldout_episodes=1", "data_workers=1"]


def test_robot_ceiling_smoke(tmp_path):
    out = tmp_path / "ceiling.json"
    stdout = _run("robot_ceiling.py", ["--smoke", "--epochs", "6", "--device", "cpu", "--no-progress", "--out", str(out),
                                       *TINY], tmp_path)
    result = json.loads(out.read_text())
    assert set(result["results"]) == {"stay", "nearest", "state_mlp", "cnn"}
    for method, groups in result["results"].items():
        assert set(groups) == {"train", "test", "heldout_task"}, method
        for group, m in groups.items():
            assert m["n"] == result["rows"][group] > 0 and m["keypoint_parse_rate"] == 1.0, (method, group)
            assert math.isfinite(m["keypoint_l2_mean"]) and 0.0 <= m["keypoint_gripper_acc"] <= 1.0

    rows = load_from_disk(str(tmp_path / "cache" / "robot-keypoint" / result["dataset"].rsplit("/", 1)[-1] / "data"))
    train = [r for r in rows["train"] if r["question_type"] == "keypoint"]
    stay = np.mean([math.dist(r["current"][:3], r["target"][:3]) for r in train])
    assert abs(result["results"]["stay"]["train"]["keypoint_l2_mean"] - stay) < 1e-3  # answers keep 1 mm
    assert result["results"]["nearest"]["train"]["keypoint_l2_mean"] < 1e-3  # each train row finds itself
    for kind in ("state_mlp", "cnn"):
        loss = result["train_loss"][kind]
        assert len(loss) == 6 and loss[-1] < loss[0], kind
    assert "heldout_task" in stdout and "keypoint L2 (m)" in stdout


def test_robot_ceiling_refuses_a_touch_config(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, str(root / "benchmarks" / "robot_ceiling.py"), "--config",
                          str(root / "configs" / "touch_quickstart.yaml")], capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "give a robot-keypoint one" in res.stderr and "Traceback" not in res.stderr
