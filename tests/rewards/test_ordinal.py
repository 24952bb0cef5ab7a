"""ordinal_accuracy_reward: exact values of its formula."""

import pytest

from rewards.ordinal import ordinal_accuracy_reward, ordinal_score


def A(x):
    return f"<perceive>p</perceive><conclude>c</conclude><answer>{x}</answer>"


def level_rows(n, K=3, qtype="level"):
    return {"question_type": [qtype] * n, "num_levels": [K] * n, "option_levels": [[] for _ in range(n)]}


@pytest.mark.parametrize("qtype", ["level", "conflict", "cross_sensor"])
def test_level_formula_K3(qtype):
    comps = [A(2), A(2), A(2), A(0), A("hard"), A(3), A(-1)]
    truth = ["0", "1", "2", "2", "2", "2", "0"]
    out = ordinal_accuracy_reward(None, comps, answer=truth, **level_rows(7, 3, qtype))
    assert out == [0.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_level_formula_K5():
    out = ordinal_accuracy_reward(None, [A(1), A(4), A(3)], answer=["3", "0", 3], **level_rows(3, 5))
    assert out == [0.5, 0.0, 1.0]


@pytest.mark.parametrize("K", [0, 1, None, "x", -3])
def test_degenerate_scale_scores_zero(K):
    assert ordinal_accuracy_reward(None, [A(0)], answer=["0"], **level_rows(1, K)) == [0.0]


def test_missing_or_bad_label_scores_zero():
    rows = level_rows(3)
    assert ordinal_accuracy_reward(None, [A(1)] * 3, answer=[None, "soft", "7"], **rows) == [0.0, 0.0, 0.0]
    assert ordinal_accuracy_reward(None, [A(1)] * 3, **rows) == [0.0, 0.0, 0.0]
    assert ordinal_accuracy_reward(None, [A(1)] * 3, answer=["1"], **rows) == [0.0, 0.0, 0.0]  # wrong length


def test_compare_is_binary():
    comps = [A("B"), A("A"), A("b) is harder"), A("neither")]
    out = ordinal_accuracy_reward(None, comps, question_type=["compare"] * 4, answer=["B"] * 4,
                                  num_levels=[3] * 4, option_levels=[[0, 2]] * 4)
    assert out == [1.0, 0.0, 1.0, 0.0]


def test_compare_without_answer_uses_higher_option():
    out = ordinal_accuracy_reward(None, [A("A"), A("B")], question_type=["compare"] * 2, answer=[None, None],
                                  num_levels=[3, 3], option_levels=[[2, 1], [2, 1]])
    assert out == [1.0, 0.0]


def test_superlative_partial_credit():
    # hardest of A=1, B=2, C=0 on K=3 is B; A is one level below (0.5), C two levels (0.0)
    comps = [A("B"), A("A"), A("C"), A("D"), A("")]
    out = ordinal_accuracy_reward(None, comps, question_type=["superlative"] * 5, answer=["B"] * 5,
                                  num_levels=[3] * 5, option_levels=[[1, 2, 0]] * 5)
    assert out == [1.0, 0.5, 0.0, 0.0, 0.0]


def test_superlative_K5_and_softest_question():
    # K=5, levels A=4, B=1, C=3, "hardest" -> A; C is 1 below -> 0.75; B 3 below -> 0.25
    kw = dict(question_type=["superlative"] * 3, num_levels=[5] * 3, option_levels=[[4, 1, 3]] * 3)
    assert ordinal_accuracy_reward(None, [A("A"), A("C"), A("B")], answer=["A"] * 3, **kw) == [1.0, 0.75, 0.25]
    # "softest" -> B is correct; C is 2 levels away from B -> 0.5
    assert ordinal_accuracy_reward(None, [A("B"), A("C")], answer=["B"] * 2, **{k: v[:2] for k, v in kw.items()}) \
        == [1.0, 0.5]


def test_superlative_without_option_levels_is_exact_match():
    out = ordinal_accuracy_reward(None, [A("A"), A("B")], question_type=["superlative"] * 2, answer=["A"] * 2,
                                  num_levels=[3, 3], option_levels=[None, "junk"])
    assert out == [1.0, 0.0]


def test_non_touch_rows_are_none_and_message_completions():
    comps = [[{"role": "assistant", "content": A(1)}], A(1), A(1)]
    out = ordinal_accuracy_reward(None, comps, question_type=["level", "keypoint", None], answer=["1"] * 3,
                                  num_levels=[3] * 3, option_levels=[[]] * 3)
    assert out == [1.0, None, None]


def test_last_answer_counts():
    assert ordinal_score("<answer>0</answer> wait <answer>2</answer>", "level", "2", 3) == 1.0
