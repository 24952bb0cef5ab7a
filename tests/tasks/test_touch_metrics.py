"""TouchSim bench formulas on hand-made completions, the parser, baselines, reward specs and the report."""

import math

import pytest

from embodied_r1.task import CounterfactualSpec
from tasks.touch import TouchConfig, TouchTask


def ans(x, tags=True):
    return f"<perceive>p</perceive><conclude>c</conclude><answer>{x}</answer>" if tags else str(x)


def row(qtype="level", answer="1", k=3, contact="c0", sensor="digit", prop="hardness", options=(), tag="heldout_material",
        visual_level=-1):
    return {"question_type": qtype, "answer": answer, "num_levels": k, "option_levels": list(options),
            "contact_id": contact, "sensor": sensor, "property": prop, "split_tag": tag, "visual_level": visual_level}


@pytest.fixture
def task():
    return TouchTask()


def test_parse(task):
    assert task.parse(ans(2))["level"] == 2
    assert task.parse("<answer>b) is harder</answer>")["choice"] == "B"
    assert task.parse("<answer>x</answer> <answer> level 1 </answer>")["level"] == 1  # the last answer tag
    assert task.parse("2") is None and task.parse(None) is None and task.parse(12345) is None


def test_omae_exact_match_and_parse_rate(task):
    rows = [row(answer="2"), row(answer="0"), row(answer="1"), row(answer="1", k=5)]
    comps = [ans(2), ans(1), "no answer", ans(7)]  # exact, off by 1, unparseable (K-1=2), out of range (K-1=4)
    m = task.metrics(comps, rows)
    assert m["omae"] == pytest.approx((0 + 1 + 2 + 4) / 4)
    assert m["exact_match"] == pytest.approx(1 / 4)
    assert m["parse_rate"] == pytest.approx(2 / 4)
    assert m["acc/level"] == pytest.approx(1 / 4)


def test_choice_questions(task):
    rows = [row("compare", "B", options=[0, 2]), row("superlative", "C", options=[1, 0, 2]),
            row("superlative", "A", options=[2, 1, 0])]
    m = task.metrics([ans("B"), ans("A"), ans("D")], rows)  # right, wrong, not an option
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert m["acc/compare"] == 1.0 and m["acc/superlative"] == 0.0
    assert m["parse_rate"] == pytest.approx(2 / 3)
    assert "omae" not in m  # no level rows: left out, not NaN


def test_csc_counts_groups_with_two_sensors(task):
    rows = [
        row(contact="a", sensor="digit"), row(contact="a", sensor="gelsight_mini"),  # agree
        row(contact="b", sensor="digit"), row(contact="b", sensor="gelsight_r15"),  # disagree
        row(contact="c", sensor="digit"), row(contact="c", sensor="marker_gel"),  # one unparseable -> disagree
        row(contact="d", sensor="digit"),  # a single sensor: not a group
        row("compare", "A", contact="e", sensor="digit", options=[2, 0]),  # not a level row
        row("compare", "A", contact="e", sensor="gelsight_mini", options=[2, 0]),
    ]
    comps = [ans(1), ans(1), ans(0), ans(2), ans(1), "??", ans(2), ans("A"), ans("B")]
    m = task.metrics(comps, rows)
    assert m["csc_groups"] == 3 and m["csc"] == pytest.approx(1 / 3)


def test_conflict_heldout_and_sensor_accuracy(task):
    rows = [row("conflict", "2", visual_level=0, sensor="digit"), row("conflict", "0", visual_level=2, sensor="digit"),
            row("conflict", "1", visual_level=0, sensor="marker_gel", tag="heldout_sensor"),
            row("level", "1", sensor="marker_gel", tag="heldout_sensor")]
    m = task.metrics([ans(2), ans(2), ans(0), ans(1)], rows)
    assert m["conflict_accuracy"] == pytest.approx(1 / 3)
    assert m["conflict_follows_vision"] == pytest.approx(2 / 3)
    assert m["acc_sensor/digit"] == 0.5 and m["acc_sensor/marker_gel"] == 0.5
    assert m["heldout_sensor_accuracy"] == 0.5 and m["heldout_material_accuracy"] == 0.5
    assert m["heldout_sensor_omae"] == pytest.approx(0.5)


def test_level_accuracy_of_heldout_objects_per_property(task):
    rows = [row(answer="2", prop="hardness"), row(answer="0", prop="hardness"), row(answer="1", prop="roughness"),
            row(answer="1", prop="roughness", tag="heldout_sensor"),  # another split: not counted
            row("conflict", "1", prop="roughness")]  # another question type: not counted
    m = task.metrics([ans(2), ans(1), ans(0), ans(1), ans(1)], rows)
    assert m["heldout_material_level_acc/hardness"] == 0.5
    assert m["heldout_material_level_acc/roughness"] == 0.0


def test_counterfactual_gap(task):
    rows = [row(answer=str(i % 3)) for i in range(4)]
    real = [ans(i % 3) for i in range(4)]  # all right
    cf = {"removed": [ans(0)] * 4, "noise": real, "short": [ans(0)]}  # 'short' has the wrong length: ignored
    m = task.metrics(real, rows, counterfactual=cf)
    assert m["cf_acc/removed"] == pytest.approx(2 / 4) and m["cf_gap/removed"] == pytest.approx(0.5)
    assert m["cf_gap/noise"] == 0.0 and "cf_gap/short" not in m


