"""Completion text and answer parsing shared by every reward.

Everything here is total: no function raises, whatever it is given. Parsing is linear in the input
(``str.rfind`` for tags, regexes without nested quantifiers, run on at most :data:`MAX_ANSWER_CHARS`
characters of the answer), so a 1 MB completion costs milliseconds, never a catastrophic backtrack.

Answer grammar (docs/CONTRACTS.md): the answer is the text inside the LAST ``<answer>...</answer>``;
levels are its first integer; choices its first standalone letter; keypoints the first numbers inside
its ``[...]``; directions a phrase such as ``"slightly move up"``.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Only this many leading characters of an answer are parsed (answers are short; this bounds the work).
MAX_ANSWER_CHARS = 4096

#: Direction words (longest alternative first, so ``backwards`` is not read as ``back``) -> canonical word.
_DIRECTION_WORDS = {
    "forwards": "forward", "forward": "forward",
    "backwards": "backward", "backward": "backward", "back": "backward",
    "left": "left", "right": "right",
    "upwards": "up", "upward": "up", "up": "up",
    "downwards": "down", "downward": "down", "down": "down",
}
DIRECTIONS = ("forward", "backward", "left", "right", "up", "down")

_DIRECTION_RE = re.compile(r"\b(" + "|".join(sorted(_DIRECTION_WORDS, key=len, reverse=True)) + r")\b")
_SLIGHT_RE = re.compile(r"\bslight(?:ly)?\b")
# A plain decimal number: a sign (only when not glued to a word, so "level-2" reads 2), digits with an
# optional fraction (or a leading-dot fraction), an optional exponent.
_NUMBER = r"(?:(?<![\w.])[-+])?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
# Inside a vector, also catch written non-finite values so that they are rejected rather than skipped.
_VECTOR_TOKEN_RE = re.compile(_NUMBER + r"|[-+]?\b(?:nan|inf(?:inity)?)\b", re.IGNORECASE)
_MAX_INT_DIGITS = 18


def completion_text(c: Any) -> str:
    """The text of one completion, whatever TRL handed over. Never raises.

    Accepts a plain string, a conversational list of messages (``[{"role": "assistant", "content": ...}]``),
    a single message dict, and message content given as a list of parts (``{"type": "text", "text": ...}``).
    The text parts of all messages are concatenated in order. ``None`` gives ``""``; anything else ``str()``.

    Args:
        c: One completion.

    Returns:
        Its text.

    >>> completion_text("<answer>1</answer>")
    '<answer>1</answer>'
    >>> completion_text([{"role": "assistant", "content": "hi"}])
    'hi'
    >>> parts = [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]
    >>> completion_text([{"role": "assistant", "content": parts}])
    'ab'
    >>> completion_text(None)
    ''
    """
    try:
        return _text(c, depth=0)
    except Exception:  # noqa: BLE001 - a reward must never raise on odd input
        try:
            return str(c)
        except Exception:  # noqa: BLE001
            return ""


def _text(c: Any, depth: int) -> str:
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if depth > 4:  # deeper nesting is not a TRL shape; stringify instead of recursing forever
        return str(c)
    if isinstance(c, dict):
        if "content" in c:
            return _text(c["content"], depth + 1)
        if "text" in c:
            return _text(c["text"], depth + 1)
        return ""  # a non-text part (an image) contributes nothing
    if isinstance(c, (list, tuple)):
        return "".join(_text(x, depth + 1) for x in c)
    return str(c)


def extract_tag(text: Any, tag: str) -> str | None:
    """Content of the LAST complete ``<tag>...</tag>`` pair in ``text``, or ``None`` if there is none.

    Args:
        text: The completion text (non-strings go through :func:`completion_text`).
        tag: Tag name without brackets.

    Returns:
        The content, unstripped, or ``None``.

    >>> extract_tag("<answer>1</answer> then <answer> 2 </answer>", "answer")
    ' 2 '
    >>> extract_tag("<answer>unclosed", "answer") is None
    True
    """
    try:
        s = text if isinstance(text, str) else completion_text(text)
        close = s.rfind(f"</{tag}>")
        if close < 0:
            return None
        opening = f"<{tag}>"
        start = s.rfind(opening, 0, close)
        if start < 0:
            return None
        return s[start + len(opening):close]
    except Exception:  # noqa: BLE001
        return None


def answer_of(text: Any) -> str | None:
    """The answer text (last ``<answer>`` content, capped to :data:`MAX_ANSWER_CHARS`), or ``None``.

    >>> answer_of("<think>x</think><answer>B</answer>")
    'B'
    """
    a = extract_tag(text, "answer")
    return None if a is None else a[:MAX_ANSWER_CHARS]


# ----------------------------------------------------------------------------------------------------------
# Bare-string parsers: used on answer contents and on the label columns (which carry no tags).
# ----------------------------------------------------------------------------------------------------------

def level_from(s: Any) -> int | None:
    """First integer in a bare string (``"2"``, ``"level 2 (hard)"``, ``2``); ``None`` if absent.

    A first number with a non-zero fraction (``"1.5"``) is not an integer level and gives ``None``;
    ``"2.0"`` gives 2. Bools are not levels.

    >>> level_from("level 2 (hard)"), level_from("1.5"), level_from("none")
    (2, None, None)
    """
    try:
        if isinstance(s, bool) or s is None:
            return None
        if isinstance(s, int):
            return int(s)
        if isinstance(s, float):
            return int(s) if math.isfinite(s) and s == int(s) else None
        if not isinstance(s, str):
            if hasattr(s, "item") and getattr(s, "ndim", 1) == 0:  # a numpy scalar
                return level_from(s.item())
            s = str(s)
        m = _NUMBER_RE.search(s[:MAX_ANSWER_CHARS])
        if m is None:
            return None
        tok = m.group(0)
        mant = re.split(r"[eE]", tok)[0]
        if "e" in tok.lower() or len(mant.lstrip("+-").split(".")[0]) > _MAX_INT_DIGITS:
            return None
        if "." in mant:
            whole, frac = mant.split(".")
            if frac.strip("0"):
                return None
            mant = whole if whole.lstrip("+-") else "0"
        return int(mant)
    except Exception:  # noqa: BLE001
        return None


def choice_from(s: Any, letters: str = "ABCD") -> str | None:
    """First standalone letter of ``letters`` in a bare string, case-insensitive, returned upper-case.

    Standalone means not part of a longer word: ``"(b)"``, ``"B."``, ``"option C"`` count; the ``a`` of
    ``"apple"`` does not.

    >>> choice_from("option (b) is harder"), choice_from("apple", "AB")
    ('B', None)
    """
    try:
        if s is None or not letters:
            return None
        s = s if isinstance(s, str) else str(s)
        allowed = "".join(ch for ch in str(letters) if ch.isalpha() and ch.isascii())
        if not allowed:
            return None
        cls = re.escape(allowed.upper() + allowed.lower())
        m = re.search(rf"(?<![A-Za-z])([{cls}])(?![A-Za-z])", s[:MAX_ANSWER_CHARS])
        return m.group(1).upper() if m else None
    except Exception:  # noqa: BLE001
        return None


def vector_from(s: Any, n: int = 4) -> list[float] | None:
    """First ``n`` numbers inside the first ``[...]`` of a bare string; ``None`` if fewer, or any is NaN/inf.

    Also accepts a list/tuple/array of numbers (a label column value).

    >>> vector_from("[0.1, -0.2, 0.9, 1]")
    [0.1, -0.2, 0.9, 1.0]
    >>> vector_from("[0.1, nan, 0.9, 1]") is None, vector_from("[1, 2]") is None
    (True, True)
    """
    try:
        n = int(n)
        if n < 1:
            return None
        if s is None or isinstance(s, bool):
            return None
        if not isinstance(s, str):
            if hasattr(s, "tolist"):
                s = s.tolist()
            if isinstance(s, (list, tuple)):
                if len(s) < n or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in s[:n]):
                    return None
                vals = [float(v) for v in s[:n]]
                return vals if all(math.isfinite(v) for v in vals) else None
            s = str(s)
        s = s[:MAX_ANSWER_CHARS]
        lo = s.find("[")
        if lo < 0:
            return None
        hi = s.find("]", lo + 1)
        if hi < 0:
            return None
        toks = _VECTOR_TOKEN_RE.findall(s[lo + 1:hi])
        if len(toks) < n:
            return None
        vals = [float(t) for t in toks[:n]]
        return vals if all(math.isfinite(v) for v in vals) else None
    except Exception:  # noqa: BLE001
        return None


def direction_from(s: Any) -> str | None:
    """Normalised direction phrase of a bare string: ``"[slightly ]move <dir>"`` or ``None``.

    ``<dir>`` is the first of forward/backward/left/right/up/down found (``back``, ``upwards``, ... map to
    these); ``slightly`` is kept if the word ``slight``/``slightly`` appears anywhere in the string.

    >>> direction_from("Slightly move Backwards."), direction_from("move up"), direction_from("stay")
    ('slightly move backward', 'move up', None)
    """
    try:
        if s is None:
            return None
        s = (s if isinstance(s, str) else str(s))[:MAX_ANSWER_CHARS].lower()
        m = _DIRECTION_RE.search(s)
        if m is None:
            return None
        word = _DIRECTION_WORDS[m.group(1)]
        return f"slightly move {word}" if _SLIGHT_RE.search(s) else f"move {word}"
    except Exception:  # noqa: BLE001
        return None


# ----------------------------------------------------------------------------------------------------------
# Completion parsers: the same, applied to the answer tag of a completion.
# ----------------------------------------------------------------------------------------------------------

def parse_level(text: Any) -> int | None:
    """First integer inside the completion's answer tag; ``None`` without an answer tag or integer.

    >>> parse_level("<conclude>hard</conclude><answer>level 2</answer>")
    2
    >>> parse_level("2") is None
    True
    """
    a = answer_of(text)
    return None if a is None else level_from(a)


def parse_choice(text: Any, letters: str = "ABCD") -> str | None:
    """First standalone letter of ``letters`` (case-insensitive) inside the answer tag, upper-cased.

    >>> parse_choice("<answer>b) is the hardest</answer>", "ABC")
    'B'
    """
    a = answer_of(text)
    return None if a is None else choice_from(a, letters)


def parse_vector(text: Any, n: int = 4) -> list[float] | None:
    """First ``n`` finite floats inside ``[...]`` of the answer tag; ``None`` if missing, short or non-finite.

    >>> parse_vector("<answer>[0.12, -0.05, 0.91, 1]</answer>")
    [0.12, -0.05, 0.91, 1.0]
    >>> parse_vector("<answer>[0.12, inf, 0.91, 1]</answer>") is None
    True
    """
    a = answer_of(text)
    return None if a is None else vector_from(a, n)


def parse_direction(text: Any) -> str | None:
    """Normalised direction phrase inside the answer tag (see :func:`direction_from`).

    >>> parse_direction("<think>z grows a bit</think><answer>Slightly move up</answer>")
    'slightly move up'
    """
    a = answer_of(text)
    return None if a is None else direction_from(a)
