"""Ordinal-aware accuracy for the touch task (Touch-R1's first reward).

A near miss on an ordinal scale is better than a far one: answering "moderately hard" for a hard object
earns half credit on a 3-level scale, answering "soft" earns none.
"""

from __future__ import annotations

from typing import Any

from rewards.columns import TOUCH_CHOICE_TYPES, TOUCH_LEVEL_TYPES, int_list, norm_type, option_letters, score_rows
from rewards.columns import num_levels as scale_size  # the scorer's parameter is named num_levels
from rewards.text import choice_from, level_from, parse_choice, parse_level

LABEL_COLUMNS = ("question_type", "answer", "num_levels", "option_levels")


def level_score(y_hat: int | None, y: int | None, k: int | None) -> float:
    """``1 - |y_hat - y| / (K - 1)`` in [0, 1]; 0 if either level is missing or outside ``[0, K-1]``.

    >>> level_score(2, 0, 3), level_score(2, 1, 3), level_score(1, 1, 3), level_score(3, 1, 3)
    (0.0, 0.5, 1.0, 0.0)
    """
    if k is None or k < 2 or y_hat is None or y is None:
        return 0.0
    if not (0 <= y_hat <= k - 1 and 0 <= y <= k - 1):
        return 0.0
    return max(0.0, min(1.0, 1.0 - abs(y_hat - y) / (k - 1)))


def _correct_letter(answer: Any, letters: str, levels: list[int] | None) -> str | None:
    """The canonical letter: the ``answer`` column, else the unique highest option of ``option_levels``."""
    c = choice_from(answer, letters)
    if c is not None or levels is None or len(levels) != len(letters):
        return c
    top = max(levels)
    return letters[levels.index(top)] if levels.count(top) == 1 else None


def ordinal_score(text: str, question_type: Any = None, answer: Any = None, num_levels: Any = None,
                  option_levels: Any = None) -> float | None:
    """Ordinal accuracy of one completion (the per-row scorer of :func:`ordinal_accuracy_reward`).

    Args:
        text: The completion text.
        question_type, answer, num_levels, option_levels: The row's label values (docs/CONTRACTS.md).

    Returns:
        A score in [0, 1], or ``None`` if ``question_type`` is not a touch question type.

    >>> ordinal_score("<answer>1</answer>", "level", "2", 3)
    0.5
    >>> ordinal_score("<answer>B</answer>", "superlative", "A", 3, [2, 1, 0])
    0.5
    """
    qtype = norm_type(question_type)
    k = scale_size(num_levels)
    if qtype in TOUCH_LEVEL_TYPES:
        return level_score(parse_level(text), level_from(answer), k)
    if qtype not in TOUCH_CHOICE_TYPES:
        return None
    levels = int_list(option_levels)
    letters = option_letters(qtype, levels)
    if levels is not None and len(levels) != len(letters):
        levels = None
    correct = _correct_letter(answer, letters, levels)
    chosen = parse_choice(text, letters)
    if correct is None or chosen is None:
        return 0.0
    if chosen == correct:
        return 1.0
    if qtype == "compare" or levels is None or k is None:
        return 0.0
    # Superlative partial credit: how far the chosen option's level is from the correct option's level.
    return level_score(levels[letters.index(chosen)], levels[letters.index(correct)], k)


def ordinal_accuracy_reward(prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
    """Ordinal-aware accuracy of touch answers; range [0, 1] per row, ``None`` for non-touch rows.

    Components by ``question_type`` (answer = last ``<answer>`` content; K = ``num_levels``):

    - ``level`` / ``conflict`` / ``cross_sensor``: ``1 - |y_hat - y| / (K - 1)`` in [0, 1], where ``y_hat``
      is the first integer of the answer and ``y`` the ``answer`` column. 0 if ``y_hat`` is missing or
      outside ``[0, K-1]``, or if K < 2 or the label is malformed.
    - ``compare``: {0, 1}; 1 if the chosen letter (A/B) is the ``answer`` column's letter (the option with
      the higher level for a "which is harder" question). If ``answer`` is missing, the unique highest
      option of ``option_levels`` is taken as correct.
    - ``superlative``: [0, 1]; ``1 - |level(chosen) - level(correct)| / (K - 1)`` with levels from
      ``option_levels``. For a "which is the hardest" question this is ``1 - (max_level - level(chosen)) /
      (K - 1)``: the correct option earns 1, an option one level below the maximum earns ``1 - 1/(K-1)``.
      Written against the correct option rather than the maximum so that "which is the softest" questions
      are scored the same way. Without usable ``option_levels`` it falls back to exact match {0, 1}.
    - any other (or missing) ``question_type``: ``None`` (not a touch row).

    Unparseable answers and malformed labels score 0; the function never raises.

    Args:
        prompts: Unused (TRL signature).
        completions: Strings or conversational message lists.
        **kwargs: Label columns ``question_type``, ``answer``, ``num_levels``, ``option_levels``; TRL extras
            (``completion_ids``, ``trainer_state``, ``log_extra``, ``log_metric``) are ignored.

    Returns:
        One score (or ``None``) per completion.

    >>> ordinal_accuracy_reward(None, ["<answer>2</answer>", "<answer>1</answer>"], question_type=["level"] * 2,
    ...                         answer=["0", "1"], num_levels=[3, 3], option_levels=[[], []])
    [0.0, 1.0]
    """
    return score_rows(completions, kwargs, LABEL_COLUMNS, ordinal_score)


ordinal_accuracy_reward.reward_range = (0.0, 1.0)


def exact_accuracy_reward(prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
    """Exact-match accuracy of touch answers, {0, 1} per row: 1 for the correct level or option, else 0.

    The ordinal reward without partial credit, for the ablation "exact match instead of the ordinal reward"
    (``touch.rewards.ordinal_accuracy_reward=0 touch.rewards.exact_accuracy_reward=1``; its default weight in the
    touch table is 0). Rows, parsing and labels are read exactly as :func:`ordinal_accuracy_reward` reads them;
    ``None`` for non-touch rows; never raises.

    >>> exact_accuracy_reward(None, ["<answer>2</answer>", "<answer>1</answer>", "<answer>1</answer>"],
    ...                       question_type=["level", "level", "keypoint"], answer=["1", "1", "1"],
    ...                       num_levels=[3, 3, 3], option_levels=[[], [], []])
    [0.0, 1.0, None]
    """
    scores = ordinal_accuracy_reward(prompts, completions, **kwargs)
    return [None if s is None else float(s >= 1.0) for s in scores]


exact_accuracy_reward.reward_range = (0.0, 1.0)