def test_metrics_accept_conversational_completions(task):
    m = task.metrics([[{"role": "assistant", "content": ans(1)}]], [row()])
    assert m["exact_match"] == 1.0


def test_baselines_are_finite_and_sensible(task):
    data = task.build_dataset(TouchConfig(num_materials=12, train_contacts=2, test_contacts=12), 0)
    rows = [data["test"][i] for i in range(len(data["test"]))]
    train = [{k: v for k, v in data["train"][i].items() if k not in ("images", "prompt")} for i in range(len(data["train"]))]
    base = task.baselines(rows, seed=0, train_rows=train)
    assert set(base) == {"random", "majority_train", "majority_eval"}
    for name, comps in base.items():
        assert len(comps) == len(rows)
        m = task.metrics(comps, rows)
        assert m["parse_rate"] == 1.0 and m["format"] == 1.0, name
        assert all(math.isfinite(v) for v in m.values()), (name, m)
    assert task.baselines(rows, seed=0, train_rows=train) == base  # seeded
    # majority: one level for every level question, one letter per choice type
    for name in ("majority_train", "majority_eval"):
        levels = {c for c, r in zip(base[name], rows) if r["question_type"] in ("level", "conflict", "cross_sensor")}
        assert len(levels) == 1, name
    assert "majority_train" not in task.baselines(rows, seed=0)


def test_reward_specs_follow_the_weights():
    task = TouchTask()
    specs = task.reward_specs(TouchConfig())
    assert [s.name for s in specs] == ["ordinal_accuracy_reward", "cross_sensor_consistency_reward",
                                       "touch_format_reward", "tactile_grounded_reward"]
    assert [s.weight for s in specs] == [1.0, 0.5, 0.2, 0.5]
    assert specs[-1].counterfactuals == [CounterfactualSpec("removed", "tactile", "remove"),
                                         CounterfactualSpec("shuffled", "tactile", "swap"),
                                         CounterfactualSpec("noise", "tactile", "noise")]
    cfg = TouchConfig(rewards={"touch_format_reward": 0, "tactile_grounded_reward": {"weight": 0}})
    assert [s.name for s in task.reward_specs(cfg)] == ["ordinal_accuracy_reward", "cross_sensor_consistency_reward"]
    assert len(task.eval_counterfactuals(cfg)) == 3  # eval still measures the gap


def test_rewards_score_a_batch_of_real_rows():
    """The four rewards, called as TRL calls them on a group of rows, give finite values or None."""
    task = TouchTask()
    data = task.build_dataset(TouchConfig(num_materials=12, train_contacts=6, test_contacts=0), 0)
    rows = [data["train"][i] for i in range(len(data["train"]))]
    cols = {k: [r[k] for r in rows] for k in rows[0] if k not in ("prompt", "images")}
    gold = [task.sft_target(r) for r in rows]
    for spec in task.reward_specs(TouchConfig()):
        extra = {"counterfactual_completions": {c.name: gold for c in spec.counterfactuals}} if spec.counterfactuals else {}
        out = spec.fn(prompts=[r["prompt"] for r in rows], completions=gold, **cols, **extra)
        assert len(out) == len(rows)
        assert all(v is None or (math.isfinite(v) and 0 <= v <= 1) for v in out), spec.name
        if spec.name == "cross_sensor_consistency_reward":
            levels = [v for v, r in zip(out, rows) if r["question_type"] in ("level", "conflict", "cross_sensor")]
            assert levels and all(v == 1.0 for v in levels)
        if spec.name == "tactile_grounded_reward":  # the same answers with and without touch: no credit
            assert all(v == 0.0 for v in out)


def test_write_report_draws_pngs(task, tmp_path):
    data = task.build_dataset(TouchConfig(num_materials=12, train_contacts=2, test_contacts=10), 0)
    rows = [data["test"][i] for i in range(len(data["test"]))]
    comps = task.baselines(rows)["random"]
    result = {"task": "touch", "model": "random", "split": "test", "n": len(rows),
              "metrics": task.metrics(comps, rows), "baselines": {"majority": task.metrics(task.baselines(rows)["majority_eval"], rows)}}
    paths = task.write_report(result, rows, comps, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["touch_accuracy_by_sensor.png", "touch_accuracy_by_type.png", "touch_confusion.png"]
    assert all(p.stat().st_size > 5000 for p in paths)


def test_confusion_counts():
    from tasks.touch.report import confusion

    rows = [row(answer="0"), row(answer="0"), row(answer="2"), row(answer="1", prop="roughness")]
    m = confusion(rows, [ans(0), "junk", ans(1), ans(1)], "hardness", 3)
    assert m.tolist() == [[1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 0]]


def test_format_metric_follows_the_configured_format_reward(task):
    long = "<perceive>" + "x" * 300 + "</perceive><conclude>c</conclude><answer>1</answer>"
    rows = [row(answer="1")]
    default = task.metrics([long], rows)["format"]
    tight = task.metrics([long], rows, cfg=TouchConfig(rewards={"touch_format_reward": {"max_chars": 100}}))["format"]
    assert tight < default, (tight, default)
