"""robot-keypoint metrics: formulas on hand-made answers, baselines, the Wilson interval, the report plot."""

from __future__ import annotations

import math

import pytest

from tasks.robot_keypoint import RobotKeypointTask, parse_keypoint
from embodied_r1.stats import wilson_interval
from tasks.robot_keypoint.metrics import baseline_answers, robot_metrics
from tests.fixtures.robot_keypoint import row as _row


def test_parse_and_metric_formulas_on_hand_made_completions():
    rows = [_row("keypoint", "", target=(0.0, 0.0, 1.0, 1.0), task="Lift"),
            _row("keypoint", "", target=(0.0, 0.0, 1.0, 0.0), task="Lift"),
            _row("keypoint", "", target=(0.0, 0.0, 1.0, 0.0), task="Stack"),
            _row("mcq", "B", task="Stack"), _row("mcq", "A", task="Stack"),
            _row("direction", "slightly move up", task="Lift"), _row("direction", "move left", task="Lift")]
    comps = ["<think>a</think><answer>[0.03, 0.04, 1.0, 1]</answer>",  # 0.05 m off, gripper right
             "<think>a</think><answer>[0.0, 0.0, 1.1, 1]</answer>",  # 0.10 m off, gripper wrong
             "no answer tag [0, 0, 1, 0]",  # unparsed
             "<answer>b</answer>", "<answer>C</answer>",
             "<answer>move up</answer>", "<answer>move left</answer>"]
    m = robot_metrics(comps, rows)
    assert m["n"] == 7
    assert m["parse_rate"] == pytest.approx(6 / 7)
    assert m["keypoint_parse_rate"] == pytest.approx(2 / 3)
    assert m["keypoint_l2_mean"] == pytest.approx(0.075) and m["keypoint_l2_median"] == pytest.approx(0.075)
    assert m["keypoint_gripper_acc"] == pytest.approx(1 / 3)
    assert m["mcq_acc"] == 0.5
    assert m["direction_acc"] == 0.5 and m["direction_axis_acc"] == 1.0
    assert m["Lift/keypoint_l2_mean"] == pytest.approx(0.075) and "Stack/keypoint_l2_mean" not in m
    assert m["Stack/mcq_acc"] == 0.5 and m["Lift/direction_acc"] == 0.5


def test_baselines_are_well_formed_and_stay_predicts_the_current_state():
    rows = [_row("keypoint", "[0.100, 0.000, 0.900, 1]"), _row("mcq", "A", options=["[0.1, 0, 1.0, 0]", "[0.3, 0, 0.9, 1]",
                                                                                     "[0.2, 0, 0.9, 1]", "[0, 0.2, 1, 1]"]),
            _row("direction", "move down"), _row("current_state", "[0.100, 0.000, 1.000, 0]", target=(0.1, 0, 1, 0))]
    b = baseline_answers(rows, seed=0)
    assert set(b) == {"stay", "random", "majority"}
    task = RobotKeypointTask()
    for answers in b.values():
        assert len(answers) == len(rows) and task.metrics(answers, rows)["parse_rate"] == 1.0
    assert parse_keypoint(b["stay"][0]) == [0.1, 0.0, 1.0, 0.0]
    m = task.metrics(b["stay"], rows)
    assert m["keypoint_l2_mean"] == pytest.approx(0.1) and m["mcq_acc"] == 1.0 and m["direction_acc"] == 1.0


def test_write_report_draws_the_error_histogram(tmp_path):
    rows = [_row("keypoint", "", target=(0.0, 0.0, 1.0, 1.0), task=t) for t in ("Lift", "Lift", "Stack")]
    comps = ["<answer>[0.03, 0.04, 1.0, 1]</answer>", "<answer>[0, 0, 1.2, 0]</answer>", "oops"]
    paths = RobotKeypointTask().write_report({"model": "m", "split": "test"}, rows, comps, tmp_path)
    assert [p.name for p in paths] == ["keypoint_errors.png"] and paths[0].stat().st_size > 10_000


def test_wilson_interval_formula():
    lo, hi = wilson_interval(9, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.5958, 0.9821)
    n, k, z = 20, 14, 1.96
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((c - h, c + h))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
