"""``benchmarks/robot_ceiling.py`` runs end to end on real robosuite demos at tiny size: every method on every
group, scored by the project's metric. Its numbers are measurements, never asserted against targets here."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk

from tests.benchmarks.test_smoke import _run

ROOT = Path(__file__).resolve().parents[2]
# the quickstart config made smaller: 2 train + 1 test episode of Lift, 1 episode of the held-out Door
TINY = ["robot-keypoint.tasks=Lift", "robot-keypoint.episodes=3", "robot-keypoint.test_fraction=0.34",
        "robot-keypoint.heldout_task=Door", "robot-keypoint.heldout_episodes=1", "data_workers=1"]
GROUPS = {"train": "train", "test": "test", "heldout_task": "test_heldout_task"}


def test_robot_ceiling_smoke(tmp_path):
    from tasks.robot_keypoint.metrics import baseline_answers, robot_metrics

    out = tmp_path / "ceiling.json"
    args = ["--smoke", "--epochs", "6", "--device", "cpu", "--no-progress", *TINY]
    stdout = _run("robot_ceiling.py", [*args, "--out", str(out)], tmp_path)
    result = json.loads(out.read_text())
    assert result["settings"]["config"].endswith("robot_keypoint_quickstart.yaml") and result["device"].startswith("cpu")
    assert result["tasks"] == ["Lift"] and result["heldout_task"] == "Door"
    assert set(result["results"]) == {"stay", "nearest", "state_mlp", "cnn"}
    for method, groups in result["results"].items():
        assert set(groups) == set(GROUPS), method
        for group, m in groups.items():
            assert m["n"] == result["rows"][group] > 0 and m["keypoint_parse_rate"] == 1.0, (method, group)
            assert math.isfinite(m["keypoint_l2_mean"]) and math.isfinite(m["keypoint_l2_median"])
            assert 0.0 <= m["keypoint_gripper_acc"] <= 1.0
            # one task per group here: its per-task entry is the group's
            (task, sub), = m["per_task"].items()
            assert task == {"heldout_task": "Door"}.get(group, "Lift") and sub == {k: m[k] for k in sub}

    # the rows are the keypoint rows of the cached dataset's splits; the held-out task only in its own split
    (entry,) = (tmp_path / "cache" / "robot-keypoint").glob(result["dataset"].rsplit("/", 1)[-1])
    ds = load_from_disk(str(entry / "data"))
    rows = {g: [r for r in ds[s] if r["question_type"] == "keypoint"] for g, s in GROUPS.items()}
    assert {g: len(rs) for g, rs in rows.items()} == result["rows"]
    assert {r["task_name"] for r in rows["heldout_task"]} == {"Door"}
    assert {r["task_name"] for g in ("train", "test") for r in rows[g]} == {"Lift"}
    # stay: the project's baseline_answers, through robot_metrics; on the train rows also by hand
    for g, rs in rows.items():
        ref = robot_metrics(baseline_answers(rs)["stay"], rs)
        assert all(result["results"]["stay"][g][k] == ref[k] for k in ("keypoint_l2_mean", "keypoint_gripper_acc")), g
    stay = np.mean([math.dist(r["current"][:3], r["target"][:3]) for r in rows["train"]])
    assert abs(result["results"]["stay"]["train"]["keypoint_l2_mean"] - stay) < 1e-3  # answers keep 1 mm
    assert result["results"]["nearest"]["train"]["keypoint_l2_mean"] < 1e-3  # each train row finds itself
    assert result["results"]["nearest"]["train"]["keypoint_gripper_acc"] == 1.0
    for kind in ("state_mlp", "cnn"):
        loss = result["train_loss"][kind]
        assert len(loss) == 6 and all(map(math.isfinite, loss)) and loss[-1] < loss[0], kind
    assert "heldout_task" in stdout and "keypoint L2 mean / median" in stdout

    # the same seed on the same cached rows: the same numbers (no rebuild: the entry is reused)
    again = tmp_path / "again.json"
    _run("robot_ceiling.py", [*args, "--out", str(again)], tmp_path)
    second = json.loads(again.read_text())
    assert second["results"] == result["results"] and second["train_loss"] == result["train_loss"]


@pytest.mark.parametrize("args, message", [
    (["--config", str(ROOT / "configs" / "touch_quickstart.yaml")], "give a robot-keypoint one"),
    (["robot-keypoint.episodez=3"], "unknown config key"),
    (["--device", "bogus"], "is not a device"),
])
def test_robot_ceiling_bad_input_is_one_line(tmp_path, args, message):
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "robot_ceiling.py"), *args], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert len(res.stderr.strip().splitlines()) == 1
