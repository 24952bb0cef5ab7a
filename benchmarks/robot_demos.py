"""Scripted-expert demos and the oracle keypoint executor on robosuite tasks (prints numbers; not a test).

    python benchmarks/robot_demos.py --tasks Lift,Stack --episodes 20 --oracle-seeds 20
    python benchmarks/robot_demos.py --tasks Lift,Stack,PickPlaceCan,Door --figures docs/images

Per task:
  demos   record --episodes expert demos (seeds seed0..) with images; print the expert success rate,
          dropped (failed) demos, mean keyframes per kept demo, and the recording rate in frames/s
          (rendering included, env creation included)
  oracle  for --oracle-seeds seeds, record the expert demo (state only) and replay its own keyframes
          [eef_pos, gripper] through the KeypointExecutor; success rate with a 95% Wilson interval
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

# ---------------------------------------------------------------- args
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--tasks", default="Lift,Stack,PickPlaceCan,Door")
p.add_argument("--episodes", type=int, default=20, help="expert demos per task (0: skip)")
p.add_argument("--oracle-seeds", type=int, default=20, help="oracle-executor episodes per task (0: skip)")
p.add_argument("--seed0", type=int, default=0)
p.add_argument("--oracle-seed0", type=int, default=10_000, help="oracle seeds start here (held apart from demos)")
p.add_argument("--camera-size", type=int, default=224)
p.add_argument("--wrist", action="store_true")
p.add_argument("--control", choices=["absolute", "delta"], default="absolute")
p.add_argument("--figures", help="write <dir>/robot_<task>.png from the first kept demo")
p.add_argument("--save", help="save the demos of each task to <dir>/<task> (datasets.save_to_disk + card.json)")
p.add_argument("--quiet", action="store_true", help="no per-episode lines")
p.add_argument("--json", help="also write the numbers to this file")
args = p.parse_args()

from embodied_r1.stats import wilson_interval  # noqa: E402
from envs.robosuite import record_demos, workspace_bounds  # noqa: E402
from envs.robosuite.executor import run_oracle  # noqa: E402
from envs.robosuite.make import make_env  # noqa: E402


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a success rate; NaN when no episode ran (the core's gives (0, 1) there)."""
    return (float("nan"), float("nan")) if n == 0 else wilson_interval(successes, n)


results: dict = {}
tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
for task in tasks:
    out: dict = {}
    # ============================================================ expert demos
    if args.episodes > 0:
        demos, stats = record_demos(
            task, args.episodes, args.seed0, progress=not args.quiet,
            camera_size=args.camera_size, wrist=args.wrist, control=args.control,
        )
        low, high = workspace_bounds(task)
        keys = [d.eef_pos[k] for d in demos for k in d.keyframes]
        outside = sum(bool((k < low).any() or (k > high).any()) for k in keys)
        ci = wilson(stats["successes"], stats["episodes"])
        out["demos"] = {**stats, "success_ci95": ci, "keyframes_outside_workspace": outside,
                        "mean_frames": stats["frames"] / max(len(demos), 1)}
        print(
            f"{task:13s} expert   success {stats['success_rate']:.0%} ({stats['successes']}/{stats['episodes']}, "
            f"95% CI {ci[0]:.2f}-{ci[1]:.2f})  dropped {stats['dropped']}  "
            f"keyframes/demo {stats['mean_keyframes']:.1f}  frames/demo {out['demos']['mean_frames']:.0f}  "
            f"record {stats['frames_per_s']:.1f} frames/s  keyframes outside workspace {outside}",
            flush=True,
        )
        if args.figures and demos:
            from envs.robosuite.figures import save_demo_figure

            path = save_demo_figure(demos[0], Path(args.figures) / f"robot_{task}.png")
            print(f"{task:13s} figure   {path}")
        if args.save and demos:
            from envs.robosuite.dataset import save_demos

            print(f"{task:13s} saved    {save_demos(demos, Path(args.save) / task, stats)}")
        del demos
    # ============================================================ oracle executor
    if args.oracle_seeds > 0:
        t0 = time.perf_counter()
        env = make_env(task, args.oracle_seed0, render=False, control=args.control)
        wins, expert_wins, steps = 0, 0, []
        for seed in range(args.oracle_seed0, args.oracle_seed0 + args.oracle_seeds):
            res = run_oracle(task, seed, env=env)
            wins += res.success
            expert_wins += res.expert_success
            steps.append(res.steps)
            if not args.quiet:
                print(f"[{task}] oracle seed {seed}: {'ok  ' if res.success else 'FAIL'} "
                      f"{res.keypoints} keypoints, {res.steps} steps, expert {'ok' if res.expert_success else 'FAIL'}",
                      flush=True)
        env.close()
        n = args.oracle_seeds
        ci = wilson(wins, n)
        out["oracle"] = {"seeds": n, "successes": wins, "success_rate": wins / n, "success_ci95": ci,
                         "expert_successes": expert_wins, "mean_env_steps": sum(steps) / n,
                         "seconds": time.perf_counter() - t0}
        print(
            f"{task:13s} oracle   success {wins / n:.0%} ({wins}/{n}, 95% Wilson CI {ci[0]:.2f}-{ci[1]:.2f})  "
            f"expert on the same seeds {expert_wins}/{n}  env steps/episode {sum(steps) / n:.0f}",
            flush=True,
        )
    results[task] = out

if args.json:
    Path(args.json).write_text(json.dumps(results, indent=2, default=float))
