"""Cross-sensor physical consistency (Touch-R1's second reward).

One physical contact seen through different optical sensors has one hardness. A policy that reads the
property from the physics, not from a sensor's look, answers the same level whatever the sensor. The core's
group sampler puts the rows of one ``contact_id`` into the same batch, which is what makes this reward
computable from a single batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewards.columns import TOUCH_LEVEL_TYPES, batch_size, column, finish, norm_type, num_levels
from rewards.text import completion_text, parse_level

LABEL_COLUMNS = ("question_type", "contact_id", "property", "sensor", "num_levels")


def _key(v: Any) -> str | None:
    """A hashable group key from a column value (``None`` stays ``None``)."""
    if v is None:
        return None
    try:
        return v if isinstance(v, str) else repr(v)
    except Exception:  # noqa: BLE001
        return None


class CrossSensorConsistencyReward:
    """Agreement of each level answer with the batch's consensus for the same contact; [0, 1] or ``None``.

    Rows of level type (``level``, ``cross_sensor``, ``conflict``) are grouped by
    (``contact_id``, ``property``) within the batch. For each group:

    - consensus ``c`` = median of the parsed levels of ALL the group's completions, from all its sensors
      (a completion whose answer does not parse to a level in ``[0, K-1]`` does not enter the median);
    - reward of a row = ``1 - |y_hat - c| / (K - 1)``, in [0, 1] (``c`` may be a half-integer, giving
      quarter steps); 0 for a row whose answer is unparseable or out of range (it counts as
      disagreement), 0 for a row whose score cannot be computed (an absurd K such as 10**400: only that
      row), and 0 for every row of a group with no parseable answer;
    - ``None`` for the rows of a group that covers fewer than 2 distinct ``sensor`` values in the batch
      (nothing to be consistent with), for non-level rows, and for rows missing ``contact_id``,
      ``sensor`` or a valid ``num_levels`` (K >= 2).

    The consensus is computed over the completions, not the labels: this rewards agreement across
    sensors, not correctness (a group that agrees on a wrong level scores 1 here).
    ``ordinal_accuracy_reward`` is the one that rewards correctness; weight the two together.
    The row's own completion is part of its group's median. Label columns: ``question_type``,
    ``contact_id``, ``property``, ``sensor``, ``num_levels``.

    No parameters today; a callable class (picklable, like TRL's parameterised rewards) so that it can gain some.
    """

    __name__ = "cross_sensor_consistency_reward"
    reward_range = (0.0, 1.0)

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        """Score a batch in TRL's signature.

        Args:
            prompts: Unused (TRL signature).
            completions: Strings or conversational message lists.
            **kwargs: Columns ``question_type``, ``contact_id``, ``property``, ``sensor``, ``num_levels``;
                other keys (TRL extras) are ignored.

        Returns:
            One score (or ``None``) per completion.
        """
        n = batch_size(completions)
        try:
            return _consistency(completions, kwargs, n)
        except Exception:  # noqa: BLE001 - never raise; the floor for this reward is 0
            return [0.0] * n

    def __repr__(self) -> str:
        return "CrossSensorConsistencyReward()"


def make_cross_sensor_consistency_reward() -> CrossSensorConsistencyReward:
    """Build ``cross_sensor_consistency_reward`` (a :class:`CrossSensorConsistencyReward`).

    Returns:
        The reward, named ``cross_sensor_consistency_reward``.
    """
    return CrossSensorConsistencyReward()


def _consistency(completions: Any, kwargs: dict, n: int) -> list[float | None]:
    cols = {k: column(kwargs, k, n) for k in LABEL_COLUMNS}
    out: list[float | None] = [None] * n
    groups: dict[tuple, list[int]] = {}
    k_of: dict[int, int] = {}
    y_of: dict[int, int | None] = {}
    for i in range(n):
        try:
            if norm_type(cols["question_type"][i]) not in TOUCH_LEVEL_TYPES:
                continue
            cid, sensor = _key(cols["contact_id"][i]), _key(cols["sensor"][i])
            k = num_levels(cols["num_levels"][i])
            if cid is None or sensor is None or k is None:
                continue
            y = parse_level(completion_text(completions[i]))
            y_of[i] = y if y is not None and 0 <= y <= k - 1 else None
            k_of[i] = k
            groups.setdefault((cid, _key(cols["property"][i])), []).append(i)
        except Exception:  # noqa: BLE001
            out[i] = 0.0
    for rows in groups.values():
        if len({_key(cols["sensor"][i]) for i in rows}) < 2:
            continue  # stays None: a single sensor has nothing to be consistent with
        valid = [y_of[i] for i in rows if y_of[i] is not None]
        c = float(np.median(valid)) if valid else None
        for i in rows:
            out[i] = _agreement(y_of[i], c, k_of[i])
    return out


def _agreement(y: int | None, c: float | None, k: int) -> float:
    """``1 - |y - c| / (K - 1)`` in [0, 1]; 0 without an answer or consensus, or when it cannot be computed.

    Per row, so that one absurd label (a K of 10**400 overflows the float division) floors only its own row,
    not every group of the batch.
    """
    if y is None or c is None:
        return 0.0
    try:
        return finish(1.0 - abs(y - c) / (k - 1), 0.0, 1.0, 0.0)
    except (ArithmeticError, TypeError, ValueError):
        return 0.0
