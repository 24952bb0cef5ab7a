"""tactile_grounded_reward: real vs counterfactual answers."""

import pytest

from rewards.grounded import make_tactile_grounded_reward

binary = make_tactile_grounded_reward()
graded = make_tactile_grounded_reward(mode="graded")


def A(x):
    return f"<perceive>p</perceive><conclude>c</conclude><answer>{x}</answer>"


def cols(n, answer="2", K=3):
    return {"question_type": ["level"] * n, "answer": [answer] * n, "num_levels": [K] * n,
            "option_levels": [[] for _ in range(n)]}


def test_name_and_factory_validation():
    assert binary.__name__ == graded.__name__ == "tactile_grounded_reward"
    with pytest.raises(ValueError):
        make_tactile_grounded_reward(mode="sometimes")
    with pytest.raises(ValueError):
        make_tactile_grounded_reward(margin=float("nan"))


def test_real_better_or_worse_than_counterfactuals():
    # truth 2, K=3. row0: real 2 (1.0) vs cf 0, 1 (0.0, 0.5 -> 0.25): wins.
    # row1: real 1 (0.5) vs cf 2, 2 (1.0): loses. row2: real 2 vs cf 2, 2: tie -> no credit.
    comps = [A(2), A(1), A(2)]
    cf = {"remove": [A(0), A(2), A(2)], "noise": [A(1), A(2), A(2)]}
    assert binary(None, comps, counterfactual_completions=cf, **cols(3)) == [1.0, 0.0, 0.0]
    assert graded(None, comps, counterfactual_completions=cf, **cols(3)) == [0.75, 0.0, 0.0]


def test_margin():
    comps, cf = [A(2)], {"remove": [A(1)]}  # 1.0 vs 0.5
    assert make_tactile_grounded_reward(margin=0.4)(None, comps, counterfactual_completions=cf, **cols(1)) == [1.0]
    assert make_tactile_grounded_reward(margin=0.5)(None, comps, counterfactual_completions=cf, **cols(1)) == [0.0]


def test_unparseable_counterfactual_counts_as_wrong():
    cf = {"swap": ["I cannot tell without touch."]}
    assert binary(None, [A(2)], counterfactual_completions=cf, **cols(1)) == [1.0]


def test_missing_counterfactuals_are_none():
    assert binary(None, [A(2), A(1)], **cols(2)) == [None, None]
    assert binary(None, [A(2), A(1)], counterfactual_completions=None, **cols(2)) == [None, None]
    assert binary(None, [A(2)], counterfactual_completions={}, **cols(1)) == [None]
    assert binary(None, [A(2)], counterfactual_completions=["x"], **cols(1)) == [None]


def test_wrong_length_variants_are_ignored():
    # n = 2: only variants with exactly 2 answers count ('noise' is short, 'swap' is not a list)
    cf = {"remove": [A(2), A(2)], "noise": [A(0)], "swap": "ab"}
    assert binary(None, [A(2), A(1)], counterfactual_completions=cf, **cols(2)) == [0.0, 0.0]
    assert binary(None, [A(2), A(1)], counterfactual_completions={"noise": [A(0)]}, **cols(2)) == [None, None]


def test_non_touch_rows_none_and_message_counterfactuals():
    cf = {"remove": [[{"role": "assistant", "content": A(0)}], A(0)]}
    out = binary(None, [A(2), A(2)], counterfactual_completions=cf, question_type=["level", "mcq"],
                 answer=["2", "2"], num_levels=[3, 3], option_levels=[[], []])
    assert out == [1.0, None]


def test_compare_rows():
    kw = {"question_type": ["compare"] * 2, "answer": ["A"] * 2, "num_levels": [3] * 2,
          "option_levels": [[2, 0]] * 2}
    cf = {"remove": [A("B"), A("A")]}
    assert binary(None, [A("A"), A("A")], counterfactual_completions=cf, **kw) == [1.0, 0.0]
