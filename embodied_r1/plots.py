"""PNG plots of a run's curves, written at the end of training and by ``embodied-r1 plot RUN``."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if len(y) < 3 or k <= 1:
        return y
    k = min(k, len(y))
    kernel = np.ones(k) / k
    padded = np.concatenate([np.full(k // 2, y[0]), y, np.full(k - 1 - k // 2, y[-1])])
    return np.convolve(padded, kernel, mode="valid")


def plot_run(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw reward curves (total and each reward), training metrics per stage, and the encoder's probe.

    Args:
        rows: ``metrics.jsonl`` rows (training rows; probe rows draw ``encoder_probe.png``; others are skipped).
        out_dir: Folder for the PNGs.

    Returns:
        The written files.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from embodied_r1.rundir import row_kind

    out_dir.mkdir(parents=True, exist_ok=True)
    probes = [r for r in rows if row_kind(r) == "probe"]
    rows = [r for r in rows if row_kind(r) == "train"]
    written = []
    grpo = [r for r in rows if r.get("stage") == "grpo" and "reward" in r]
    if grpo:
        steps = np.array([r["step"] for r in grpo])
        keys = sorted({k for r in grpo for k in r if k.startswith("rewards/") and k.endswith("/mean")})
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        y = np.array([r["reward"] for r in grpo], dtype=float)
        std = np.array([r.get("reward_std", 0.0) for r in grpo], dtype=float)
        axes[0].plot(steps, y, color="tab:blue", alpha=0.35, label="reward (per step)")
        axes[0].plot(steps, _smooth(y, 5), color="tab:blue", lw=2, label="reward (smoothed)")
        axes[0].fill_between(steps, y - std, y + std, color="tab:blue", alpha=0.1, label="±1 std within groups")
        axes[0].set(title="GRPO weighted reward", xlabel="step", ylabel="reward")
        axes[0].legend(fontsize=8)
        for k in keys:
            vals = np.array([r.get(k, np.nan) for r in grpo], dtype=float)
            axes[1].plot(steps, _smooth(np.nan_to_num(vals, nan=np.nanmean(vals) if np.isfinite(vals).any() else 0), 5),
                         label=k.split("/")[1])
        axes[1].set(title="each reward (smoothed, unweighted)", xlabel="step", ylabel="mean reward")
        if keys:
            axes[1].legend(fontsize=8)
        fig.tight_layout()
        p = out_dir / "rewards.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    for stage in dict.fromkeys(r.get("stage") for r in rows if "loss" in r):
        written.append(_plot_stage_metrics([r for r in rows if r.get("stage") == stage and "loss" in r], stage, out_dir))
    written += plot_probe(probes, out_dir)
    return written


#: Curves drawn per stage, where its rows have them.
STAGE_KEYS = ("loss", "jepa_loss", "property_loss", "contrastive_loss", "grad_norm", "entropy",
              "completions/mean_length", "learning_rate", "mean_token_accuracy")


def _plot_stage_metrics(srows: list[dict], stage: str, out_dir: Path) -> Path:
    import matplotlib.pyplot as plt

    keys = [k for k in STAGE_KEYS if any(k in r for r in srows)]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), squeeze=False)
    for ax, k in zip(axes[0], keys):
        pts = [(r["step"], r[k]) for r in srows if k in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts])
        ax.set(title=k, xlabel="step")
    fig.suptitle(f"{stage} training metrics")
    fig.tight_layout()
    p = out_dir / f"{stage}_metrics.png"
    fig.savefig(p, dpi=100)
    plt.close(fig)
    return p


def plot_probe(rows: list[dict], out_dir: Path) -> list[Path]:
    """Bar chart of the encoder stage's linear-probe accuracy per property and held-out set, before and after the
    stage, against the majority-class floor (the last probe row counts).

    Args:
        rows: Probe rows of ``metrics.jsonl`` (keys ``probe/<set>/<property>``, ``probe_before/...``,
            ``probe_majority/...``).
        out_dir: Folder for ``encoder_probe.png``.

    Returns:
        The written file, or nothing without probe results.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    row = rows[-1] if rows else {}
    cells = [tuple(k.split("/")[1:]) for k in row if k.startswith("probe/")]
    if not cells:
        return []
    sets = list(dict.fromkeys(c[0] for c in cells))
    props = list(dict.fromkeys(c[1] for c in cells))
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(sets), figsize=(1.9 * len(props) + 1.6, 3.6) if len(sets) == 1 else
                             (3.4 * len(sets) + 0.6 * len(props), 3.6), squeeze=False, sharey=True)
    x = np.arange(len(props))
    for ax, name in zip(axes[0], sets):
        for j, (prefix, label, color) in enumerate((("probe_before", "before the stage", "tab:gray"),
                                                    ("probe", f"after (step {row.get('step')})", "tab:blue"))):
            vals = [row.get(f"{prefix}/{name}/{p}", np.nan) for p in props]
            bars = ax.bar(x + (j - 0.5) * 0.38, vals, 0.38, label=label, color=color)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        floor = [row.get(f"probe_majority/{name}/{p}", np.nan) for p in props]
        ax.scatter(x, floor, marker="_", s=900, color="tab:red", label="majority class", zorder=3)
        n = row.get(f"probe_n/{name}")
        ax.set(title=name.replace("_", " ") + (f" ({n} sequences)" if n else ""), xticks=x, xticklabels=props,
               ylim=(0, 1.1))
    axes[0][0].set_ylabel("linear-probe accuracy")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("encoder stage: linear probe on frozen pooled features (fit on train sequences)", fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    p = out_dir / "encoder_probe.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]
