"""Tables and plots of the GRPO-vs-SFT arms: one folder per seed, as ``experiments/touch_arms.sh`` and
``experiments/robot_arms.sh`` leave them (``OUT/<arm>/eval/eval.json``, ``OUT/<arm>/metrics.jsonl``,
``OUT/<arm>/eval_heldout/eval.json``, ``OUT/<arm>/control/summary.json``), or as copied into ``docs/results``
(``<arm>/eval.json``, ``<arm>/eval_heldout.json``, ``<arm>/control_summary.json``).

Per arm: each metric per seed, its mean and range; for a GRPO arm, the change against the SFT model it started
from, per seed (relative for error metrics). Writes ``report.json``, ``arms_<task>.png`` (the metrics per arm,
a dot per seed), ``grpo_curves_<task>.png`` (reward, zero-std groups and entropy per GRPO step) and prints a
Markdown table.

Examples::

    python experiments/report_arms.py runs/arms0 runs/arms1 --out runs/arms_report
    python experiments/report_arms.py docs/results/arms_small_h100/touch/seed* --out docs/results/arms_small_h100/touch
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

#: Metrics shown per task: (key in eval.json's metrics, label, lower is better).
METRICS = {
    "touch": [("heldout_sensor_omae", "held-out-sensor OMAE", True), ("omae", "OMAE", True),
              ("exact_match", "exact match", False), ("acc/level", "level accuracy", False),
              ("csc", "CSC", False), ("cf_gap/removed", "counterfactual gap (image removed)", False),
              ("heldout_material_level_acc/hardness", "held-out objects: hardness", False),
              ("heldout_material_level_acc/roughness", "held-out objects: roughness", False),
              ("heldout_material_level_acc/bumpiness", "held-out objects: bumpiness", False)],
    "robot-keypoint": [("keypoint_l2_mean", "keypoint L2 (m)", True), ("keypoint_l2_median", "keypoint L2 median (m)", True),
                       ("keypoint_gripper_acc", "gripper accuracy", False), ("mcq_acc", "MCQ accuracy", False),
                       ("direction_acc", "direction accuracy", False),
                       ("heldout_task/keypoint_l2_mean", "held-out task: keypoint L2 (m)", True),
                       ("heldout_task/mcq_acc", "held-out task: MCQ accuracy", False),
                       ("control_success", "closed-loop success", False)],
}
#: Training-free baselines of eval.json drawn as lines (name in eval.json's baselines).
BASELINES = {"touch": ("majority_train", "random"), "robot-keypoint": ("stay", "majority")}
GRPO_CURVES = (("reward", "mean reward"), ("frac_reward_zero_std", "groups with zero reward std"), ("entropy", "entropy (nats/token)"))


def base_of(arm: str) -> str | None:
    """The SFT arm a GRPO arm starts from (None for the others)."""
    if not arm.startswith("grpo_"):
        return None
    return "sft_noenc" if arm.endswith("_noenc") else "sft"


def _first(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def read_seed(folder: Path) -> dict:
    """``{arm: {"task", "metrics", "baselines", "curve"}}`` of one seed's folder (arms without results skipped)."""
    arms = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "logs"):
        entry: dict = {"metrics": {}, "baselines": {}, "curve": []}
        ev = _first(d / "eval" / "eval.json", d / "eval.json")
        if ev:
            e = json.loads(ev.read_text())
            entry.update(task=e.get("task"), metrics=dict(e.get("metrics", {})), baselines=e.get("baselines", {}))
        held = _first(d / "eval_heldout" / "eval.json", d / "eval_heldout.json")
        if held:
            entry["metrics"].update({f"heldout_task/{k}": v for k, v in json.loads(held.read_text())["metrics"].items()})
        ctl = _first(d / "control" / "summary.json", d / "control_summary.json")
        if ctl:
            overall = json.loads(ctl.read_text())["overall"]
            entry["task"] = entry.get("task") or "robot-keypoint"
            entry["metrics"]["control_success"] = overall["success_rate"]
            entry["metrics"]["control_episodes"] = overall["episodes"]
            entry["control_ci95"] = overall.get("ci95")
        log = d / "metrics.jsonl"
        if log.is_file():
            for line in log.read_text().splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill
                if r.get("stage") == "grpo" and "reward" in r:
                    entry["curve"].append(r)
        if entry.get("task"):
            arms[d.name] = entry
    return arms


