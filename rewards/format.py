"""Structured-format rewards: the touch task's Touch-R1 tags and the robot task's think/answer tags.

Both are one scorer, :class:`FormatReward`: the mean of five binary checks (tags, order, answer, end, length),
so a completion that gets most of the format right earns most of the reward, and GRPO sees a gradient towards
the format before the format is perfect. A subclass names the reward and gives its tag layout and its answer
check. Each scores only the question types its task hands it (``question_types``) and returns ``None`` for
any other row, so a row of a third task is never scored by a format it does not use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rewards.columns import (ROBOT_TYPES, ROBOT_VECTOR_TYPES, TOUCH_CHOICE_TYPES, TOUCH_LEVEL_TYPES,
                             TOUCH_TYPES, norm_type, num_levels, option_letters, score_rows, type_set)
from rewards.text import answer_of, choice_from, direction_from, level_from, vector_from


def _positions(text: str, layout: tuple[tuple[str, bool], ...]) -> list[int] | None:
    """Open/close positions of the tags present, in layout order; ``None`` unless each required tag occurs
    exactly once and each optional one exactly once or not at all (both its opener and its closer)."""
    pos = []
    for tag, optional in layout:
        marks = (f"<{tag}>", f"</{tag}>")
        counts = [text.count(m) for m in marks]
        if optional and counts == [0, 0]:
            continue
        if counts != [1, 1]:
            return None
        pos += [text.find(m) for m in marks]
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
        return choice_from(answer, option_letters(qtype, option_levels)) is not None
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


class FormatReward:
    """The five-check format scorer that :class:`TouchFormatReward` and :class:`RobotFormatReward` share.

    A subclass sets ``__name__`` (the logged reward name), ``layout`` (tags in their required order, each
    with whether it is optional), ``columns`` (the label columns its answer check reads) and
    :meth:`answer_parses`. Instances are plain picklable objects (no closures), so they travel to worker
    processes as TRL's own parameterised rewards do.

    Args:
        question_types: The question types this reward scores (given by its task); other rows get ``None``.
        max_chars: Longest completion (in characters) that passes the length check.

    Raises:
        ValueError: For ``max_chars`` < 1 or no question types.
    """

    __name__ = "format_reward"
    reward_range = (0.0, 1.0)
    layout: tuple[tuple[str, bool], ...] = (("answer", False),)
    columns: tuple[str, ...] = ("question_type",)

    def __init__(self, question_types: Iterable[str], max_chars: int = 1500):
        self.question_types = type_set(question_types)
        self.max_chars = int(max_chars)
        if self.max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {max_chars}")

    def answer_parses(self, answer: str | None, question_type: Any, **row: Any) -> bool:
        """Whether the answer text is well-formed for the row (the third check)."""
        raise NotImplementedError

    def score(self, text: str, question_type: Any = None, **row: Any) -> float | None:
        """The mean of the five checks for one completion, or ``None`` for a row of another question type."""
        if norm_type(question_type) not in self.question_types:
            return None
        pos = _positions(text, self.layout)
        checks = (
            pos is not None,
            pos is not None and _increasing(pos),
            self.answer_parses(answer_of(text), question_type, **row),
            _clean_end(text),
            len(text) <= self.max_chars,
        )
        return sum(checks) / len(checks)

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        """Score a batch in TRL's signature.

        Args:
            prompts: Unused (TRL signature).
            completions: Strings or conversational message lists.
            **kwargs: The label columns named in ``columns``; TRL extras are ignored.

        Returns:
            One score (or ``None``) per completion.
        """
        return score_rows(completions, kwargs, self.columns, self.score)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(question_types={sorted(self.question_types)}, max_chars={self.max_chars})"


class TouchFormatReward(FormatReward):
    """Touch-R1 tag format; range [0, 1] in steps of 0.2, ``None`` for rows of other question types.

    Mean of five binary checks (each 0 or 1):

    - tags: ``<perceive>``, ``<conclude>``, ``<answer>`` (and their closers) occur exactly once each;
      ``<compare>`` occurs at most once (with its closer);
    - order: perceive, [compare,] conclude, answer, each closed before the next opens;
    - answer: the last ``<answer>`` content parses for the row's ``question_type`` (an integer level in
      ``[0, K-1]``; a letter A/B for compare; a letter among the options for superlative; a non-blank answer
      for another type the task lists);
    - end: nothing but whitespace after the last ``</answer>``;
    - length: the completion has at most ``max_chars`` characters.

    Text before ``<perceive>`` is not checked. Rows whose ``question_type`` is not one of ``question_types``
    (missing, unknown, another task's) get ``None``. Label columns: ``question_type``, ``num_levels``,
    ``option_levels``.

    Args:
        question_types: The touch task's question types (default: those of :data:`rewards.columns.TOUCH_TYPES`).
        max_chars: Longest completion (in characters) that passes the length check.
    """

    __name__ = "touch_format_reward"
    layout = (("perceive", False), ("compare", True), ("conclude", False), ("answer", False))
    columns = ("question_type", "num_levels", "option_levels")

    def __init__(self, question_types: Iterable[str] = TOUCH_TYPES, max_chars: int = 1500):
        super().__init__(question_types, max_chars)

    def answer_parses(self, answer, question_type, num_levels=None, option_levels=None, **row) -> bool:
        return touch_answer_parses(answer, question_type, num_levels, option_levels)


class RobotFormatReward(FormatReward):
    """Think/answer format of robot answers; range [0, 1] in steps of 0.2, ``None`` for other question types.

    Mean of five binary checks (each 0 or 1):

    - tags: ``<think>`` and ``<answer>`` (and their closers) occur exactly once each;
    - order: ``<think>...</think>`` closes before ``<answer>`` opens;
    - answer: the answer parses for the row's ``question_type``: a vector of 4 finite numbers
      ``[x, y, z, g]`` for ``keypoint``/``current_state``, a letter A-D for ``mcq``, a direction phrase
      (``"[slightly] move up"``...) for ``direction``; a non-blank answer for another type the task lists;
    - end: nothing but whitespace after the last ``</answer>``;
    - length: the completion has at most ``max_chars`` characters.

    Rows whose ``question_type`` is not one of ``question_types`` get ``None``. Label column:
    ``question_type``.

    Args:
        question_types: The robot task's question types (default: those of :data:`rewards.columns.ROBOT_TYPES`).
        max_chars: Longest completion (in characters) that passes the length check.

    >>> RobotFormatReward()(None, ["<think>up</think><answer>move up</answer>"], question_type=["direction"])
    [1.0]
    """

    __name__ = "robot_format_reward"
    layout = (("think", False), ("answer", False))
    columns = ("question_type",)

    def __init__(self, question_types: Iterable[str] = ROBOT_TYPES, max_chars: int = 1500):
        super().__init__(question_types, max_chars)

    def answer_parses(self, answer, question_type, **row) -> bool:
        return robot_answer_parses(answer, question_type)


def make_touch_format_reward(max_chars: int = 1500, question_types: Iterable[str] = TOUCH_TYPES):
    """Build ``touch_format_reward`` (a :class:`TouchFormatReward`).

    Args:
        max_chars: Longest completion (in characters) that passes the length check.
        question_types: The question types it scores; other rows get ``None``.

    Returns:
        The reward, named ``touch_format_reward``.
    """
    return TouchFormatReward(question_types, max_chars)


def make_robot_format_reward(max_chars: int = 1500, question_types: Iterable[str] = ROBOT_TYPES):
    """Build ``robot_format_reward`` (a :class:`RobotFormatReward`).

    Args:
        max_chars: Longest completion (in characters) that passes the length check.
        question_types: The question types it scores; other rows get ``None``.

    Returns:
        The reward, named ``robot_format_reward``.

    >>> make_robot_format_reward()(None, ["<think>up</think><answer>move up</answer>"], question_type=["direction"])
    [1.0]
    """
    return RobotFormatReward(question_types, max_chars)
