"""The output folder of an ``eval-control`` sweep: ``options.json``, ``results.jsonl``, and ``--resume``.

* ``options.json`` is written when a sweep starts: the settings that decide which episodes run and how
  (:func:`sweep_identity`: the policy, the first seed and the task's control options).
* ``results.jsonl`` gets one line per finished episode, appended and flushed as it finishes, so a killed
  sweep keeps every episode it finished.
* ``--resume`` continues a killed sweep: it checks that the options match ``options.json`` (each
  difference is listed), reads the finished episodes (identified by ``(task_name, seed)``), skips a torn
  last line left by the kill (the file is rewritten without it, atomically), and only the rest run.
  Without ``--resume`` a folder that holds results is refused, so a finished sweep is never overwritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from embodied_r1.errors import UserError

RESULTS, OPTIONS = "results.jsonl", "options.json"

#: Options that change neither which episodes run nor what they do, so a resumed sweep may change them.
#: ``batch_size`` only groups the model's prompts; ``offline_*`` is a separate score computed at the end.
RESUMABLE = ("workers", "progress", "batch_size", "offline_eval", "offline_max_rows")

#: Results that are not finished episodes: on resume they run again (and their line is dropped).
NOT_RUN_PREFIX = "never ran"


def sweep_identity(ctx, camera_size: int) -> dict:
    """The settings that define a sweep, JSON-ready: the policy, the first seed (``seed0``), the image side
    the policy sees, and every control option but :data:`RESUMABLE`.

    Args:
        ctx: The core's :class:`~embodied_r1.task.ControlContext`.
        camera_size: The resolved image side (the option, else the run's task config).

    Returns:
        ``{name: value}`` (the keys of ``options.json``).
    """
    import dataclasses

    opts = ctx.options
    identity = {"policy": ctx.policy, "seed0": ctx.seed}
    identity.update({f.name: getattr(opts, f.name) for f in dataclasses.fields(opts) if f.name not in RESUMABLE})
    identity["camera_size"] = camera_size
    return identity


def _differences(stored: dict, now: dict) -> list[str]:
    keys = sorted(set(stored) | set(now))
    return [f"{k} {stored.get(k, '(unset)')!r} -> {now.get(k, '(unset)')!r}" for k in keys
            if stored.get(k) != now.get(k)]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # readers see the old file or the new one, never half of it


def read_results(path: Path, log=print) -> list[dict]:
    """The finished episodes in ``results.jsonl``, each ``(task_name, seed)`` once.

    A torn last line (the sweep was killed mid-write) and ``never ran`` entries are dropped, and the file is
    rewritten without them (atomically), so that appends start on a fresh line.

    Args:
        path: The ``results.jsonl``.
        log: Notes on what was dropped.

    Returns:
        The results, in file order.

    Raises:
        UserError: a line other than the last is not JSON (not a torn write: the file was edited or damaged).
    """
    text = path.read_text()
    lines = text.split("\n")
    results, seen, dropped = [], set(), []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # no newline after it: the write was cut off
                dropped.append(f"a torn last line ({len(line)} bytes)")
                continue
            msg = f"{path} line {i + 1} is not JSON; fix or delete that line, then run --resume again"
            raise UserError(msg) from None
        key = (r.get("task_name"), r.get("seed"))
        if str(r.get("reason") or "").startswith(NOT_RUN_PREFIX):
            dropped.append(f"{r.get('task_name')} seed {r.get('seed')} (never ran)")
        elif key in seen:
            dropped.append(f"a second result of {key[0]} seed {key[1]}")
        else:
            seen.add(key)
            results.append(r)
    if dropped or (text and not text.endswith("\n")):
        _write_atomic(path, "".join(json.dumps(r) + "\n" for r in results))
        if dropped:
            log(f"eval-control --resume: dropped {'; '.join(dropped)} from {path}")
    return results


def open_sweep(ctx, camera_size: int, log=print) -> list[dict]:
    """Prepare ``ctx.output`` for a sweep and return the episodes already finished there.

    Args:
        ctx: The core's :class:`~embodied_r1.task.ControlContext` (``output``, ``resume``, options).
        camera_size: The resolved image side (part of the sweep's identity).
        log: Progress lines.

    Returns:
        ``[]`` for a new sweep (``options.json`` is written), else the finished results to keep.

    Raises:
        UserError: the folder holds results and ``--resume`` was not given, or ``--resume`` was given with
            options that differ from the stored ones.
    """
    out = Path(ctx.output)
    results, options = out / RESULTS, out / OPTIONS
    identity = sweep_identity(ctx, camera_size)
    has_results = results.exists() and results.stat().st_size > 0
    if not ctx.resume:
        if has_results:
            raise UserError(f"{out} already holds results.jsonl of another sweep; pass --resume to continue it "
                            f"(same options), or choose another --output")
        out.mkdir(parents=True, exist_ok=True)
        results.write_text("")
        _write_atomic(options, json.dumps(identity, indent=2) + "\n")
        return []
    if options.exists():
        diffs = _differences(json.loads(options.read_text()), identity)
        if diffs:
            raise UserError(f"eval-control --resume: the options differ from the sweep in {out} ({OPTIONS}): "
                            f"{'; '.join(diffs)}; resume with the stored options or choose another --output")
    elif has_results:
        raise UserError(f"eval-control --resume: {out} has results.jsonl but no {OPTIONS} (an older eval-control "
                        f"wrote it), so its options cannot be checked; choose another --output")
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(options, json.dumps(identity, indent=2) + "\n")
    done = read_results(results, log) if results.exists() else []
    log(f"eval-control --resume: {len(done)} finished episodes in {out}, kept")
    return done


class ResultLog:
    """Appends each finished episode to ``results.jsonl`` at once (flushed), and keeps all of them in memory.

    Args:
        path: The ``results.jsonl`` (prepared by :func:`open_sweep`; never truncated here).
        done: Results already in the file (a resumed sweep).
    """

    def __init__(self, path: Path, done: list[dict] | None = None):
        self.path = path
        self.results: list[dict] = list(done or [])

    def add(self, result: dict) -> None:
        self.results.append(result)
        with self.path.open("a") as f:
            f.write(json.dumps(result) + "\n")
            f.flush()
            os.fsync(f.fileno())  # a finished episode survives a kill or a power cut
