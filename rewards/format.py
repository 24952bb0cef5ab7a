"""Structured-format rewards: the touch task's Touch-R1 tags and the robot task's think/answer tags.

Each reward is the mean of a few binary checks, so a completion that gets most of the format right earns
most of the reward, and GRPO sees a gradient towards the format before the format is perfect.
"""

from __future__ import annotations

from typing import Any

from rewards.columns import (ROBOT_TYPES, ROBOT_VECTOR_TYPES, TOUCH_CHOICE_TYPES, TOUCH_LEVEL_TYPES,
                             TOUCH_TYPES, int_list, norm_type, num_levels, score_rows)
from rewards.text import answer_of, choice_from, direction_from, level_from, vector_from

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _positions(text: str, tags: tuple[str, ...]) -> list[int] | None:
    """Open/close positions of each tag in order, or ``None`` unless each occurs exactly once."""
    pos = []
    for t in tags:
        for mark in (f"<{t}>", f"</{t}>"):
            if text.count(mark) != 1:
                return None
            pos.append(text.find(mark))
    return pos


def _increasing(pos: list[int]) -> bool:
    return all(a < b for a, b in zip(pos, pos[1:]))


def _clean_end(text: str) -> bool:
    end = text.rfind("</answer>")
    return end >= 0 and not text[end + len("</answer>"):].strip()


def touch_answer_parses(answer: str | None, question_type: Any, k: Any = None, option_levels: Any = None) -> bool:
    """Whether an answer text is a well-formed answer for a touch question type.

    Level types need an integer (in ``[0, K-1]`` when K is known); ``compare`` a letter A/B;
    ``superlative`` a letter among the options (A/B/C by default); other types any non-blank answer.

    >>> touch_answer_parses("2", "level", 3), touch_answer_parses("5", "level", 3), touch_answer_parses("b", "compare")
    (True, False, True)
    """
    if answer is None:
        return False
    qtype = norm_type(question_type)
    if qtype in TOUCH_LEVEL_TYPES:
        y, kk = level_from(answer), num_levels(k)
        return y is not None and (kk is None or 0 <= y <= kk - 1)
    if qtype in TOUCH_CHOICE_TYPES:
        levels = int_list(option_levels)
        letters = _LETTERS[:len(levels)] if levels and 2 <= len(levels) <= 26 else (
            "AB" if qtype == "compare" else "ABC")
        return choice_from(answer, letters) is not None
    return bool(answer.strip())


def robot_answer_parses(answer: str | None, question_type: Any) -> bool:
    """Whether an answer text is well-formed for a robot question type.

    ``keypoint``/``current_state``: a ``[x, y, z, g]`` vector of 4 finite numbers; ``mcq``: a letter A-D;
    ``direction``: a direction phrase; other types any non-blank answer.

    >>> robot_answer_parses("[0.1, 0, 0.9, 1]", "keypoint"), robot_answer_parses("[0.1, 0]", "keypoint")
    (True, False)
    """
    if answer is None:
        return False
    qtype = norm_type(question_type)
    if qtype in ROBOT_VECTOR_TYPES:
        return vector_from(answer, 4) is not None
    if qtype == "mcq":
        return choice_from(answer, "ABCD") is not None
    if qtype == "direction":
        return direction_from(answer) is not None
    return bool(answer.strip())


