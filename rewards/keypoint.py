"""Robot keypoint rewards (Robot-R1 style): continuous next keypoint, 4-option MCQ, movement direction."""

from __future__ import annotations

import math
from typing import Any

from rewards.columns import ROBOT_VECTOR_TYPES, norm_type, score_rows
from rewards.text import choice_from, direction_from, parse_choice, parse_direction, parse_vector, vector_from


def _gripper(g: float) -> int:
    """Open (0) / closed (1) from a gripper value: clip to [0, 1], then 1 from 0.5 up."""
    return 1 if min(1.0, max(0.0, g)) >= 0.5 else 0


def keypoint_score(pred: list[float] | None, target: list[float] | None, tau: float, gripper_weight: float) -> float:
    """``(1 - w) * max(0, 1 - ||p_hat - p||_2 / tau) + w * [g_hat == g]``; 0 if either vector is missing.

    >>> keypoint_score([0.05, 0, 0, 1], [0, 0, 0, 1], tau=0.1, gripper_weight=0.25)
    0.625
    """
    if pred is None or target is None:
        return 0.0
    dist = math.dist(pred[:3], target[:3])
    pos = max(0.0, 1.0 - dist / tau) if math.isfinite(dist) else 0.0
    return (1.0 - gripper_weight) * pos + gripper_weight * float(_gripper(pred[3]) == _gripper(target[3]))


class KeypointReward:
    """Closeness of a predicted ``[x, y, z, g]`` keypoint; range [0, 1], ``None`` for other rows.

    For ``keypoint`` and ``current_state`` rows, with ``p_hat, g_hat`` the first 4 finite numbers inside
    ``[...]`` of the answer and ``p, g`` the ``target`` column (or, if that is malformed, the vector in
    the ``answer`` column):

    - position: ``(1 - w) * max(0, 1 - ||p_hat - p||_2 / tau)``, in [0, 1 - w];
    - gripper: ``w * [round(clip(g_hat, 0, 1)) == round(clip(g, 0, 1))]``, in {0, w}
      (rounding sends 0.5 up to closed);
    - sum in [0, 1]; 0 if the answer has no 4-vector (or holds NaN/inf) or the target is malformed.

    Label columns: ``question_type``, ``target``, ``answer``. A callable class rather than a closure, so that
    it pickles (as TRL's parameterised rewards do).

    Args:
        tau: Distance (metres) at which the position term reaches 0.
        gripper_weight: Weight ``w`` of the gripper term, in [0, 1].

    Raises:
        ValueError: For ``tau`` not positive and finite or ``gripper_weight`` outside [0, 1].

    >>> KeypointReward()(None, ["<answer>[0.05, 0, 0, 1]</answer>"], question_type=["keypoint"], target=[[0, 0, 0, 1]])
    [0.625]
    """

    __name__ = "keypoint_reward"
    reward_range = (0.0, 1.0)

    def __init__(self, tau: float = 0.10, gripper_weight: float = 0.25):
        self.tau, self.gripper_weight = float(tau), float(gripper_weight)
        if not (math.isfinite(self.tau) and self.tau > 0):
            raise ValueError(f"tau must be a positive finite distance, got {tau}")
        if not (0.0 <= self.gripper_weight <= 1.0):
            raise ValueError(f"gripper_weight must be in [0, 1], got {gripper_weight}")

    def score(self, text: str, question_type: Any = None, target: Any = None, answer: Any = None) -> float | None:
        """The keypoint score of one completion, or ``None`` for a row that is not a vector question."""
        if norm_type(question_type) not in ROBOT_VECTOR_TYPES:
            return None
        truth = vector_from(target, 4)
        if truth is None:
            truth = vector_from(answer, 4)
        return keypoint_score(parse_vector(text, 4), truth, self.tau, self.gripper_weight)

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        """Score a batch in TRL's signature.

        Args:
            prompts: Unused (TRL signature).
            completions: Strings or conversational message lists.
            **kwargs: Columns ``question_type``, ``target``, ``answer``; TRL extras are ignored.

        Returns:
            One score (or ``None``) per completion.
        """
        return score_rows(completions, kwargs, ("question_type", "target", "answer"), self.score)

    def __repr__(self) -> str:
        return f"KeypointReward(tau={self.tau}, gripper_weight={self.gripper_weight})"


