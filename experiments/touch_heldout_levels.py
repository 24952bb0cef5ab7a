"""Level-question accuracy on held-out objects per property, with its uncertainty, from ``embodied-r1 eval`` folders.

``eval.json`` gives one accuracy per property (``heldout_material_level_acc/<property>``); with 20-90 rows each,
a difference of a few points is noise. This reads the folder's ``predictions.jsonl``, scores every row with the
touch task's own scorer (``tasks.touch.metrics.score_row``), and prints per property: rows, objects, accuracy, its
95% interval, the train-majority baseline of ``eval.json`` and whether the interval lies above it, below it, or
covers it, and the level-balanced accuracy: the mean over the true levels of the accuracy on each level's rows.
A sample of 40 objects can hold the levels in very unequal shares, and then the plain accuracy of the model and of
the majority answer both follow the share of one level; a constant answer scores 1/K balanced, whatever the mix.

The rows of one contact (``contact_id``: one object seen through ``touch.sensors_per_contact`` sensors) are not
independent draws, so the interval is a Wilson interval over objects: each contact counts once, with the mean
correctness of its rows. That is conservative (exact when a contact's rows always agree); a row without a
``contact_id`` counts as its own object.

Usage:
    python experiments/touch_heldout_levels.py runs/A/eval runs/B/eval [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _grouped(keys, right) -> dict:
    """``{key: [correct, ...]}``: the rows' correctness grouped by key, in first-seen order."""
    out: dict = {}
    for key, ok in zip(keys, right):
        out.setdefault(key, []).append(ok)
    return out


def _mean(values) -> float:
    return sum(values) / len(values)


def summarise(eval_dir: Path) -> dict:
    """``{property: {"n", "objects", "accuracy", "ci95", "majority", "verdict", "balanced_accuracy", "levels"}}`` of
    one eval folder (``n`` rows of ``objects`` contacts; ``ci95`` over objects; ``levels``: rows per true level)."""
    from envs.tactile import PROPERTIES
    from embodied_r1.stats import wilson_interval
    from tasks.touch.metrics import score_row

    preds = eval_dir / "predictions.jsonl"
    if not preds.exists():
        raise SystemExit(f"{preds} not found: point at the folder `embodied-r1 eval --output` wrote")
    rows = [json.loads(line) for line in preds.read_text().splitlines() if line.strip()]
    card = json.loads((eval_dir / "eval.json").read_text()) if (eval_dir / "eval.json").exists() else {}
    majority = card.get("baselines", {}).get("majority_train", {})
    out = {}
    for prop in PROPERTIES:
        sel = [r for r in rows if r.get("question_type") == "level" and r.get("split_tag") == "heldout_material"
               and r.get("property") == prop]
        right = [bool(score_row(r["completion"], r)["correct"]) for r in sel]
        objects = _grouped([r.get("contact_id") or f"row-{i}" for i, r in enumerate(sel)], right)
        by_level = _grouped([str(r.get("answer")) for r in sel], right)
        k = sum(right)
        balanced = _mean([_mean(v) for v in by_level.values()]) if by_level else None
        lo, hi = wilson_interval(sum(_mean(v) for v in objects.values()), len(objects))
        base = majority.get(f"heldout_material_level_acc/{prop}")
        verdict = None if base is None or not sel else ("above" if lo > base else "below" if hi < base else "covers")
        out[prop] = {"n": len(sel), "objects": len(objects), "accuracy": k / len(sel) if sel else None,
                     "ci95": [lo, hi], "majority": base, "verdict": verdict, "balanced_accuracy": balanced,
                     "levels": {lv: len(v) for lv, v in sorted(by_level.items())}}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("eval_dirs", nargs="+", type=Path)
    p.add_argument("--json", type=Path, default=None, help="also write the summaries here")
    args = p.parse_args(argv)
    result = {}
    print(f"{'eval folder':32s} {'property':10s} {'rows':>4s} {'objects':>7s} {'accuracy':>8s}  {'95% interval':15s} "
          f"{'majority':>8s}  {'vs majority':11s} balanced (1/K for a constant answer)")
    for d in args.eval_dirs:
        result[str(d)] = s = summarise(d)
        for prop, r in s.items():
            acc = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
            base = "n/a" if r["majority"] is None else f"{r['majority']:.3f}"
            bal = "n/a" if r["balanced_accuracy"] is None else f"{r['balanced_accuracy']:.3f}"
            print(f"{str(d)[-32:]:32s} {prop:10s} {r['n']:4d} {r['objects']:7d} {acc:>8s}  "
                  f"[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] {base:>8s}  {r['verdict'] or 'n/a':11s} {bal}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
