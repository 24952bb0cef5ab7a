"""Offline metrics of robot keypoint answers and training-free baselines.

Metric names (a key is left out when the eval rows hold no question of its type):

- ``parse_rate``: fraction of rows whose answer parses for the row's question type;
- ``keypoint_l2_mean`` / ``keypoint_l2_median``: Euclidean distance (m) between predicted and true next
  keypoint position, over the ``keypoint`` rows whose answer parses (``keypoint_parse_rate`` says how many);
- ``keypoint_gripper_acc``: predicted gripper (rounded) equals the truth; unparsed answers count as wrong;
- ``current_state_l2_mean`` / ``current_state_l2_median`` / ``current_state_gripper_acc``: the same for
  ``current_state`` rows;
- ``mcq_acc``: exact letter match (unparsed = wrong);
- ``direction_acc``: exact phrase match incl. "slightly"; ``direction_axis_acc``: direction right, "slightly"
  ignored;
- ``<Task>/keypoint_l2_mean``, ``<Task>/mcq_acc``, ``<Task>/direction_acc``: the same per robosuite task.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from rewards import (answer_of, completion_text, direction_from, parse_choice, parse_direction, parse_vector,
                     robot_answer_parses)
from tasks.robot_keypoint.prompts import fmt_vec
from tasks.robot_keypoint.questions import LETTERS, all_directions


def _grip(g) -> int:
    return int(min(1.0, max(0.0, float(g))) >= 0.5)


def _vector_stats(pairs: list[tuple], prefix: str, out: dict) -> None:
    """pairs: (pred vector or None, target) of one question type."""
    dists = [math.dist(p[:3], t[:3]) for p, t in pairs if p is not None]
    out[f"{prefix}_parse_rate"] = len(dists) / len(pairs)
    if dists:
        out[f"{prefix}_l2_mean"] = float(np.mean(dists))
        out[f"{prefix}_l2_median"] = float(np.median(dists))
    out[f"{prefix}_gripper_acc"] = float(np.mean([p is not None and _grip(p[3]) == _grip(t[3]) for p, t in pairs]))


def _scores(completions: list, rows: list[dict]) -> dict:
    out: dict = {}
    texts = [completion_text(c) for c in completions]
    out["parse_rate"] = float(np.mean([robot_answer_parses(answer_of(t), r["question_type"])
                                       for t, r in zip(texts, rows)]))
    by_type: dict[str, list[tuple[str, dict]]] = {}
    for t, r in zip(texts, rows):
        by_type.setdefault(r["question_type"], []).append((t, r))
    for q in ("keypoint", "current_state"):
        if q in by_type:
            _vector_stats([(parse_vector(t, 4), r["target"]) for t, r in by_type[q]], q, out)
    if "mcq" in by_type:
        out["mcq_acc"] = float(np.mean([parse_choice(t, "ABCD") == r["answer"] for t, r in by_type["mcq"]]))
    if "direction" in by_type:
        pairs = [(parse_direction(t), direction_from(r["answer"])) for t, r in by_type["direction"]]
        out["direction_acc"] = float(np.mean([p == a for p, a in pairs]))
        out["direction_axis_acc"] = float(np.mean([p is not None and p.split()[-1] == a.split()[-1] for p, a in pairs]))
    return out


def robot_metrics(completions: list, rows: list[dict]) -> dict:
    """All metrics of the module docstring, overall and per robosuite task.

    Args:
        completions: One answer per row (text or conversational).
        rows: Dataset rows (``question_type``, ``answer``, ``target``, ``task_name``).

    Returns:
        ``{name: float}`` plus ``n``.

    >>> rows = [{"question_type": "mcq", "answer": "B", "target": [0, 0, 0, 0], "task_name": "Lift"}]
    >>> robot_metrics(["<answer>B</answer>"], rows)["mcq_acc"]
    1.0
    """
    if not rows:
        return {"n": 0}
    out = {"n": len(rows), **_scores(completions, rows)}
    tasks = sorted({r.get("task_name", "") for r in rows})
    if len(tasks) > 1:
        for task in tasks:
            idx = [i for i, r in enumerate(rows) if r.get("task_name", "") == task]
            sub = _scores([completions[i] for i in idx], [rows[i] for i in idx])
            for key in ("keypoint_l2_mean", "keypoint_gripper_acc", "mcq_acc", "direction_acc"):
                if key in sub:
                    out[f"{task}/{key}"] = sub[key]
    return out


def keypoint_errors(completions: list, rows: list[dict]) -> dict[str, list[float]]:
    """Task name -> L2 errors (m) of the parsed ``keypoint`` answers (for the report plot)."""
    out: dict[str, list[float]] = {}
    for c, r in zip(completions, rows):
        if r["question_type"] != "keypoint":
            continue
        p = parse_vector(completion_text(c), 4)
        if p is not None:
            out.setdefault(r.get("task_name", "?"), []).append(math.dist(p[:3], r["target"][:3]))
    return out


def _wrap(answer: str) -> str:
    return f"<think>baseline</think><answer>{answer}</answer>"


def baseline_answers(rows: list[dict], seed: int = 0, bounds=None) -> dict[str, list[str]]:
    """Training-free answers per row.

    - ``stay``: the next keypoint is the current state (keypoint rows); the MCQ option nearest the current
      state; the most common direction of the rows; for current_state rows (whose prompt hides the state) the
      mean current state of the rows.
    - ``random``: a uniform keypoint in the workspace box ``bounds`` (default: the rows' target range) and a
      random gripper; a random letter; a random direction phrase.
    - ``majority``: the mean target of the rows' keypoint/current_state questions with the majority gripper;
      the most common letter; the most common direction.

    Args:
        rows: Eval rows (``current`` column = current ``[x, y, z, g]``).
        seed: Seed of the random baseline.
        bounds: ``(lo, hi)`` of the random keypoints.
    """
    rng = np.random.default_rng(seed)
    targets = np.array([r["target"] for r in rows if r["question_type"] in ("keypoint", "current_state")] or [[0, 0, 0, 0]], float)
    currents = np.array([r["current"] for r in rows] or [[0, 0, 0, 0]], float)
    lo, hi = bounds if bounds is not None else (targets[:, :3].min(0), targets[:, :3].max(0))
    dirs = Counter(r["answer"] for r in rows if r["question_type"] == "direction")
    letters = Counter(r["answer"] for r in rows if r["question_type"] == "mcq")
    top_dir = dirs.most_common(1)[0][0] if dirs else "move down"
    top_letter = letters.most_common(1)[0][0] if letters else "A"
    mean_target = [*targets[:, :3].mean(0), float(targets[:, 3].mean() >= 0.5)]
    mean_current = [*currents[:, :3].mean(0), float(currents[:, 3].mean() >= 0.5)]
    out: dict[str, list[str]] = {"stay": [], "random": [], "majority": []}
    for r in rows:
        q = r["question_type"]
        if q == "keypoint":
            stay, maj = fmt_vec(r["current"]), fmt_vec(mean_target)
        elif q == "current_state":
            stay, maj = fmt_vec(mean_current), fmt_vec(mean_target)
        elif q == "mcq":
            d = [math.dist(o, r["current"][:3]) for o in _option_positions(r)]
            stay, maj = LETTERS[int(np.argmin(d))] if d else "A", top_letter
        else:
            stay = maj = top_dir
        if q in ("keypoint", "current_state"):
            rnd = fmt_vec([*rng.uniform(lo, hi), float(rng.integers(0, 2))])
        elif q == "mcq":
            rnd = LETTERS[int(rng.integers(0, 4))]
        else:
            rnd = str(rng.choice(all_directions()))
        out["stay"].append(_wrap(stay))
        out["random"].append(_wrap(rnd))
        out["majority"].append(_wrap(maj))
    return out


def _option_positions(row: dict) -> list[list[float]]:
    out = []
    for o in row.get("options") or []:
        v = parse_vector(f"<answer>{o}</answer>", 3)
        if v is not None:
            out.append(v)
    return out