def summarise(seeds: dict[str, dict]) -> dict:
    """Per arm: the metrics per seed, their mean and range, and a GRPO arm's change against its SFT model."""
    tasks = {a["task"] for arms in seeds.values() for a in arms.values()}
    if len(tasks) != 1:
        raise SystemExit(f"report_arms: the folders mix tasks {sorted(tasks)}; give the seeds of one task")
    task = tasks.pop()
    names = sorted({arm for arms in seeds.values() for arm in arms}, key=_arm_order)
    out: dict = {"task": task, "seeds": list(seeds), "arms": {}}
    for arm in names:
        per_seed = {s: arms[arm]["metrics"] for s, arms in seeds.items() if arm in arms}
        row: dict = {"per_seed": per_seed, "mean": {}, "range": {}, "vs_base": {}}
        for key, _, lower in METRICS[task]:
            vals = [m[key] for m in per_seed.values() if _finite(m.get(key))]
            if vals:
                row["mean"][key], row["range"][key] = float(np.mean(vals)), [min(vals), max(vals)]
            base = base_of(arm)
            changes = []
            for s, m in per_seed.items():
                b = seeds[s].get(base, {}).get("metrics", {}) if base else {}
                if _finite(m.get(key)) and _finite(b.get(key)):
                    d = m[key] - b[key]
                    changes.append(d / b[key] if lower and b[key] else d)
            if changes:
                row["vs_base"][key] = {"per_seed": changes, "mean": float(np.mean(changes)),
                                       "kind": "relative" if lower else "absolute"}
        out["arms"][arm] = row
    out["baselines"] = {}
    for name in BASELINES[task]:
        vals = [a["baselines"][name] for arms in seeds.values() for a in arms.values() if name in a.get("baselines", {})]
        if vals:
            out["baselines"][name] = {k: float(np.mean([v[k] for v in vals if _finite(v.get(k))]))
                                      for k, _, _ in METRICS[task] if any(_finite(v.get(k)) for v in vals)}
    return out


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _arm_order(arm: str):
    order = ["sft", "sft_noenc", "grpo_full", "grpo_no_consistency", "grpo_no_grounded", "grpo_exact",
             "grpo_hot", "grpo_long", "grpo_distance", "grpo_mcq", "grpo_all", "oracle", "zero"]
    stem = arm[:-len("_noenc")] if arm.endswith("_noenc") and arm != "sft_noenc" else arm
    return (arm.endswith("_noenc") and arm != "sft_noenc", order.index(stem) if stem in order else 99, arm)


