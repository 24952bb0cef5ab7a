"""robot-keypoint data: a tiny dataset built with real robosuite, and demo recording under simulator faults
(a faulted demo is dropped with its reason; a task whose every demo faults is one clear error)."""

from __future__ import annotations

import json

import pytest

from embodied_r1.errors import UserError
from envs.robosuite.faults import FAULTS_ENV
from tasks.robot_keypoint import RobotKeypointConfig, RobotKeypointTask

SEED0 = 810_000  # away from the seeds of the other tests (they share one demo cache per session)


@pytest.mark.slow
def test_build_tiny_dataset_with_real_robosuite():
    cfg = RobotKeypointConfig(tasks="Lift", episodes=2, heldout_task=None, camera_size=64,
                              question_mix={"keypoint": 1.0, "mcq": 1.0, "current_state": 1.0, "direction": 1.0})
    from embodied_r1.data import load_or_build

    ds, path = load_or_build(RobotKeypointTask(), cfg, seed=0)
    assert set(ds) == {"train", "test"} and len(ds["train"]) > 0 and len(ds["test"]) > 0
    assert set(ds["train"]["episode_index"]) == {0} and set(ds["test"]["episode_index"]) == {1}
    cols = set(ds["train"].column_names)
    assert {"prompt", "images", "image_modalities", "question_type", "answer", "target", "options", "task_name",
            "episode_index", "frame_index"} <= cols
    assert set(ds["train"]["question_type"]) == {"keypoint", "mcq", "current_state", "direction"}
    row = ds["train"][0]
    assert row["images"][0].size == (64, 64) and row["image_modalities"] == ["agentview"]
    assert row["frame_index"] < row["keyframe_index"]
    card = json.loads((path / "card.json").read_text())
    assert card["question_types"]["train"]["keypoint"] > 0
    task = RobotKeypointTask()
    rows = [ds["test"][i] for i in range(len(ds["test"]))]
    m = task.metrics([task.sft_target(r) for r in rows], rows)
    assert m["parse_rate"] == 1.0 and m["keypoint_l2_mean"] < 1e-3 and m["mcq_acc"] == 1.0


def test_dataset_build_drops_a_faulted_demo_and_its_card_counts_it(monkeypatch):
    from embodied_r1.data import load_or_build

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
