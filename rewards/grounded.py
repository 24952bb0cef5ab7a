"""Tactile-use reward (Touch-R1's fourth reward): credit only when the real touch input matters.

A policy can score well on the ordinal reward from priors alone (the object's look, the question's
wording). This reward pays only when the answer on the real tactile input is better than the policy's own
answers on counterfactual inputs (tactile removed, swapped with another contact's, or noise-masked), which
the core generates through its counterfactual hook (docs/CONTRACTS.md, "Counterfactual hook").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rewards.columns import batch_size, column, finish
from rewards.ordinal import LABEL_COLUMNS, ordinal_score
from rewards.text import completion_text

MODES = ("binary", "graded")


class TactileGroundedReward:
    """Whether the real tactile input beats the counterfactuals; {0, 1} (binary) or [0, 1] (graded).

    Per row, with ``ordinal_score`` the per-row scorer of ``ordinal_accuracy_reward``:

    - ``s_real`` = ordinal score of the completion, in [0, 1];
    - ``s_cf`` = mean over the counterfactual variants of the ordinal score of that variant's answer
      for the row, in [0, 1];
    - binary mode: ``1 if s_real > s_cf + margin else 0``; graded mode: ``clip(s_real - s_cf, 0, 1)``.

    So a correct answer earns nothing if the policy was also correct without touch, and a wrong answer
    never earns anything. ``None`` (drops out of the weighted sum rather than punishing) for every row
    when ``counterfactual_completions`` is missing, not a mapping, or has no variant whose list has one
    answer per row (variants of the wrong length are ignored); also ``None`` for non-touch rows (those
    ``ordinal_accuracy_reward`` does not score). Label columns: ``question_type``, ``answer``,
    ``num_levels``, ``option_levels``.

    A callable class rather than a closure, so that it pickles (TRL 1.16 does the same in ``trl/rewards``).

    Args:
        margin: How much the real answer's ordinal score must exceed the counterfactual mean (binary mode).
        mode: ``"binary"`` (1 if the real input wins by more than ``margin``, else 0) or ``"graded"``
            (``clip(s_real - s_cf, 0, 1)``).

    Raises:
        ValueError: For an unknown ``mode`` or a non-finite ``margin`` (a configuration error).
    """

    __name__ = "tactile_grounded_reward"
    reward_range = (0.0, 1.0)

    def __init__(self, margin: float = 0.0, mode: str = "binary"):
        self.margin = float(margin)
        if not math.isfinite(self.margin):
            raise ValueError(f"margin must be finite, got {margin}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def __call__(self, prompts: Any = None, completions: Any = None,
                 counterfactual_completions: Mapping[str, list] | None = None, **kwargs: Any) -> list[float | None]:
        """Score a batch in TRL's signature.

        Args:
            prompts: Unused (TRL signature).
            completions: Strings or conversational message lists.
            counterfactual_completions: ``{variant name: [answer text per row]}``, or one ``{variant name:
                answer text}`` per row (as the core's rollout hands it over).
            **kwargs: Columns ``question_type``, ``answer``, ``num_levels``, ``option_levels``; TRL extras
                are ignored.

        Returns:
            One score (or ``None``) per completion.
        """
        n = batch_size(completions)
        try:
            return _grounded(completions, counterfactual_completions, kwargs, n, self.margin, self.mode)
        except Exception:  # noqa: BLE001 - never raise; the floor for this reward is 0
            return [0.0] * n

    def __repr__(self) -> str:
        return f"TactileGroundedReward(margin={self.margin}, mode={self.mode!r})"


def make_tactile_grounded_reward(margin: float = 0.0, mode: str = "binary") -> TactileGroundedReward:
    """Build ``tactile_grounded_reward`` (a :class:`TactileGroundedReward`).

    Args:
        margin: How much the real answer's ordinal score must exceed the counterfactual mean (binary mode).
        mode: ``"binary"`` or ``"graded"``.

    Returns:
        The reward, named ``tactile_grounded_reward``.
    """
    return TactileGroundedReward(margin, mode)


def _by_variant(cf, n):
    """``{variant: [answer per row]}`` from either that shape or one ``{variant: answer}`` per row (the shape a
    rollout's extra field reaches rewards in); rows lacking a variant get ``None`` for it."""
    if isinstance(cf, (list, tuple)) and len(cf) == n and all(isinstance(r, Mapping) for r in cf):
        names = list(dict.fromkeys(k for r in cf for k in r))
        return {k: [r.get(k) for r in cf] for k in names}
    return cf


def _grounded(completions, cf, kwargs, n, margin, mode) -> list[float | None]:
    cf = _by_variant(cf, n)
    if not isinstance(cf, Mapping):
        return [None] * n
    variants = []
    for v in cf.values():
        v = v.tolist() if hasattr(v, "tolist") else v
        if isinstance(v, (list, tuple)) and len(v) == n:
            variants.append(v)
    if not variants:
        return [None] * n
    cols = {k: column(kwargs, k, n) for k in LABEL_COLUMNS}
    out: list[float | None] = []
    for i in range(n):
        try:
            row = {k: cols[k][i] for k in LABEL_COLUMNS}
            s_real = ordinal_score(completion_text(completions[i]), **row)
            if s_real is None:
                out.append(None)
                continue
            s_cf = [ordinal_score(completion_text(v[i]), **row) for v in variants]
            s_cf = sum(s or 0.0 for s in s_cf) / len(s_cf)
            v = float(s_real > s_cf + margin) if mode == "binary" else s_real - s_cf
            out.append(finish(v, 0.0, 1.0, 0.0))
        except Exception:  # noqa: BLE001
            out.append(0.0)
    return out
