"""Label-column access and the per-row loop every reward shares.

TRL passes each dataset column as a list with one value per completion. Columns may be missing,
have the wrong length, or hold values of the wrong type; this module turns all of that into ``None``
values so that scorers only ever decide "not my row" (``None``) or "malformed" (the floor), and never raise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rewards.text import completion_text, level_from

TOUCH_LEVEL_TYPES = ("level", "conflict", "cross_sensor")
TOUCH_CHOICE_TYPES = ("compare", "superlative")
TOUCH_TYPES = TOUCH_LEVEL_TYPES + TOUCH_CHOICE_TYPES
ROBOT_VECTOR_TYPES = ("keypoint", "current_state")
ROBOT_TYPES = ROBOT_VECTOR_TYPES + ("mcq", "direction")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def batch_size(completions: Any) -> int:
    """Number of rows: ``len(completions)``, or 0 when that is not a sized sequence."""
    try:
        if completions is None or isinstance(completions, (str, bytes)):
            return 0
        return len(completions)
    except Exception:  # noqa: BLE001
        return 0


def column(columns: Mapping, name: str, n: int) -> list:
    """Column ``name`` as a list of ``n`` values; all ``None`` if absent, not a sequence, or of wrong length."""
    try:
        col = columns.get(name)
        if col is None or isinstance(col, (str, bytes, Mapping)):
            return [None] * n
        if hasattr(col, "tolist"):
            col = col.tolist()
        col = list(col)
        return col if len(col) == n else [None] * n
    except Exception:  # noqa: BLE001
        return [None] * n


def norm_type(q: Any) -> str | None:
    """A question type as a lower-case stripped string, or ``None``."""
    return q.strip().lower() if isinstance(q, str) else None


def type_set(types: Any) -> frozenset[str]:
    """Question types as a set of normalised names (see :func:`norm_type`); a single string is one type.

    >>> sorted(type_set(["Level", " compare "])), sorted(type_set("mcq"))
    (['compare', 'level'], ['mcq'])
    """
    if isinstance(types, str):
        types = [types]
    out = frozenset(t for t in (norm_type(q) for q in types) if t)
    if not out:
        raise ValueError(f"question_types must name at least one question type, got {types!r}")
    return out


def as_int(v: Any) -> int | None:
    """An integer label value (int, integral float, numpy scalar or digit string), else ``None``."""
    return level_from(v)


def num_levels(v: Any) -> int | None:
    """K from the ``num_levels`` column if it is an integer >= 2 (a usable ordinal scale), else ``None``."""
    k = as_int(v)
    return k if k is not None and k >= 2 else None


def int_list(v: Any) -> list[int] | None:
    """A list of integers (``option_levels``), or ``None`` if ``v`` is not one."""
    try:
        if v is None or isinstance(v, (str, bytes, Mapping)):
            return None
        if hasattr(v, "tolist"):
            v = v.tolist()
        out = [as_int(x) for x in v]
        return out if out and all(x is not None for x in out) else None
    except Exception:  # noqa: BLE001
        return None


def option_letters(question_type: Any, option_levels: Any = None) -> str:
    """The letters a choice question offers: one per entry of ``option_levels`` (2 to 26 of them), else the
    default of its type (``AB`` for ``compare``, ``ABC`` otherwise).

    >>> option_letters("superlative", [2, 0, 1]), option_letters("compare", []), option_letters("superlative")
    ('ABC', 'AB', 'ABC')
    """
    levels = int_list(option_levels)
    if levels is not None and 2 <= len(levels) <= len(LETTERS):
        return LETTERS[:len(levels)]
    return "AB" if norm_type(question_type) == "compare" else "ABC"


def finish(v: Any, lo: float, hi: float, floor: float) -> float | None:
    """``None`` stays ``None``; a non-number or non-finite value becomes ``floor``; else clipped to [lo, hi]."""
    if v is None:
        return None
    try:
        f = float(v)
    except Exception:  # noqa: BLE001
        return floor
    if not math.isfinite(f):
        return floor
    return min(hi, max(lo, f))


def score_rows(completions: Any, columns: Mapping, names: Sequence[str],
               score: Callable[..., float | None], lo: float = 0.0, hi: float = 1.0,
               floor: float = 0.0) -> list[float | None]:
    """Apply ``score(text, **row)`` to every row, never raising.

    Args:
        completions: TRL completions (strings or message lists).
        columns: The reward's ``**kwargs`` (label columns plus TRL extras, which are not read).
        names: The columns ``score`` takes, passed by keyword (``None`` where missing/malformed).
        score: ``(text, **row) -> float | None``.
        lo, hi: The documented range; results are clipped into it.
        floor: Value for a row whose scoring raised or gave a non-finite number.

    Returns:
        One ``float`` in ``[lo, hi]`` or ``None`` per completion.
    """
    n = batch_size(completions)
    try:
        cols = {k: column(columns, k, n) for k in names}
    except Exception:  # noqa: BLE001
        return [floor] * n
    out: list[float | None] = []
    for i in range(n):
        try:
            text = completion_text(completions[i])
            out.append(finish(score(text, **{k: cols[k][i] for k in names}), lo, hi, floor))
        except Exception:  # noqa: BLE001 - one odd row must not take the batch down
            out.append(floor)
    return out
