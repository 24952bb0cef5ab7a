"""Text helpers: completion shapes, tag extraction, answer parsers (and every module's doctests)."""

import doctest
import importlib
import pkgutil

import pytest

import rewards
from rewards.text import (choice_from, completion_text, direction_from, extract_tag, level_from, parse_choice,
                          parse_direction, parse_level, parse_vector, vector_from)

MODULES = sorted(f"rewards.{m.name}" for m in pkgutil.iter_modules(rewards.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0


@pytest.mark.parametrize("c, expected", [
    ("plain", "plain"),
    ([{"role": "assistant", "content": "msg"}], "msg"),
    ([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "image"},
                                        {"type": "text", "text": "b"}]}], "ab"),
    ({"role": "assistant", "content": "one"}, "one"),
    (None, ""),
    (12, "12"),
    ([{"role": "assistant", "content": None}], ""),
    ([], ""),
])
def test_completion_text(c, expected):
    assert completion_text(c) == expected


def test_completion_text_odd_objects_never_raise():
    class Bad:
        def __str__(self):
            raise RuntimeError("no")

    assert completion_text(Bad()) == ""
    nested = []
    nested.append(nested)  # self-referencing list
    assert isinstance(completion_text(nested), str)


def test_extract_tag_last_occurrence():
    assert extract_tag("<answer>1</answer><answer>2</answer>", "answer") == "2"
    assert extract_tag("<answer>1</answer><answer>2", "answer") == "1"
    assert extract_tag("</answer><answer>", "answer") is None
    assert extract_tag("", "answer") is None
    assert extract_tag([{"role": "assistant", "content": "<conclude>x</conclude>"}], "conclude") == "x"


@pytest.mark.parametrize("s, expected", [
    ("2", 2), (" level 1 ", 1), ("0", 0), ("-1", -1), ("level-2", 2), ("2.0", 2), ("1.5", None), ("", None),
    ("hard", None), ("9" * 5000, None), ("1e3", None), (True, None), (2, 2), (2.0, 2), (float("nan"), None),
])
def test_level_from(s, expected):
    assert level_from(s) == expected


def test_parse_level_needs_answer_tag():
    assert parse_level("<answer>The level is 2</answer>") == 2
    assert parse_level("2") is None
    assert parse_level("<answer>none</answer>") is None


@pytest.mark.parametrize("s, letters, expected", [
    ("B", "ABCD", "B"), ("(c)", "ABC", "C"), ("b) is the hardest", "ABC", "B"), ("apple", "AB", None),
    ("option D", "ABC", None), ("The answer: A.", "ABCD", "A"), ("", "AB", None),
])
def test_choice_from(s, letters, expected):
    assert choice_from(s, letters) == expected


def test_parse_choice():
    assert parse_choice("<answer>Object B</answer>", "AB") == "B"
    assert parse_choice("<answer>C</answer>", "AB") is None


def test_vector_parsing():
    assert parse_vector("<answer>[0.12, -0.05, 0.91, 1]</answer>") == [0.12, -0.05, 0.91, 1.0]
    assert parse_vector("<answer>[1e-1, +2, .5, 0, 9]</answer>") == [0.1, 2.0, 0.5, 0.0]
    assert parse_vector("<answer>[0.1, NaN, 0, 1]</answer>") is None
    assert parse_vector("<answer>[0.1, -Infinity, 0, 1]</answer>") is None
    assert parse_vector("<answer>[1e999, 0, 0, 1]</answer>") is None
    assert parse_vector("<answer>0.1, 0, 0, 1</answer>") is None
    assert parse_vector("<answer>[0.1, 0, 0</answer>") is None
    assert vector_from([0.1, 0.2, 0.3, 1]) == [0.1, 0.2, 0.3, 1.0]
    assert vector_from([0.1, "x", 0.3, 1]) is None
    assert vector_from("[1, 2, 3]", n=3) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("s, expected", [
    ("move up", "move up"), ("Slightly move backward", "slightly move backward"), ("move back", "move backward"),
    ("moving upwards slightly", "slightly move up"), ("go LEFT", "move left"), ("forward", "move forward"),
    ("stay still", None), ("", None), ("rightward", None),
])
def test_direction_from(s, expected):
    assert direction_from(s) == expected


def test_parse_direction():
    assert parse_direction("<think>dz > 0</think><answer>slightly move down</answer>") == "slightly move down"
    assert parse_direction("move down") is None


def test_huge_input_is_fast():
    import time

    huge = "<answer>" + "9" * 1_000_000 + "[" + "1," * 300_000
    t = time.perf_counter()
    for fn in (parse_level, parse_choice, parse_vector, parse_direction):
        fn(huge)
        fn(huge + "</answer>")
    assert time.perf_counter() - t < 2.0