def markdown(report: dict) -> str:
    """The arms as a Markdown table: mean (per-seed values), and the change against the SFT model."""
    task, arms = report["task"], report["arms"]
    metrics = [m for m in METRICS[task] if any(m[0] in a["mean"] for a in arms.values())]
    lines = ["| arm | " + " | ".join(label for _, label, _ in metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for arm, row in arms.items():
        cells = []
        for key, _, lower in metrics:
            if key not in row["mean"]:
                cells.append("")
                continue
            seeds = " / ".join(f"{m[key]:.3f}" for m in row["per_seed"].values() if _finite(m.get(key)))
            cell = f"{row['mean'][key]:.3f} ({seeds})"
            ch = row["vs_base"].get(key)
            if ch:
                cell += f" · {100 * ch['mean']:+.1f} %" if ch["kind"] == "relative" else f" · {ch['mean']:+.3f}"
            cells.append(cell)
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    for name, vals in report["baselines"].items():
        lines.append(f"| *{name} (baseline)* | " + " | ".join(f"{vals[k]:.3f}" if k in vals else "" for k, _, _ in metrics) + " |")
    return "\n".join(lines)


def plot(report: dict, seeds: dict[str, dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task, arms = report["task"], report["arms"]
    tag = "touch" if task == "touch" else "robot"
    metrics = [m for m in METRICS[task] if any(m[0] in a["mean"] for a in arms.values())]
    cols = 3
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    names = list(arms)
    colors = {n: ("tab:gray" if n.startswith("sft") else "tab:blue" if n.startswith("grpo") else "tab:green")
              for n in names}
    for ax, (key, label, lower) in zip(axes.flat, metrics):
        shown = [n for n in names if key in arms[n]["mean"]]
        x = np.arange(len(shown))
        ax.bar(x, [arms[n]["mean"][key] for n in shown], color=[colors[n] for n in shown], alpha=0.7)
        for i, n in enumerate(shown):
            vals = [m[key] for m in arms[n]["per_seed"].values() if _finite(m.get(key))]
            ax.scatter([i] * len(vals), vals, color="k", s=12, zorder=3)
        for (bname, vals), style in zip(report["baselines"].items(), ("--", ":")):
            if key in vals:
                ax.axhline(vals[key], color="tab:red", ls=style, lw=1, label=f"{bname} baseline")
        ax.set_xticks(x, shown, rotation=40, ha="right", fontsize=8)
        ax.set_title(f"{label} ({'lower' if lower else 'higher'} is better)", fontsize=10)
        if report["baselines"] and any(key in v for v in report["baselines"].values()):
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(f"{task}: arms (bar = mean of seeds {', '.join(report['seeds'])}; dots = seeds)")
    fig.tight_layout()
    paths = [out / f"arms_{tag}.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)

    grpo = [n for n in names if n.startswith("grpo") and any(seeds[s].get(n, {}).get("curve") for s in seeds)]
    if grpo:
        fig, axes = plt.subplots(1, len(GRPO_CURVES), figsize=(5.5 * len(GRPO_CURVES), 3.8))
        cmap = plt.get_cmap("tab10")
        for ax, (key, label) in zip(axes, GRPO_CURVES):
            for i, n in enumerate(grpo):
                for j, s in enumerate(seeds):
                    curve = seeds[s].get(n, {}).get("curve", [])
                    pts = [(r["step"], r[key]) for r in curve if _finite(r.get(key))]
                    if pts:
                        ax.plot(*zip(*pts), color=cmap(i % 10), lw=1, ls="-" if j == 0 else "--",
                                label=n if j == 0 else None)
            ax.set_xlabel("GRPO step")
            ax.set_title(label, fontsize=10)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{task}: GRPO curves (solid: seed {report['seeds'][0]}, dashed: other seeds)")
        fig.tight_layout()
        paths.append(out / f"grpo_curves_{tag}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path, help="one folder per seed (an arm script's OUT)")
    ap.add_argument("--out", type=Path, required=True, help="folder for report.json and the plots")
    args = ap.parse_args(argv)
    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:
        print(f"report_arms: not a folder: {', '.join(missing)}; give the OUT folders of the arm scripts", file=sys.stderr)
        return 2
    seeds = {}
    for f in args.folders:
        arms = read_seed(f)
        if not arms:
            print(f"report_arms: {f} holds no arm with results (<arm>/eval/eval.json or <arm>/control/summary.json)",
                  file=sys.stderr)
            return 2
        seeds[f.name] = arms
    report = summarise(seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "touch" if report["task"] == "touch" else "robot"
    (args.out / f"report_{tag}.json").write_text(json.dumps(report, indent=1))
    paths = plot(report, seeds, args.out)
    print(markdown(report))
    print("\nwritten: " + ", ".join(str(p) for p in [args.out / f"report_{tag}.json", *paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
