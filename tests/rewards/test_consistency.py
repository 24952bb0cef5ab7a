"""cross_sensor_consistency_reward: grouping, median consensus, None cases."""

from rewards.consistency import make_cross_sensor_consistency_reward

reward = make_cross_sensor_consistency_reward()


def A(x):
    return f"<answer>{x}</answer>"


def cols(n, contact=None, sensor=None, prop=None, qtype=None, K=3):
    return {
        "question_type": qtype or ["level"] * n,
        "contact_id": contact or ["c0"] * n,
        "property": prop or ["hardness"] * n,
        "sensor": sensor,
        "num_levels": [K] * n,
    }


def test_name():
    assert reward.__name__ == "cross_sensor_consistency_reward"


def test_three_sensor_group_median():
    # levels 2, 2, 0 -> median 2; K=3 -> 1, 1, 0
    out = reward(None, [A(2), A(2), A(0)], **cols(3, sensor=["digit", "gelsight_mini", "marker_gel"]))
    assert out == [1.0, 1.0, 0.0]


def test_median_half_step_and_unparseable_counts_as_disagreement():
    # parsed 0, 1 (median 0.5), unparseable -> 0; K=3: 1 - 0.5/2 = 0.75
    out = reward(None, [A(0), A(1), A("soft")], **cols(3, sensor=["digit", "gelsight_mini", "marker_gel"]))
    assert out == [0.75, 0.75, 0.0]
    # out of range counts as unparseable
    out = reward(None, [A(1), A(1), A(7)], **cols(3, sensor=["digit", "gelsight_mini", "digit"]))
    assert out == [1.0, 1.0, 0.0]


def test_all_unparseable_group_scores_zero():
    assert reward(None, ["x", "y"], **cols(2, sensor=["digit", "gelsight_mini"])) == [0.0, 0.0]


def test_single_sensor_group_is_none():
    # G=3 completions of one sensor: nothing to be consistent with
    assert reward(None, [A(0), A(1), A(2)], **cols(3, sensor=["digit"] * 3)) == [None, None, None]


def test_groups_by_contact_and_property_and_skips_non_level_rows():
    comps = [A(2), A(2), A(0), A(1), A("B"), A(1)]
    kw = cols(6, contact=["c0", "c0", "c1", "c1", "c0", "c0"], sensor=["digit", "gelsight_mini"] * 3,
              prop=["hardness"] * 4 + ["hardness", "roughness"],
              qtype=["level", "cross_sensor", "conflict", "level", "compare", "level"])
    out = reward(None, comps, **kw)
    # c0/hardness: 2, 2 -> 1, 1; c1/hardness: 0, 1 -> median 0.5 -> 0.75 each; compare -> None;
    # c0/roughness has one row (one sensor) -> None
    assert out == [1.0, 1.0, 0.75, 0.75, None, None]


def test_missing_columns_give_none():
    assert reward(None, [A(1), A(1)], question_type=["level"] * 2, num_levels=[3, 3]) == [None, None]
    kw = cols(2, sensor=["digit", "gelsight_mini"])
    kw["num_levels"] = [1, 1]
    assert reward(None, [A(0), A(0)], **kw) == [None, None]


def test_rewards_agreement_not_correctness():
    # both sensors agree on a (possibly wrong) level: full consistency whatever the label
    assert reward(None, [A(0), A(0)], answer=["2", "2"], **cols(2, sensor=["digit", "gelsight_mini"])) == [1.0, 1.0]


def test_an_absurd_scale_floors_only_its_own_row():
    # a num_levels of 10**400 used to overflow the float division and zero the whole batch, single-sensor
    # groups (None) included; now only that row gets the floor
    comps = [A(1), A(1), A(1), A(1), A(2)]
    kw = cols(5, contact=["c0", "c0", "c1", "c1", "c2"], sensor=["digit", "gelsight_mini"] * 2 + ["digit"])
    kw["num_levels"] = [10 ** 400, 3, 3, 3, 3]
    assert reward(None, comps, **kw) == [0.0, 1.0, 1.0, 1.0, None]
