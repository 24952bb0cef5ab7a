"""Closed-loop results: success rates with Wilson intervals, the rich table, videos, 3D path plots, and the
offline keypoint error of the same policy on its run's eval split (the task's own metrics)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from embodied_r1.stats import wilson_interval


# ======================================================================================================
# Success rates
# ======================================================================================================
def task_summary(results: list[dict]) -> dict:
    """Success rate with its 95% Wilson interval, mean keypoint calls, failure reasons and simulator faults.

    A faulted episode (``fault`` set: MuJoCo error, NaN state, unstable simulation, dead worker) counts as a
    failure in the success rate, and again in ``faults`` / ``fault_reasons`` (by kind, see
    :func:`envs.robosuite.faults.fault_kind`), so a report can tell a bad policy from a bad simulator.

    >>> s = task_summary([{"success": True, "calls": 2, "env_steps": 40},
    ...                   {"success": False, "calls": 1, "env_steps": 7, "reason": "fault: nan state: x",
    ...                    "fault": "nan state: non-finite qvel at dof 0 (j) at step 7"}])
    >>> s["success_rate"], s["faults"], s["fault_reasons"], s["failure_reasons"]
    (0.5, 1, {'nan state': 1}, {'fault': 1})
    """
    from envs.robosuite.faults import fault_kind

    n = len(results)
    k = sum(bool(r["success"]) for r in results)
    lo, hi = wilson_interval(k, n)
    reasons: dict[str, int] = {}
    faults: dict[str, int] = {}
    for r in results:
        if not r["success"]:
            key = (r.get("reason") or "?").split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        if r.get("fault"):
            faults[fault_kind(r["fault"])] = faults.get(fault_kind(r["fault"]), 0) + 1
    return {
        "episodes": n, "successes": k, "success_rate": k / n if n else float("nan"), "ci95": [lo, hi],
        "mean_calls": float(np.mean([r["calls"] for r in results])) if n else float("nan"),
        "mean_env_steps": float(np.mean([r["env_steps"] for r in results])) if n else float("nan"),
        "parse_failures": int(sum(r.get("parse_failures", 0) for r in results)),
        "failure_reasons": reasons,
        "faults": sum(faults.values()), "fault_reasons": faults,
    }


def summarize(ctx, results: list[dict], wall_s: float, out: Path, extra: dict | None = None) -> dict:
    """Per-task and overall summary, plots; written to ``summary.json``.

    Args:
        ctx: The core's :class:`~embodied_r1.task.ControlContext`.
        results: Every finished episode's result.
        wall_s: Seconds the episodes of this call took.
        out: The sweep folder.
        extra: More summary fields (generation calls, resumed episodes).

    Returns:
        The summary dict.
    """
    opts = ctx.options
    tasks = {t: task_summary([r for r in results if r["task_name"] == t]) for t in opts.tasks}
    summary = {
        "policy": ctx.policy, "tasks": tasks, "overall": task_summary(results), "wall_s": round(wall_s, 1),
        "workers": opts.workers, "seed0": ctx.seed, "max_keypoint_calls": opts.max_keypoint_calls,
        "max_env_steps": opts.max_env_steps, **(extra or {}),
    }
    artifacts = [r["video"] for r in results if r.get("video") and not r["video"].startswith("video failed")]
    p = plot_paths(results, out / "paths_3d.png", title=f"eval-control · {ctx.policy}")
    if p:
        artifacts.append(str(p))
    summary["artifacts"] = artifacts
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _pct(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{100 * x:.0f}%"


def print_table(summary: dict, log=print) -> None:
    """The rich table of a sweep: one row per task plus the overall row, then the artifacts."""
    from rich.console import Console
    from rich.table import Table

    off = summary.get("offline") or {}
    table = Table(title=f"eval-control · policy {summary['policy']} · {summary['wall_s']:.0f} s")
    for col in ("task", "success", "95% CI", "calls", "steps", "unparsed", "L2 (m)", "failures", "sim faults"):
        table.add_column(col, justify="left" if col in ("task", "failures", "sim faults") else "right")
    rows = list(summary["tasks"].items()) + ([("all", summary["overall"])] if len(summary["tasks"]) > 1 else [])
    for task, s in rows:
        l2 = (off.get("per_task") or {}).get(task, off.get("l2_mean") if task == "all" else None)
        table.add_row(task, f"{s['successes']}/{s['episodes']} {_pct(s['success_rate'])}",
                      f"[{_pct(s['ci95'][0])}, {_pct(s['ci95'][1])}]", f"{s['mean_calls']:.1f}",
                      f"{s['mean_env_steps']:.0f}", str(s["parse_failures"]),
                      "n/a" if l2 is None else f"{l2:.3f}",
                      ", ".join(f"{k}×{v}" for k, v in s["failure_reasons"].items()) or "—",
                      ", ".join(f"{k}×{v}" for k, v in s.get("fault_reasons", {}).items()) or "—")
    Console(width=max(100, Console().width)).print(table)
    log("columns: success = successes/episodes; 95% CI = Wilson interval; calls = mean keypoint calls; steps = "
        "mean controller steps; unparsed = model answers without a keypoint; L2 = offline next-keypoint error; "
        "sim faults = episodes ended by a simulator fault (counted as failures), by kind")
    overall = summary["overall"]
    if overall.get("faults"):
        log(f"simulator faults: {overall['faults']}/{overall['episodes']} episodes "
            f"({', '.join(f'{k}×{v}' for k, v in overall['fault_reasons'].items())}); reasons in results.jsonl 'fault'")
    if off.get("note"):
        log(f"offline keypoint error: {off['note']}")
    for a in summary.get("artifacts", []):
        log(f"artifact: {a}")


# ======================================================================================================
# Artifacts
# ======================================================================================================
def write_video(frames: list, out_base: Path, fps: int = 20) -> Path:
    """Write frames as ``<out_base>.mp4`` (imageio-ffmpeg), or ``.gif`` when no ffmpeg is available."""
    import imageio.v2 as imageio

    out_base = Path(out_base)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    frames = [np.asarray(f, dtype=np.uint8) for f in frames]
    try:
        path = out_base.with_suffix(".mp4")
        imageio.mimwrite(path, frames, fps=fps, macro_block_size=16)
        return path
    except Exception:  # noqa: BLE001 - no ffmpeg backend: fall back to a gif
        path = out_base.with_suffix(".gif")
        imageio.mimwrite(path, frames, duration=1000 / fps, loop=0)
        return path


def plot_paths(results: list[dict], out: Path, title: str = "", per_task: int = 2) -> Path | None:
    """3D plot per task: end-effector paths (lines) against the proposed keypoints (markers, by gripper)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task_name"] for r in results if r.get("eef_path")})
    if not tasks:
        return None
    fig = plt.figure(figsize=(5.2 * len(tasks), 4.8))
    for i, task in enumerate(tasks):
        ax = fig.add_subplot(1, len(tasks), i + 1, projection="3d")
        eps = [r for r in results if r["task_name"] == task and r.get("eef_path")]
        eps = sorted(eps, key=lambda r: (not r.get("record_video"), r["episode"]))[:per_task]
        for j, r in enumerate(eps):
            path = np.asarray(r["eef_path"], float)
            colour = f"C{j}"
            ax.plot(path[:, 0], path[:, 1], path[:, 2], color=colour, lw=1.4,
                    label=f"ep {r['episode']} ({'success' if r['success'] else 'fail'})")
            ax.scatter(*path[0, :3], color=colour, marker="o", s=30)
            kp = np.asarray(r["keypoints"], float).reshape(-1, 4)
            if len(kp):
                closed = kp[:, 3] >= 0.5
                ax.scatter(kp[~closed, 0], kp[~closed, 1], kp[~closed, 2], color=colour, marker="^", s=45,
                           edgecolors="k", label="keypoint (open)" if j == 0 else None)
                ax.scatter(kp[closed, 0], kp[closed, 1], kp[closed, 2], color=colour, marker="s", s=45,
                           edgecolors="k", label="keypoint (closed)" if j == 0 else None)
                for n, p in enumerate(kp[:12]):
                    ax.text(p[0], p[1], p[2], str(n + 1), fontsize=7)
        _equal_axes(ax, [np.asarray(r["eef_path"], float)[:, :3] for r in eps]
                    + [np.asarray(r["keypoints"], float).reshape(-1, 4)[:, :3] for r in eps])
        ax.set_xlabel("x fwd (m)")
        ax.set_ylabel("y left (m)")
        ax.set_zlabel("z up (m)")
        ax.set_title(task)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title or "end-effector path vs keypoints")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _equal_axes(ax, arrays, min_span: float = 0.15) -> None:
    """Same scale on x, y, z (a 3D path is misleading otherwise), at least ``min_span`` metres wide."""
    pts = np.concatenate([a for a in arrays if len(a)], axis=0)
    lo, hi = pts.min(0), pts.max(0)
    centre, half = (lo + hi) / 2, max(min_span, float((hi - lo).max())) / 2 * 1.05
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(4))


