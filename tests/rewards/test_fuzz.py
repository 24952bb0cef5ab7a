"""Property tests: every reward, on any input, returns one finite in-range value (or None) per row."""

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rewards

REWARDS = [
    rewards.ordinal_accuracy_reward,
    rewards.exact_accuracy_reward,
    rewards.make_cross_sensor_consistency_reward(),
    rewards.make_touch_format_reward(),
    rewards.make_robot_format_reward(),
    rewards.make_tactile_grounded_reward(),
    rewards.make_tactile_grounded_reward(margin=0.1, mode="graded"),
    rewards.make_keypoint_reward(),
    rewards.mcq_reward,
    rewards.make_direction_reward(),
]
NAMES = {"ordinal_accuracy_reward", "exact_accuracy_reward", "cross_sensor_consistency_reward", "touch_format_reward",
         "robot_format_reward", "tactile_grounded_reward", "keypoint_reward", "mcq_reward", "direction_reward"}

FRAGMENTS = ["<perceive>", "</perceive>", "<compare>", "</compare>", "<conclude>", "</conclude>", "<answer>",
             "</answer>", "<think>", "</think>", "[", "]", ", ", "0", "1", "2", "3", "-", ".", "e", "e999", "nan",
             "inf", "A", "b", "C", "d", "slightly", "move", "up", "back", "left", " ", "\n", "9" * 30, "\u00e9",
             "\U0001f916", "\x00"]
QTYPES = ["level", "compare", "superlative", "conflict", "cross_sensor", "keypoint", "mcq", "current_state",
          "direction", "LEVEL ", "", "other"]

tag_text = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
huge_text = st.builds(lambda s, k: (s * k)[:1_000_000], st.text(min_size=1, max_size=30) | tag_text.filter(bool),
                      st.integers(1, 1_000_000))
text = st.one_of(st.text(), tag_text, st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
completion = st.one_of(
    text,
    text.map(lambda s: [{"role": "assistant", "content": s}]),
    text.map(lambda s: [{"role": "assistant", "content": [{"type": "text", "text": s}, {"type": "image"}]}]),
    st.none(), st.integers(), st.floats(), st.lists(st.integers(), max_size=3),
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.integers(), st.floats(), text,
                   st.sampled_from(QTYPES), st.sampled_from(["A", "B", "C", "D", "2", "[0.1, 0.2, 0.3, 1]",
                                                            "move up", "slightly move left"]))
value = st.one_of(scalar, st.lists(st.one_of(st.integers(-3, 5), st.floats()), max_size=5),
                  st.lists(scalar, max_size=4))
COLUMNS = ["question_type", "answer", "num_levels", "option_levels", "contact_id", "property", "sensor", "target",
           "options"]


@st.composite
def batches(draw, completions=completion):
    comps = draw(st.lists(completions, max_size=8))
    n = len(comps)
    cols = {}
    for name in COLUMNS:
        kind = draw(st.sampled_from(["ok", "ok", "ok", "missing", "wrong_length", "scalar"]))
        if kind == "ok":
            strat = st.sampled_from(QTYPES) if name == "question_type" and draw(st.booleans()) else value
            if name in ("contact_id", "sensor") and draw(st.booleans()):
                strat = st.sampled_from(["c0", "c1", "digit", "gelsight_mini"])
            cols[name] = draw(st.lists(strat, min_size=n, max_size=n))
        elif kind == "wrong_length":
            cols[name] = draw(st.lists(value, max_size=10).filter(lambda v: len(v) != n))
        elif kind == "scalar":
            cols[name] = draw(scalar)
    cf_kind = draw(st.sampled_from(["none", "ok", "odd"]))
    if cf_kind == "ok":
        cols["counterfactual_completions"] = draw(st.dictionaries(
            st.sampled_from(["remove", "swap", "noise"]), st.lists(completions, min_size=n, max_size=n), max_size=3))
    elif cf_kind == "odd":
        cols["counterfactual_completions"] = draw(st.one_of(
            scalar, st.dictionaries(text, st.one_of(value, st.lists(completions, max_size=10)), max_size=3)))
    return comps, cols


def check(comps, cols):
    for fn in REWARDS:
        out = fn(prompts=[None] * len(comps), completions=comps, **cols)
        assert isinstance(out, list) and len(out) == len(comps), fn.__name__
        for v in out:
            assert v is None or (isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0), (fn.__name__, v)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_never_raises_and_stays_in_range(batch):
    check(*batch)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches(completions=st.one_of(huge_text, huge_text.map(lambda s: "<answer>" + s + "</answer>"))))