def make_keypoint_reward(tau: float = 0.10, gripper_weight: float = 0.25) -> KeypointReward:
    """Build ``keypoint_reward`` (a :class:`KeypointReward`).

    Args:
        tau: Distance (metres) at which the position term reaches 0.
        gripper_weight: Weight ``w`` of the gripper term, in [0, 1].

    Returns:
        The reward, named ``keypoint_reward``.

    >>> make_keypoint_reward()(None, ["<answer>[0.05, 0, 0, 1]</answer>"], question_type=["keypoint"],
    ...                        target=[[0, 0, 0, 1]])
    [0.625]
    """
    return KeypointReward(tau, gripper_weight)


def _mcq_score(text: str, question_type: Any = None, answer: Any = None):
    if norm_type(question_type) != "mcq":
        return None
    truth = choice_from(answer, "ABCD")
    return float(truth is not None and parse_choice(text, "ABCD") == truth)


def mcq_reward(prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
    """Exact match of the chosen option letter; {0, 1}, ``None`` for non-``mcq`` rows.

    - 1 if the first standalone letter A-D of the answer (case-insensitive) equals the ``answer`` column's
      letter, else 0 (also 0 for an unparseable answer or a malformed label).

    Args:
        prompts: Unused (TRL signature).
        completions: Strings or conversational message lists.
        **kwargs: Columns ``question_type``, ``answer``; TRL extras are ignored.

    Returns:
        One score (or ``None``) per completion.

    >>> mcq_reward(None, ["<answer>(c)</answer>", "<answer>B</answer>", "x"], question_type=["mcq", "mcq", "keypoint"],
    ...            answer=["C", "C", "[0, 0, 0, 1]"])
    [1.0, 0.0, None]
    """
    return score_rows(completions, kwargs, ("question_type", "answer"), _mcq_score)


mcq_reward.reward_range = (0.0, 1.0)


class DirectionReward:
    """Movement direction match; values {0, partial, 1}, ``None`` for non-``direction`` rows.

    Answers are normalised to ``"[slightly ]move <forward|backward|left|right|up|down>"``:

    - 1 if the normalised answer equals the normalised ``answer`` column;
    - ``partial`` if the direction (axis and sign) matches but "slightly" differs;
    - 0 otherwise, and for unparseable answers or malformed labels.

    Label columns: ``question_type``, ``answer``. A callable class rather than a closure, so that it pickles.

    Args:
        partial: Credit, in [0, 1], for the right direction with the wrong magnitude ("slightly" or not).

    Raises:
        ValueError: For ``partial`` outside [0, 1].

    >>> DirectionReward()(None, ["<answer>move up</answer>"], question_type=["direction"], answer=["slightly move up"])
    [0.5]
    """

    __name__ = "direction_reward"
    reward_range = (0.0, 1.0)

    def __init__(self, partial: float = 0.5):
        self.partial = float(partial)
        if not (0.0 <= self.partial <= 1.0):
            raise ValueError(f"partial must be in [0, 1], got {partial}")

    def score(self, text: str, question_type: Any = None, answer: Any = None) -> float | None:
        """The direction score of one completion, or ``None`` for a row that is not a direction question."""
        if norm_type(question_type) != "direction":
            return None
        truth, pred = direction_from(answer), parse_direction(text)
        if truth is None or pred is None:
            return 0.0
        if pred == truth:
            return 1.0
        return self.partial if pred.split()[-1] == truth.split()[-1] else 0.0

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        """Score a batch in TRL's signature.

        Args:
            prompts: Unused (TRL signature).
            completions: Strings or conversational message lists.
            **kwargs: Columns ``question_type``, ``answer``; TRL extras are ignored.

        Returns:
            One score (or ``None``) per completion.
        """
        return score_rows(completions, kwargs, ("question_type", "answer"), self.score)

    def __repr__(self) -> str:
        return f"DirectionReward(partial={self.partial})"


def make_direction_reward(partial: float = 0.5) -> DirectionReward:
    """Build ``direction_reward`` (a :class:`DirectionReward`).

    Args:
        partial: Credit, in [0, 1], for the right direction with the wrong magnitude ("slightly" or not).

    Returns:
        The reward, named ``direction_reward``.

    >>> make_direction_reward()(None, ["<answer>move up</answer>"], question_type=["direction"],
    ...                         answer=["slightly move up"])
    [0.5]
    """
    return DirectionReward(partial)
