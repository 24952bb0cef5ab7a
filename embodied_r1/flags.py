"""Task-declared command-line flags: ``--name value`` (or ``--name=value``) sets the field ``name`` of a task's
dataclass.

The core names no task setting. ``eval-control`` and ``data`` parse their generic options, and every other
``--name`` after them becomes the field ``name`` (dashes read as underscores) of the task's control options
(``control_config_cls``) or data config (``config_cls``), validated against that dataclass: an unknown name is
a one-line error that names the closest field and lists them all. ``--help`` lists the fields
(:func:`describe_fields`), with the first line of each one's ``Args:`` entry.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any

from embodied_r1.errors import UserError

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.-]*=")


def split_flags(tokens: tuple[str, ...] | list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Separate ``--name value`` / ``--name=value`` flags from ``key=value`` overrides, keeping their order.

    A flag followed by nothing, another flag or an override has no value (None: a switch).

    Args:
        tokens: What the command line left after the generic options.

    Returns:
        ``([(name, raw value or None), ...], [override, ...])``.

    >>> split_flags(["--tasks", "Lift,Stack", "--episodes=3", "a.b=1", "--progress"])
    ([('tasks', 'Lift,Stack'), ('episodes', '3'), ('progress', None)], ['a.b=1'])
    """
    flags: list[tuple[str, str | None]] = []
    overrides: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or tok == "--":
            overrides.append(tok)
            i += 1
            continue
        name, eq, raw = tok[2:].partition("=")
        if eq:
            flags.append((name, raw))
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--") and not _OVERRIDE.match(tokens[i + 1]):
            flags.append((name, tokens[i + 1]))
            i += 2
        else:
            flags.append((name, None))
            i += 1
    return flags, overrides


def flag_values(flags: list[tuple[str, str | None]], cls: type, owner: str) -> dict[str, Any]:
    """Field name -> value of each flag, checked against the fields of dataclass ``cls``.

    Values are read as YAML, like ``key=value`` overrides (``3`` is an int, ``false`` a bool, ``Lift,Stack``
    a string); a flag without a value is ``True``. Types and ranges are left to the dataclass itself.

    Args:
        flags: From :func:`split_flags`.
        cls: The dataclass whose fields the flags set.
        owner: Who declares them, for the error (``"task 'robot-keypoint'"``).

    Returns:
        ``{field: value}``.

    Raises:
        UserError: a flag names no field of ``cls`` (one line: the closest field, then all of them).

    >>> @dataclasses.dataclass
    ... class C:
    ...     episodes: int = 1
    >>> flag_values([("episodes", "3")], C, "task 'x'")
    {'episodes': 3}
    """
    from embodied_r1.config import parse_override

    fields = [f.name for f in dataclasses.fields(cls)]
    out: dict[str, Any] = {}
    for name, raw in flags:
        key = name.replace("-", "_")
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {_flag(close[0])}?)" if close else ""
            raise UserError(f"--{name} is not a setting of {owner}{hint}; its settings: "
                            f"{', '.join(_flag(f) for f in fields)}")
        out[key] = True if raw is None else parse_override(f"{key}={raw}")[1]
    return out


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def field_docs(cls: type) -> dict[str, str]:
    """The first line of each field's entry in the ``Args:`` section of ``cls``'s docstring.

    Entries that document several fields at once (``a, b: text``) give each of them the text.
    """
    doc = cls.__doc__ or ""
    if "Args:" not in doc:
        return {}
    out: dict[str, str] = {}
    indent = None
    for line in doc.split("Args:", 1)[1].splitlines()[1:]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        indent = width if indent is None else indent
        if width < indent:
            break  # the next section
        m = re.match(r"^([\w, ]+):\s*(.*)$", line.strip()) if width == indent else None
        if m:
            for name in (n.strip() for n in m.group(1).split(",")):
                out[name] = m.group(2).split(". ")[0].rstrip(".")
    return out


def describe_fields(cls: type, width: int = 110) -> list[str]:
    """One ``--name (default) text`` line per field of dataclass ``cls``, for ``--help``."""
    docs = field_docs(cls)
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        head = f"  {_flag(f.name)} ({default!r})"
        text = docs.get(f.name, "")
        line = f"{head:<34} {text}" if text else head
        lines.append(line if len(line) <= width else line[:width - 1] + "…")
    return lines
