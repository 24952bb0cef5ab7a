"""TouchSim bench: the touch task's evaluation metrics and training-free baselines.

Per row the answer is the last ``<answer>`` of the completion (docs/CONTRACTS.md): its first integer for level
rows (``level``, ``conflict``, ``cross_sensor``), its first standalone letter for ``compare`` (A/B) and
``superlative`` (A/B/C). Metrics (keys of :func:`touch_metrics`):

* ``exact_match``: fraction of rows answered exactly right (all question types);
* ``omae``: ordinal mean absolute error ``|y_hat - y|`` over level rows, in levels (lower is better). An
  unparseable or out-of-range answer counts as the maximal error ``K - 1``, so a model cannot lower its OMAE
  by refusing to answer;
* ``parse_rate``: fraction of rows whose answer parses for its type (level in ``[0, K-1]``, or a letter);
* ``format``: mean of ``touch_format_reward`` (tag structure), ``ordinal``: mean of ``ordinal_accuracy_reward``;
* ``csc``: cross-sensor consistency: over the (``contact_id``, ``property``) groups of level rows that cover
  at least 2 distinct sensors, the fraction whose answers all parse and are all equal (``csc_groups``: how
  many such groups);
* ``acc/<question_type>``: exact match per question type; ``conflict_accuracy`` (= ``acc/conflict``) and
  ``conflict_follows_vision``: fraction of conflict rows answered with the level the photo suggests;
* ``acc_sensor/<sensor>``: exact match per sensor; ``heldout_sensor_accuracy`` / ``heldout_material_accuracy``:
  exact match over rows tagged ``split_tag`` ``heldout_sensor`` / ``heldout_material``, and
  ``heldout_sensor_omae``; ``heldout_material_level_acc/<property>``: exact match of the ``level`` rows of
  held-out objects, per property;
* ``cf_acc/<variant>`` and ``cf_gap/<variant>``: exact match with the counterfactual input, and the gap
  ``exact_match - cf_acc`` (how much the real tactile input helps; near 0 means touch is ignored).

Keys whose subset is empty in the evaluated rows are left out rather than reported as NaN.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from rewards import (answer_of, choice_from, completion_text, level_from, make_touch_format_reward, option_letters,
                     ordinal_accuracy_reward)

LEVEL_TYPES = ("level", "conflict", "cross_sensor")
CHOICE_TYPES = ("compare", "superlative")
QUESTION_ORDER = ("level", "compare", "superlative", "conflict", "cross_sensor")
LABEL_KEYS = ("question_type", "answer", "num_levels", "option_levels")


def parse_answer(text) -> dict | None:
    """The answer of a completion: ``{"text", "level", "choice"}``, or None without an ``<answer>`` tag.

    >>> parse_answer("<conclude>hard</conclude><answer>2</answer>")["level"]
    2
    >>> parse_answer("no tags") is None
    True
    """
    a = answer_of(completion_text(text))
    if a is None:
        return None
    return {"text": a.strip(), "level": level_from(a), "choice": choice_from(a, "ABC")}


def score_row(text, row: dict) -> dict:
    """Score one completion against its row.

    Returns:
        ``{"parsed": bool, "correct": bool, "pred": int | str | None, "abs_err": float | None}``; ``abs_err``
        only for level rows (``K - 1`` when unparseable).
    """
    qtype, k = row["question_type"], int(row["num_levels"])
    a = answer_of(completion_text(text))
    if qtype in LEVEL_TYPES:
        y = int(row["answer"])
        y_hat = level_from(a) if a is not None else None
        ok = y_hat is not None and 0 <= y_hat <= k - 1
        return {"parsed": ok, "correct": ok and y_hat == y, "pred": y_hat if ok else None,
                "abs_err": float(abs(y_hat - y)) if ok else float(k - 1)}
    c = choice_from(a, option_letters(qtype, row.get("option_levels"))) if a is not None else None
    return {"parsed": c is not None, "correct": c is not None and c == str(row["answer"]).strip().upper(),
            "pred": c, "abs_err": None}


def _mean(xs) -> float | None:
    xs = list(xs)
    return float(np.mean(xs)) if xs else None


def _csc(scores: list[dict], rows: list[dict]) -> tuple[float | None, int]:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r["question_type"] in LEVEL_TYPES:
            groups[(r["contact_id"], r["property"])].append(i)
    agree = []
    for idx in groups.values():
        if len({rows[i]["sensor"] for i in idx}) < 2:
            continue
        preds = [scores[i]["pred"] for i in idx]
        agree.append(all(p is not None for p in preds) and len(set(preds)) == 1)
    return _mean(agree), len(agree)


def touch_metrics(completions: list, rows: list[dict], counterfactual: dict[str, list] | None = None,
                  format_max_chars: int | None = None) -> dict:
    """The TouchSim bench metrics of ``completions`` (one per row); see the module docstring.

    Args:
        completions: Model answers (strings or conversational messages).
        rows: The evaluated rows (label columns of docs/CONTRACTS.md plus ``split_tag``, ``visual_level``).
        counterfactual: Variant name -> answers on that counterfactual input (one per row).
        format_max_chars: The format reward's ``max_chars`` (None: its default), so that the ``format`` metric
            scores what training rewarded.

    Returns:
        Metric name -> float (``csc_groups`` and ``n`` are ints).
    """
    scores = [score_row(c, r) for c, r in zip(completions, rows)]
    n = len(rows)
    out: dict = {"n": n}
    if not n:
        return out
    out["exact_match"] = _mean(s["correct"] for s in scores)
    out["omae"] = _mean(s["abs_err"] for s in scores if s["abs_err"] is not None)
    out["parse_rate"] = _mean(s["parsed"] for s in scores)
    cols = {k: [r.get(k) for r in rows] for k in LABEL_KEYS}
    out["ordinal"] = _mean(x for x in ordinal_accuracy_reward(None, completions, **cols) if x is not None)
    fmt = make_touch_format_reward(format_max_chars) if format_max_chars else make_touch_format_reward()
    out["format"] = _mean(x for x in fmt(None, completions, **cols) if x is not None)
    out["csc"], out["csc_groups"] = _csc(scores, rows)
    for q in QUESTION_ORDER:
        out[f"acc/{q}"] = _mean(s["correct"] for s, r in zip(scores, rows) if r["question_type"] == q)
    conflict = [(s, r) for s, r in zip(scores, rows) if r["question_type"] == "conflict"]
    out["conflict_accuracy"] = _mean(s["correct"] for s, _ in conflict)
    out["conflict_follows_vision"] = _mean(s["pred"] == r.get("visual_level") for s, r in conflict)
    for sensor in sorted({r["sensor"] for r in rows}):
        out[f"acc_sensor/{sensor}"] = _mean(s["correct"] for s, r in zip(scores, rows) if r["sensor"] == sensor)
    for tag in ("heldout_material", "heldout_sensor"):
        out[f"{tag}_accuracy"] = _mean(s["correct"] for s, r in zip(scores, rows) if r.get("split_tag") == tag)
    for prop in sorted({r.get("property") for r in rows if r.get("property")}):
        out[f"heldout_material_level_acc/{prop}"] = _mean(
            s["correct"] for s, r in zip(scores, rows)
            if r["question_type"] == "level" and r.get("split_tag") == "heldout_material" and r.get("property") == prop)
    out["heldout_sensor_omae"] = _mean(s["abs_err"] for s, r in zip(scores, rows)
                                       if r.get("split_tag") == "heldout_sensor" and s["abs_err"] is not None)
    for name, answers in (counterfactual or {}).items():
        if answers is None or len(answers) != n:
            continue
        cf = _mean(score_row(c, r)["correct"] for c, r in zip(answers, rows))
        out[f"cf_acc/{name}"] = cf
        out[f"cf_gap/{name}"] = out["exact_match"] - cf
    return {k: v for k, v in out.items() if v is not None}


def _formatted(answer: str) -> str:
    return f"<perceive>baseline</perceive>\n<conclude>baseline</conclude>\n<answer>{answer}</answer>"


def random_answers(rows: list[dict], seed: int = 0) -> list[str]:
    """Uniformly random valid answers (a level in ``0..K-1`` or an option letter), in the tag format."""
    rng = np.random.default_rng([seed, 7])
    out = []
    for r in rows:
        if r["question_type"] in LEVEL_TYPES:
            out.append(_formatted(str(int(rng.integers(int(r["num_levels"]))))))
        else:
            letters = option_letters(r["question_type"], r.get("option_levels"))
            out.append(_formatted(letters[int(rng.integers(len(letters)))]))
    return out


def majority_answers(rows: list[dict], reference: list[dict] | None = None) -> list[str]:
    """The majority answer of ``reference`` (default: the evaluated rows themselves), in the tag format.

    Level questions (``level``, ``conflict``, ``cross_sensor``) get the most frequent level over all level rows
    of the same K, pooled across properties; ``compare`` / ``superlative`` the most frequent letter of that
    question type. With the default reference this is the usual majority-class baseline computed from the
    eval rows' own label distribution: it knows which answer is most common in the evaluated set, but nothing
    about any single row. Pooling (rather than a majority per type and property) keeps it from memorising
    small eval sets. Ties go to the smallest level / earliest letter.
    """
    ref = reference if reference is not None else rows
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for r in ref:
        counts[_majority_key(r)][str(r["answer"]).strip()] += 1
    out = []
    for r in rows:
        c = counts.get(_majority_key(r))
        if c:
            best = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        else:
            best = "0" if r["question_type"] in LEVEL_TYPES else "A"
        out.append(_formatted(best))
    return out


def _majority_key(r: dict) -> tuple:
    if r["question_type"] in LEVEL_TYPES:
        return ("level", int(r["num_levels"]))
    return (r["question_type"], len(r.get("option_levels") or []))