# ======================================================================================================
# Offline keypoint error on the run's eval split
# ======================================================================================================
def offline_rows(data, tasks: list[str], limit: int) -> list[dict]:
    """Up to ``limit`` ``keypoint`` rows of ``tasks`` from the test splits (``test``, ``test_heldout_task``) of
    the task's dataset, in split order."""
    rows: list[dict] = []
    for name in sorted(n for n in data if n.startswith("test")):
        split = data[name]
        idx = [i for i, (q, t) in enumerate(zip(split["question_type"], split["task_name"]))
               if q == "keypoint" and t in tasks]
        rows += [split[i] for i in idx[:limit - len(rows)]]
    return rows


def offline_keypoint_error(ctx, generator) -> dict:
    """L2 error (m) of the policy model's next-keypoint answers on the test splits' ``keypoint`` rows of the
    sweep's tasks, scored by the task's own metrics (:func:`~tasks.robot_keypoint.metrics.robot_metrics`).

    The rows come from the core (``ctx.load_eval_data``: the dataset of the run's own task config and seed),
    and the answers from ``ctx.answer_rows``, as ``embodied-r1 eval`` answers them. Built-in policies have no
    model to score.

    Args:
        ctx: The core's :class:`~embodied_r1.task.ControlContext`.
        generator: The policy model's generator; None for a built-in policy.

    Returns:
        ``{"l2_mean", "l2_median", "per_task", "n", "parsed", "dataset", "note"}``; ``l2_mean`` None (n/a)
        for a built-in policy or when the eval split has no keypoint rows of the sweep's tasks.
    """
    from tasks.robot_keypoint.metrics import robot_metrics

    opts = ctx.options
    if generator is None:
        return {"l2_mean": None, "note": f"n/a: the built-in policy '{ctx.policy}' has no model answers to score "
                                         f"(oracle answers the labels; zero is the 'stay' baseline of `embodied-r1 eval`)"}
    data, path = ctx.load_eval_data()
    rows = offline_rows(data, opts.tasks, opts.offline_max_rows)
    if not rows:
        return {"l2_mean": None, "dataset": str(path),
                "note": f"n/a: {path} has no test keypoint rows of {', '.join(opts.tasks)}"}
    texts = ctx.answer_rows(generator, rows, batch_size=opts.batch_size, max_new_tokens=opts.max_new_tokens)
    m = robot_metrics(texts, rows)
    row_tasks = sorted({r["task_name"] for r in rows})
    # the metrics name per-task values only when the rows hold several tasks; one task's is the overall value
    per_task = {t: m.get(f"{t}/keypoint_l2_mean", m.get("keypoint_l2_mean") if len(row_tasks) == 1 else None)
                for t in row_tasks}
    per_task = {t: v for t, v in per_task.items() if v is not None}
    parsed = round(m.get("keypoint_parse_rate", 0.0) * len(rows))
    return {
        "l2_mean": m.get("keypoint_l2_mean"), "l2_median": m.get("keypoint_l2_median"), "per_task": per_task,
        "n": len(rows), "parsed": parsed, "dataset": str(path),
        "note": f"{parsed}/{len(rows)} test keypoint answers parsed; dataset {path}",
    }
