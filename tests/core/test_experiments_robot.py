"""``experiments/robot_arms.sh`` trains the SFT model and the GRPO arms from it, evaluates each offline, on the
held-out task and in closed loop, and skips what is finished when run again (its own file so that the two arms
scripts' tests, minutes each, run in parallel under ``pytest -n 2 --dist loadfile``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROBOT_TINY = ("sft.max_steps=2 sft.save_steps=2 grpo.max_steps=1 grpo.save_steps=1 robot-keypoint.tasks=Lift "
              "robot-keypoint.episodes=2 robot-keypoint.test_fraction=0.5 robot-keypoint.heldout_task=Door robot-keypoint.heldout_episodes=1 "
              "eval.max_samples=4 eval.max_new_tokens=8 grpo.max_completion_length=8 data_workers=1 "
              "robot-keypoint.camera_size=32")
ROBOT_CONTROL = ("--tasks Lift --episodes 1 --workers 0 --max-keypoint-calls 2 --max-env-steps 40 --video-episodes 0 "
                 "--offline-max-rows 4 --max-new-tokens 8")


def _robot_arms(tmp_path, *args):
    env = dict(os.environ, CONFIG="configs/robot_keypoint_quickstart.yaml", EXTRA=ROBOT_TINY, CONTROL=ROBOT_CONTROL,
               PARALLEL="1", OMP_NUM_THREADS="1", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"),
               ER1=f"{sys.executable} -m embodied_r1.cli", EMBODIED_R1_DATA=str(tmp_path / "cache"))
    return subprocess.run(["bash", str(ROOT / "experiments" / "robot_arms.sh"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def test_robot_arms_train_evaluate_and_drive_the_arm(tmp_path):
    """SFT, the two GRPO arms from it (each scored by its own rewards only) and the zero baseline: offline eval
    and a closed-loop sweep for each model arm; finished work is skipped when run again."""
    out = tmp_path / "robot"
    res = _robot_arms(tmp_path, str(out), "2", "grpo_distance", "grpo_mcq", "zero")
    assert res.returncode == 0, res.stderr[-3000:]
    rewards = {arm: yaml.safe_load((out / arm / "config.yaml").read_text())["robot-keypoint"]["rewards"]
               for arm in ("grpo_distance", "grpo_mcq")}
    weights = {arm: {k: v["weight"] for k, v in r.items()} for arm, r in rewards.items()}
    assert weights["grpo_distance"]["keypoint_reward"] > 0 and weights["grpo_distance"]["mcq_reward"] == 0
    assert weights["grpo_mcq"]["mcq_reward"] > 0 and weights["grpo_mcq"]["keypoint_reward"] == 0
    assert weights["grpo_mcq"]["direction_reward"] == weights["grpo_distance"]["direction_reward"] == 0
    for arm in ("sft", "grpo_distance", "grpo_mcq"):
        assert json.loads((out / arm / "eval" / "eval.json").read_text())["n"] > 0
        held = json.loads((out / arm / "eval_heldout" / "eval.json").read_text())
        assert held["split"] == "test_heldout_task" and held["n"] > 0
        summary = json.loads((out / arm / "control" / "summary.json").read_text())
        assert summary["overall"]["episodes"] == 1 and summary["policy"] == str(out / arm)
    assert json.loads((out / "zero" / "control" / "summary.json").read_text())["policy"] == "zero"
    assert not (out / "grpo_all").exists()
    stamp = (out / "grpo_mcq" / "control" / "summary.json").stat().st_mtime_ns
    again = _robot_arms(tmp_path, str(out), "2", "grpo_mcq", "zero")
    assert again.returncode == 0 and (out / "grpo_mcq" / "control" / "summary.json").stat().st_mtime_ns == stamp
    bad = _robot_arms(tmp_path, str(out), "2", "grpo_mcq", "grpo_everything")
    assert bad.returncode == 2 and "unknown arm 'grpo_everything'" in bad.stderr
