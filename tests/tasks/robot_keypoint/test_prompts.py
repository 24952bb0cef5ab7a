"""robot-keypoint prompts and answers: what the prompt shows, SFT targets, parsing (no simulator)."""

from __future__ import annotations

from tasks.robot_keypoint import RobotKeypointTask, build_prompt, parse_keypoint
from tasks.robot_keypoint.prompts import sft_completion
from tests.fixtures.robot_keypoint import row as _row

REF, EEF = (0.0, 0.0, 0.8), (0.08, 0.05)


def test_prompt_contains_the_metadata():
    p = build_prompt("keypoint", "lift the red cube", [0.1, -0.02, 1.0, 0.0], REF, EEF)
    assert p[0]["role"] == "user" and p[0]["content"][0] == {"type": "image"}
    text = p[0]["content"][1]["text"]
    for needle in ("lift the red cube", "table-top centre is at [0.000, 0.000, 0.800]", "x forward", "y to the robot's left",
                   "z up", "0.08 m wide", "0.05 m long", "[0.100, -0.020, 1.000, 0]", "gripper open",
                   "1 closed", "<think>", "<answer>"):
        assert needle in text, needle
    cs = build_prompt("current_state", "lift the red cube", [0.1, -0.02, 1.0, 0.0], REF, EEF)[0]["content"][1]["text"]
    assert "[0.100, -0.020, 1.000, 0]" not in cs and "current end-effector state" in cs  # the state is what it asks
    mcq = build_prompt("mcq", "x", [0, 0, 1, 0], REF, EEF, options=[[0.1, 0, 1, 1]] * 4)[0]["content"][1]["text"]
    assert "A. [0.100, 0.000, 1.000, 1]" in mcq and "D. " in mcq
    d = build_prompt("direction", "x", [0, 0, 1, 0], REF, EEF, slight_threshold=0.05)[0]["content"][1]["text"]
    assert "slightly" in d and "0.05 m" in d


def test_sft_targets_parse_and_score_perfectly():
    from rewards import make_direction_reward, make_keypoint_reward, make_robot_format_reward, mcq_reward

    rows = [_row("keypoint", "[0.100, 0.000, 0.900, 1]"), _row("current_state", "[0.100, 0.000, 1.000, 0]",
                                                                 target=(0.1, 0.0, 1.0, 0.0)),
            _row("mcq", "C", options=["[0.2, 0, 0.9, 1]", "[0.3, 0, 0.9, 1]", "[0.100, 0.000, 0.900, 1]", "[0, 0, 1, 1]"]),
            _row("direction", "move down")]
    task = RobotKeypointTask()
    comps = [task.sft_target(r) for r in rows]
    cols = {k: [r[k] for r in rows] for k in ("question_type", "answer", "target")}
    assert make_robot_format_reward()(None, comps, **cols) == [1.0] * 4
    assert make_keypoint_reward()(None, comps, **cols)[:2] == [1.0, 1.0]
    assert mcq_reward(None, comps, **cols)[2] == 1.0
    assert make_direction_reward()(None, comps, **cols)[3] == 1.0
    m = task.metrics(comps, rows)
    assert m["parse_rate"] == 1.0 and m["keypoint_l2_mean"] < 1e-3 and m["mcq_acc"] == 1.0 and m["direction_acc"] == 1.0
    assert "move down" in sft_completion(rows[0])  # the reasoning names the movement


def test_parse_keypoint_clips_the_gripper_and_refuses_non_finite_values():
    assert parse_keypoint("<answer>[0.1, 0.2, 0.3, 0.2]</answer>") == [0.1, 0.2, 0.3, 0.0]
    assert parse_keypoint("<answer>[0.1, nan, 0.3, 1]</answer>") is None
    assert RobotKeypointTask().parse("<answer>slightly move up</answer>")["direction"] == "slightly move up"