def test_huge_completions(batch):
    comps, cols = batch
    check(comps[:3], {k: (v[:3] if isinstance(v, list) and len(v) == len(comps) else v) for k, v in cols.items()})


@settings(max_examples=200, deadline=None)
@given(st.one_of(text, completion))
def test_parsers_are_total(s):
    for fn in (rewards.parse_level, rewards.parse_choice, rewards.parse_vector, rewards.parse_direction,
               rewards.level_from, rewards.choice_from, rewards.vector_from, rewards.direction_from,
               rewards.completion_text, rewards.answer_of):
        fn(s)
    v = rewards.parse_vector(s)
    assert v is None or (len(v) == 4 and all(math.isfinite(x) for x in v))
    assert isinstance(rewards.completion_text(s), str)


def test_names_are_metric_names():
    assert {fn.__name__ for fn in REWARDS} == NAMES


def test_accepts_trl_extras():
    class State:
        global_step = 3

    logged = []
    extras = dict(completion_ids=[[1, 2, 3]], trainer_state=State(), log_extra=lambda *a, **k: None,
                  log_metric=lambda name, value: logged.append((name, value)), images=[[]], environments=None)
    comps = ["<perceive>p</perceive><conclude>c</conclude><answer>1</answer>"]
    cols = dict(question_type=["level"], answer=["1"], num_levels=[3], option_levels=[[]], contact_id=["c0"],
                property=["hardness"], sensor=["digit"], target=[[0, 0, 0, 1]], options=[[]])
    for fn in REWARDS:
        out = fn(prompts=[[{"role": "user", "content": "How hard?"}]], completions=comps, **cols, **extras)
        assert len(out) == 1
    assert rewards.ordinal_accuracy_reward(prompts=None, completions=comps, **cols, **extras) == [1.0]
    assert rewards.make_touch_format_reward()(prompts=None, completions=comps, **cols, **extras) == [1.0]
    assert logged == []


def test_empty_batch_and_missing_completions():
    for fn in REWARDS:
        assert fn(prompts=[], completions=[]) == []
        assert fn(prompts=None, completions=None) == []


@st.composite
def valid_rows(draw):
    """Well-formed label rows (touch and robot) so that the deep scoring paths run on arbitrary text."""
    k = draw(st.integers(2, 6))
    qtype = draw(st.sampled_from(QTYPES[:9]))
    levels = draw(st.lists(st.integers(0, k - 1), min_size=2 if qtype == "compare" else 3,
                           max_size=2 if qtype == "compare" else 3))
    answer = {"compare": draw(st.sampled_from("AB")), "superlative": draw(st.sampled_from("ABC")),
              "mcq": draw(st.sampled_from("ABCD")), "keypoint": "[0.1, 0.2, 0.3, 1]",
              "current_state": "[0, 0, 0.8, 0]", "direction": draw(st.sampled_from(["move up", "slightly move left"]))
              }.get(qtype, str(draw(st.integers(0, k - 1))))
    return dict(question_type=qtype, answer=answer, num_levels=k, option_levels=levels,
                contact_id=draw(st.sampled_from(["c0", "c1"])), property="hardness",
                sensor=draw(st.sampled_from(["digit", "gelsight_mini", "marker_gel"])),
                target=draw(st.lists(st.floats(-1, 1), min_size=4, max_size=4)), options=[])


answerish = st.one_of(tag_text, st.text(), tag_text.map(lambda s: f"<answer>{s}</answer>"),
                      st.sampled_from(["<answer>0</answer>", "<answer>1</answer>", "<answer>B</answer>",
                                       "<answer>[0.1, 0.2, 0.3, 1]</answer>", "<answer>move up</answer>"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(answerish, valid_rows(), st.lists(answerish, min_size=3, max_size=3)), max_size=8))
def test_well_formed_labels_any_text(rows):
    comps = [c for c, _, _ in rows]
    cols = {k: [r[k] for _, r, _ in rows] for k in COLUMNS}
    cols["counterfactual_completions"] = {v: [cf[i] for _, _, cf in rows]
                                          for i, v in enumerate(["remove", "swap", "noise"])}
    check(comps, cols)
    # a touch/robot reward scores exactly the rows of its own kind
    ordinal = rewards.ordinal_accuracy_reward(None, comps, **cols)
    for v, (_, r, _) in zip(ordinal, rows):
        assert (v is None) == (r["question_type"] not in rewards.columns.TOUCH_TYPES)
