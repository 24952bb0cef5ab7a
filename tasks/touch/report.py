"""Eval plots of the touch task: a confusion matrix per property and accuracy per sensor (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.touch.metrics import LEVEL_TYPES, QUESTION_ORDER, score_row
from tasks.touch.questions import sensor_name


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion(rows: list[dict], completions: list[str], prop: str, k: int) -> np.ndarray:
    """``(K, K+1)`` counts of true level (rows) vs answered level (columns; the last is "unparsed")."""
    m = np.zeros((k, k + 1), dtype=int)
    for r, c in zip(rows, completions):
        if r["question_type"] in LEVEL_TYPES and r["property"] == prop and int(r["num_levels"]) == k:
            s = score_row(c, r)
            m[int(r["answer"]), k if s["pred"] is None else int(s["pred"])] += 1
    return m


def plot_confusions(rows: list[dict], completions: list[str], path: Path, title: str = "") -> Path | None:
    """One confusion-matrix panel per property of the level rows; returns the PNG path (None: no level rows)."""
    props = [p for p in ("hardness", "roughness", "bumpiness")
             if any(r["property"] == p and r["question_type"] in LEVEL_TYPES for r in rows)]
    if not props:
        return None
    k = max(int(r["num_levels"]) for r in rows)
    plt = _plt()
    fig, axes = plt.subplots(1, len(props), figsize=(3.6 * len(props) + 0.6, 3.6), squeeze=False)
    for ax, prop in zip(axes[0], props):
        m = confusion(rows, completions, prop, k)
        frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if frac[i, j] > 0.6 else "black")
        ax.set_xticks(range(k + 1), [str(i) for i in range(k)] + ["none"])
        ax.set_yticks(range(k), [str(i) for i in range(k)])
        ax.set_xlabel("answered level")
        ax.set_ylabel("true level")
        acc = np.trace(m[:, :k]) / max(m.sum(), 1)
        ax.set_title(f"{prop} (n={m.sum()}, acc {acc:.2f})", fontsize=10)
    fig.suptitle(title or "confusion of level answers (level, conflict, cross-sensor rows)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy(result: dict, path: Path, prefix: str, keys: list[str], title: str, highlight=(),
                  labels: dict | None = None) -> Path | None:
    """Grouped bars of ``<prefix><key>`` for the model and each baseline (ticks: ``labels[key]`` if given, else
    the key); returns the PNG path."""
    cols = {"model": result.get("metrics", {}), **result.get("baselines", {})}
    keys = [k for k in keys if any(f"{prefix}{k}" in m for m in cols.values())]
    if not keys:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.4 * len(keys) * max(1, len(cols)) / 2 + 2.5, 3.6))
    width = 0.8 / len(cols)
    x = np.arange(len(keys))
    for n, (name, m) in enumerate(cols.items()):
        vals = [m.get(f"{prefix}{k}", np.nan) for k in keys]
        bars = ax.bar(x + (n - (len(cols) - 1) / 2) * width, vals, width, label=name)
        for b, v in zip(bars, vals):
            if np.isfinite(v):
                ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.2f}", ha="center", fontsize=7)
    names = [(labels or {}).get(k, k) for k in keys]
    ax.set_xticks(x, [f"{n}\n(held out)" if k in highlight else n for k, n in zip(keys, names)], fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("exact match")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_touch_report(result: dict, rows: list[dict], completions: list[str], out_dir) -> list[Path]:
    """Write ``touch_confusion.png``, ``touch_accuracy_by_sensor.png`` and ``touch_accuracy_by_type.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    held = {r["sensor"] for r in rows if r.get("split_tag") == "heldout_sensor"}
    sensors = sorted({r["sensor"] for r in rows}, key=lambda s: (s in held, s))
    label = f"{result.get('model', 'model')} · {result.get('split', '')} · n={len(rows)}"
    paths = [
        plot_confusions(rows, completions, out_dir / "touch_confusion.png", f"confusion of level answers · {label}"),
        plot_accuracy(result, out_dir / "touch_accuracy_by_sensor.png", "acc_sensor/", sensors,
                      f"accuracy per sensor · {label}", highlight=held,
                      labels={s: sensor_name(s) for s in sensors}),
        plot_accuracy(result, out_dir / "touch_accuracy_by_type.png", "acc/", list(QUESTION_ORDER),
                      f"accuracy per question type · {label}"),
    ]
    return [p for p in paths if p is not None]
