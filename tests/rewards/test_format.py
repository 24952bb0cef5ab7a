"""touch_format_reward and robot_format_reward: each check's contribution, and the rows each calls its own."""

import pytest

from rewards.format import make_robot_format_reward, make_touch_format_reward

touch = make_touch_format_reward(max_chars=200)
robot = make_robot_format_reward(max_chars=200)

GOOD = "<perceive>deep imprint</perceive>\n<conclude>hard</conclude>\n<answer>2</answer>\n"
GOOD_CMP = "<perceive>p</perceive><compare>vs scale</compare><conclude>c</conclude><answer>1</answer>"


def t(comps, qtype="level", K=3, opts=None):
    n = len(comps)
    return touch(None, comps, question_type=[qtype] * n, num_levels=[K] * n, option_levels=[opts or []] * n)


def test_names():
    assert touch.__name__ == "touch_format_reward"
    assert robot.__name__ == "robot_format_reward"


def test_touch_perfect():
    assert t([GOOD, GOOD_CMP]) == [1.0, 1.0]
    assert t(["<perceive>p</perceive><conclude>c</conclude><answer>B</answer>"], "compare", opts=[0, 1]) == [1.0]
    assert t(["<perceive>p</perceive><conclude>c</conclude><answer>(c)</answer>"], "superlative") == [1.0]


@pytest.mark.parametrize("text, expected", [
    # answer unparseable for a level row: 4/5
    ("<perceive>p</perceive><conclude>c</conclude><answer>hard</answer>", 0.8),
    # level out of range for K=3: 4/5
    ("<perceive>p</perceive><conclude>c</conclude><answer>3</answer>", 0.8),
    # trailing text: 4/5
    (GOOD + "extra", 0.8),
    # wrong order (conclude before perceive): tags ok, order fails -> 4/5
    ("<conclude>c</conclude><perceive>p</perceive><answer>2</answer>", 0.8),
    # compare after conclude: order fails
    ("<perceive>p</perceive><conclude>c</conclude><compare>x</compare><answer>2</answer>", 0.8),
    # duplicated perceive: tags and order fail -> 3/5
    ("<perceive>p</perceive><perceive>p</perceive><conclude>c</conclude><answer>2</answer>", 0.6),
    # missing conclude: tags and order fail -> 3/5
    ("<perceive>p</perceive><answer>2</answer>", 0.6),
    # nothing but a bare number: only length passes
    ("2", 0.2),
    ("", 0.2),
    # too long: 4/5
    ("<perceive>" + "x" * 300 + "</perceive><conclude>c</conclude><answer>2</answer>", 0.8),
])
def test_touch_partial_credit(text, expected):
    assert t([text]) == pytest.approx([expected])


def test_touch_scores_only_its_question_types():
    out = touch(None, [GOOD] * 4, question_type=["keypoint", None, "LEVEL ", "riddle"], num_levels=[3] * 4,
                option_levels=[[]] * 4)
    assert out == [None, None, 1.0, None]


def test_a_third_tasks_rows_are_neither_formats_own():
    """Rows of question types that neither task lists get None from both format rewards, even when they are
    written in exactly that reward's format (before, each format reward scored every row not of the other task)."""
    comps = [GOOD, ROBOT_GOOD["mcq"], "<answer>7</answer>", ""]
    cols = dict(question_type=["count", "count", "echo", None], num_levels=[3] * 4, option_levels=[[]] * 4)
    assert touch(None, comps, **cols) == [None] * 4
    assert robot(None, comps, **cols) == [None] * 4


def test_the_task_chooses_the_question_types():
    own = make_touch_format_reward(max_chars=200, question_types=["count"])
    out = own(None, [GOOD, GOOD], question_type=["count", "level"], num_levels=[3, 3], option_levels=[[], []])
    assert out == [1.0, None]  # "count" is scored (a non-blank answer), "level" is no longer its own
    with pytest.raises(ValueError, match="question_types"):
        make_robot_format_reward(question_types=[])


ROBOT_GOOD = {
    "keypoint": "<think>lift</think>\n<answer>[0.120, -0.050, 0.910, 1]</answer>",
    "current_state": "<think>t</think><answer>[0, 0, 0.8, 0]</answer>",
    "mcq": "<think>t</think><answer>C</answer>",
    "direction": "<think>t</think><answer>slightly move backward</answer>  \n",
}


@pytest.mark.parametrize("qtype", sorted(ROBOT_GOOD))
def test_robot_perfect(qtype):
    assert robot(None, [ROBOT_GOOD[qtype]], question_type=[qtype]) == [1.0]


@pytest.mark.parametrize("qtype, text, expected", [
    ("keypoint", "<think>t</think><answer>[0.1, 0.2, 0.3]</answer>", 0.8),
    ("keypoint", "<think>t</think><answer>[0.1, nan, 0.3, 1]</answer>", 0.8),
    ("mcq", "<think>t</think><answer>E</answer>", 0.8),
    ("direction", "<think>t</think><answer>stay</answer>", 0.8),
    ("mcq", "<answer>A</answer><think>t</think>", 0.6),  # order fails, and text after </answer>
    ("mcq", "<answer>A</answer>", 0.6),
    ("mcq", "<think>" + "x" * 300 + "</think><answer>A</answer>", 0.8),
])
def test_robot_partial_credit(qtype, text, expected):
    assert robot(None, [text], question_type=[qtype]) == pytest.approx([expected])


def test_robot_skips_touch_rows():
    assert robot(None, [ROBOT_GOOD["mcq"]] * 3, question_type=["level", "mcq", None]) == [None, 1.0, None]


def test_factory_validates():
    with pytest.raises(ValueError):
        make_touch_format_reward(0)
    with pytest.raises(ValueError):
        make_robot_format_reward(-5)
