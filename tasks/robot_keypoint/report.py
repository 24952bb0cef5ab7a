"""The offline eval report: a histogram of next-keypoint L2 errors per robosuite task."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.robot_keypoint.metrics import baseline_answers, keypoint_errors


def plot_keypoint_errors(rows: list[dict], completions: list, out_dir, title: str = "") -> Path | None:
    """Histogram (one panel per task) of the model's keypoint L2 errors next to the ``stay`` baseline.

    Args:
        rows: Eval rows.
        completions: The model's answers, one per row.
        out_dir: Folder for ``keypoint_errors.png``.
        title: Figure title.

    Returns:
        The PNG path, or None when there are no keypoint rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = keypoint_errors(completions, rows)
    stay = keypoint_errors(baseline_answers(rows)["stay"], rows)
    tasks = sorted(set(model) | set(stay))
    if not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        m, s = model.get(task, []), stay.get(task, [])
        hi = max([0.05, *m, *s])
        bins = np.linspace(0, min(hi, 1.0) * 1.02, 25)
        if s:
            ax.hist(np.clip(s, 0, bins[-1]), bins=bins, alpha=0.45, color="grey", label=f"stay (n={len(s)})")
        if m:
            ax.hist(np.clip(m, 0, bins[-1]), bins=bins, alpha=0.75, color="tab:blue",
                    label=f"model (n={len(m)}, median {np.median(m):.3f} m)")
        n_rows = sum(r["question_type"] == "keypoint" and r.get("task_name") == task for r in rows)
        ax.set_title(f"{task}: model answers parsed {len(m)}/{n_rows}")
        ax.set_xlabel("next-keypoint L2 error (m)")
        ax.set_ylabel("rows")
        ax.legend(fontsize=8)
    fig.suptitle(title or "robot-keypoint: offline keypoint error")
    fig.tight_layout()
    out = Path(out_dir) / "keypoint_errors.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
