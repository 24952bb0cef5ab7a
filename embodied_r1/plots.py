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
    """Draw reward curves (total and each reward) and training metrics per stage.

    Args:
        rows: ``metrics.jsonl`` rows.
        out_dir: Folder for the PNGs.

    Returns:
        The written files.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
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
    for stage in ("sft", "grpo"):
        srows = [r for r in rows if r.get("stage") == stage and "loss" in r]
        if not srows:
            continue
        keys = [k for k in ("loss", "grad_norm", "entropy", "completions/mean_length", "learning_rate", "mean_token_accuracy")
                if any(k in r for r in srows)]
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
        written.append(p)
    return written