def make_touch_format_reward(max_chars: int = 1500):
    """Build ``touch_format_reward``.

    Args:
        max_chars: Longest completion (in characters) that passes the length check.

    Returns:
        The reward function, named ``touch_format_reward``.
    """
    max_chars = int(max_chars)
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")

    def score(text: str, question_type: Any = None, num_levels: Any = None, option_levels: Any = None):
        if norm_type(question_type) in ROBOT_TYPES:
            return None
        with_cmp = text.count("<compare>") == 1 and text.count("</compare>") == 1
        no_cmp = "<compare>" not in text and "</compare>" not in text
        tags = ("perceive", "compare", "conclude", "answer") if with_cmp else ("perceive", "conclude", "answer")
        pos = _positions(text, tags) if (with_cmp or no_cmp) else None
        checks = (
            pos is not None,
            pos is not None and _increasing(pos),
            touch_answer_parses(answer_of(text), question_type, num_levels, option_levels),
            _clean_end(text),
            len(text) <= max_chars,
        )
        return sum(checks) / len(checks)

    def touch_format_reward(prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        """Touch-R1 tag format; range [0, 1] in steps of 0.2, ``None`` for robot rows.

        Mean of five binary checks (each 0 or 1):

        - tags: ``<perceive>``, ``<conclude>``, ``<answer>`` (and their closers) occur exactly once each;
          ``<compare>`` occurs at most once (with its closer);
        - order: perceive, [compare,] conclude, answer, each closed before the next opens;
        - answer: the last ``<answer>`` content parses for the row's ``question_type`` (an integer level in
          ``[0, K-1]``; a letter A/B for compare; a letter among the options for superlative);
        - end: nothing but whitespace after the last ``</answer>``;
        - length: the completion has at most ``max_chars`` characters.

        Text before ``<perceive>`` is not checked. Rows whose ``question_type`` is a robot type get
        ``None``; rows with a missing or unknown type are scored (the answer check then asks only for a
        non-blank answer).

        Args:
            prompts: Unused (TRL signature).
            completions: Strings or conversational message lists.
            **kwargs: Columns ``question_type``, ``num_levels``, ``option_levels``; TRL extras are ignored.

        Returns:
            One score (or ``None``) per completion.
        """
        return score_rows(completions, kwargs, ("question_type", "num_levels", "option_levels"), score)

    touch_format_reward.max_chars = max_chars
    touch_format_reward.reward_range = (0.0, 1.0)
    return touch_format_reward


def make_robot_format_reward(max_chars: int = 1500):
    """Build ``robot_format_reward``.

    Args:
        max_chars: Longest completion (in characters) that passes the length check.

    Returns:
        The reward function, named ``robot_format_reward``.
    """
    max_chars = int(max_chars)
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")

    def score(text: str, question_type: Any = None):
        if norm_type(question_type) in TOUCH_TYPES:
            return None
        pos = _positions(text, ("think", "answer"))
        checks = (
            pos is not None,
            pos is not None and _increasing(pos),
            robot_answer_parses(answer_of(text), question_type),
            _clean_end(text),
            len(text) <= max_chars,
        )
        return sum(checks) / len(checks)

    def robot_format_reward(prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        """Think/answer format of robot answers; range [0, 1] in steps of 0.2, ``None`` for touch rows.

        Mean of five binary checks (each 0 or 1):

        - tags: ``<think>`` and ``<answer>`` (and their closers) occur exactly once each;
        - order: ``<think>...</think>`` closes before ``<answer>`` opens;
        - answer: the answer parses for the row's ``question_type``: a vector of 4 finite numbers
          ``[x, y, z, g]`` for ``keypoint``/``current_state``, a letter A-D for ``mcq``, a direction phrase
          (``"[slightly] move up"``...) for ``direction``; a non-blank answer for other types;
        - end: nothing but whitespace after the last ``</answer>``;
        - length: the completion has at most ``max_chars`` characters.

        Args:
            prompts: Unused (TRL signature).
            completions: Strings or conversational message lists.
            **kwargs: Column ``question_type``; TRL extras are ignored.

        Returns:
            One score (or ``None``) per completion.

        >>> make_robot_format_reward()(None, ["<think>up</think><answer>move up</answer>"], question_type=["direction"])
        [1.0]
        """
        return score_rows(completions, kwargs, ("question_type",), score)

    robot_format_reward.max_chars = max_chars
    robot_format_reward.reward_range = (0.0, 1.0)
    return robot_format_reward
