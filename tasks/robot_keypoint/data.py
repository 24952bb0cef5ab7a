"""Rows of the robot keypoint task from recorded robosuite expert demos.

1. Record ``episodes`` expert demos per task (``envs.robosuite.record_demos``); the raw demos are cached on
   disk next to the QA datasets (``<cache>/robot-keypoint-demos/``), so changing the questions does not
   re-run the simulator.
2. Keyframes of each demo (ARM/PerAct heuristic, ``envs.robosuite.extract_keyframes``).
3. Every ``sample_every``-th frame is paired with the first keyframe after it
   (:func:`tasks.robot_keypoint.questions.pair_samples`), and yields questions by ``question_mix``.
4. Splits by whole episodes: ``train`` / ``test`` per training task, and ``test_heldout_task`` from the
   held-out task.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np

from embodied_r1.errors import UserError
from embodied_r1.task import atomic_dir, cache_root
from tasks.robot_keypoint.config import RobotKeypointConfig
from tasks.robot_keypoint.prompts import answer_text, build_prompt, fmt_vec
from tasks.robot_keypoint.questions import direction_label, make_mcq, pair_samples

QUESTION_ORDER = ("keypoint", "mcq", "current_state", "direction")


# ======================================================================================================
# Demos
# ======================================================================================================
def demo_cache_dir() -> Path:
    """Where raw demos are cached: ``<cache root>/robot-keypoint-demos`` (:func:`embodied_r1.task.cache_root`)."""
    return cache_root() / "robot-keypoint-demos"


def demo_seeds(cfg: RobotKeypointConfig, task_name: str) -> list[int]:
    """Seeds of a task's demos: ``seed_offset + 1000 * task_index + i`` (held-out: ``heldout_seed_offset + i``)."""
    if task_name == cfg.heldout_task:
        return [cfg.heldout_seed_offset + i for i in range(cfg.heldout_episodes)]
    ti = cfg.tasks.index(task_name)
    return [cfg.seed_offset + 1000 * ti + i for i in range(cfg.episodes)]


def demo_cache_path(task_name: str, seeds: list[int], camera_size: int) -> Path:
    return demo_cache_dir() / f"{task_name}_seed{seeds[0]}_n{len(seeds)}_cam{camera_size}"


def record_to_cache(task_name: str, seeds: list[int], camera_size: int, progress: bool = True,
                    position: int = 0) -> str:
    """Record the demos of ``task_name`` for consecutive ``seeds`` (failed ones included, with ``success``
    False) in one env, and save them to the demo cache unless they are there already.

    A simulator fault in one demo (MuJoCo error, NaN state, unstable simulation) drops that demo with its
    reason and the next one is recorded in a fresh env; the cache's ``card.json`` stats list the faults
    (seed -> reason) and ``dropped_by_reason``.

    Returns:
        The cache path.

    Raises:
        UserError: every demo of the task faulted (nothing to save).
    """
    from tqdm.auto import tqdm

    from envs import robosuite as rs
    from envs.robosuite.recorder import drop_counts, try_record_demo

    path = demo_cache_path(task_name, seeds, camera_size)
    if (path / "DONE").exists():
        return str(path)
    env, demos, faults = None, [], {}
    try:
        bar = tqdm(seeds, desc=f"expert demos {task_name}", unit="demo", disable=not progress, position=position)
        for seed in bar:
            env = env or rs.make_env(task_name, seed, camera_size=camera_size)
            demo, fault = try_record_demo(task_name, seed, env, camera_size=camera_size)
            if fault:
                faults[seed] = fault
                env.close()
                env = None  # a faulted simulator is not reused
                if progress:
                    bar.write(f"expert demos {task_name}: seed {seed} dropped: {fault}")
            else:
                demos.append(demo)
            bar.set_postfix(ok=sum(d.success for d in demos), faults=len(faults))
    finally:
        if env is not None:
            env.close()
    if not demos:
        first = next(iter(faults.values()))
        raise UserError(f"robot-keypoint: all {len(seeds)} {task_name} demos hit simulator faults "
                        f"({', '.join(f'{k}×{v}' for k, v in drop_counts([], faults).items())}; first: {first})")
    stats = {"task_name": task_name, "seeds": [seeds[0], seeds[-1]], "recorded": len(demos),
             "successes": sum(d.success for d in demos), "faults": faults,
             "dropped_by_reason": drop_counts([d.seed for d in demos if not d.success], faults)}
    with atomic_dir(path) as tmp:  # the cache entry appears whole or not at all
        rs.save_demos(demos, tmp, stats=stats)
        (tmp / "DONE").write_text(json.dumps(stats))
    return str(path)


def demo_stats(cfg: RobotKeypointConfig) -> dict[str, dict]:
    """The recording stats of each task's cached demos (``DONE``): recorded, successes, faults, dropped_by_reason."""
    out = {}
    for task_name in cfg.all_tasks:
        done = demo_cache_path(task_name, demo_seeds(cfg, task_name), cfg.camera_size) / "DONE"
        if done.exists():
            out[task_name] = {k: v for k, v in json.loads(done.read_text()).items() if k not in ("task_name",)}
    return out


def record_all(jobs: list[tuple[str, list[int]]], camera_size: int, progress: bool = True,
               num_workers: int | None = None) -> dict[str, list]:
    """Demos of every ``(task, seeds)`` job: recorded in spawned processes (one per task, up to ``num_workers``,
    by default the CPU count) and loaded back from the demo cache. Even one worker records in a spawned
    process (see below), never in this one.

    Why processes: the simulator's offscreen EGL context must not live in the calling process. After MuJoCo
    has rendered with EGL, a later first ``import triton`` (torch does it lazily, e.g. when a model loads for
    ``embodied-r1 eval``) segfaults on this machine; it also frees the GL memory, and the tasks record in
    parallel.
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from embodied_r1.device import single_threaded_worker
    from envs import robosuite as rs

    todo = [(t, s) for t, s in jobs if not (demo_cache_path(t, s, camera_size) / "DONE").exists()]
    if todo:
        ctx = mp.get_context("spawn")
        cap = num_workers or os.cpu_count() or 1
        with ProcessPoolExecutor(max_workers=max(1, min(len(todo), cap)), mp_context=ctx,
                                 initializer=single_threaded_worker) as pool:
            futures = [pool.submit(record_to_cache, t, s, camera_size, progress, i) for i, (t, s) in enumerate(todo)]
            try:
                for f in futures:
                    f.result()
            except BrokenProcessPool as exc:
                raise UserError(f"robot-keypoint: a demo-recording process died ({exc}); see its output above") from exc
    return {t: list(rs.load_demos(demo_cache_path(t, s, camera_size))) for t, s in jobs}


def demo_arrays(demo) -> dict:
    """The fields this task reads from an ``envs.robosuite.Demo``: eef_pos (T, 3), gripper_open (T,),
    keyframes, images (T, H, W, 3), success, seed."""
    if demo.images is None:
        raise UserError(f"the {demo.task_name} demo of seed {demo.seed} was recorded without images; rebuild it")
    keys = list(demo.keyframes) or demo.compute_keyframes()
    return {"eef_pos": np.asarray(demo.eef_pos, dtype=float), "gripper_open": np.asarray(demo.gripper_open, bool),
            "keyframes": [int(k) for k in keys], "images": demo.images, "success": bool(demo.success),
            "seed": int(demo.seed)}


# ======================================================================================================
# Rows
# ======================================================================================================
def demo_rows(cfg: RobotKeypointConfig, task_name: str, episode: int, demo: dict, rng: np.random.Generator) -> list[dict]:
    """All question rows of one demo (see the module docstring)."""
    from PIL import Image

    from envs.robosuite import PANDA_EEF_SIZE, reference_point, task_instruction, workspace_bounds

    instruction, ref, bounds = task_instruction(task_name), reference_point(task_name), workspace_bounds(task_name)
    eef, grip = demo["eef_pos"], demo["gripper_open"]
    rows = []
    for i, k in pair_samples(len(eef), demo["keyframes"], cfg.sample_every):
        state = [*map(float, eef[i]), float(not grip[i])]
        target = [*map(float, eef[k]), float(not grip[k])]
        image = Image.fromarray(np.asarray(demo["images"][i], dtype=np.uint8))
        base = {"images": [image], "image_modalities": ["agentview"], "task_name": task_name,
                "episode_index": episode, "frame_index": i, "keyframe_index": k, "current": state,
                "instruction": instruction, "slight_threshold": cfg.slight_threshold, "seed": demo["seed"]}
        for q in QUESTION_ORDER:
            if rng.random() >= cfg.question_mix.get(q, 0.0):
                continue
            row = _question(cfg, q, state, target, rng, bounds)
            if row is None:
                continue
            row["prompt"] = build_prompt(q, instruction, state, ref, PANDA_EEF_SIZE,
                                         options=row.pop("_options", None), slight_threshold=cfg.slight_threshold)
            rows.append({**base, **row})
    return rows


def _question(cfg, q, state, target, rng, bounds) -> dict | None:
    if q == "keypoint":
        return {"question_type": q, "answer": answer_text(q, target), "target": target, "options": []}
    if q == "current_state":
        return {"question_type": q, "answer": answer_text(q, state), "target": state, "options": []}
    if q == "mcq":
        made = make_mcq(target, rng, bounds, current=state, min_dist=cfg.mcq_min_dist, max_dist=cfg.mcq_max_dist,
                        min_separation=cfg.mcq_min_separation)
        if made is None:
            return None
        options, letter = made
        return {"question_type": q, "answer": letter, "target": target, "options": [fmt_vec(o) for o in options],
                "_options": options}
    delta = np.asarray(target[:3]) - np.asarray(state[:3])
    if np.max(np.abs(delta)) < cfg.direction_min_move:
        return None  # a gripper-only step: no meaningful direction
    return {"question_type": q, "answer": direction_label(delta, cfg.slight_threshold), "target": target,
            "options": []}


def split_episodes(n: int, test_fraction: float) -> tuple[list[int], list[int]]:
    """Episode indices for train and test: the last ``round(test_fraction * n)`` episodes (at least one when
    ``n >= 2`` and ``test_fraction > 0``, and never all of them) are test.

    >>> split_episodes(10, 0.2), split_episodes(3, 0.34), split_episodes(1, 0.2)
    (([0, 1, 2, 3, 4, 5, 6, 7], [8, 9]), ([0, 1], [2]), ([0], []))
    """
    n_test = 0 if n < 2 or test_fraction <= 0 else min(n - 1, max(1, math.floor(test_fraction * n + 0.5)))
    return list(range(n - n_test)), list(range(n - n_test, n))


def build_dataset(cfg: RobotKeypointConfig, seed: int, progress: bool = True, num_workers: int | None = None):
    """Record (or load) the demos and build the ``train`` / ``test`` / ``test_heldout_task`` splits.

    Args:
        cfg: Task settings.
        seed: Run seed (question sampling and MCQ distractors).
        progress: Show progress bars.
        num_workers: Cap on the demo-recording processes (one per simulator task; None: the CPU count). The
            rows do not depend on it.

    Returns:
        ``datasets.DatasetDict``.
    """
    from datasets import Dataset, DatasetDict

    from envs.robosuite import SUPPORTED_TASKS

    unknown = [t for t in cfg.all_tasks if t not in SUPPORTED_TASKS]
    if unknown:
        raise UserError(f"robot-keypoint: no scripted expert for {', '.join(unknown)}; "
                        f"supported tasks: {', '.join(SUPPORTED_TASKS)}")
    rng = np.random.default_rng(seed)
    splits: dict[str, list[dict]] = {"train": [], "test": [], "test_heldout_task": []}
    recorded = record_all([(t, demo_seeds(cfg, t)) for t in cfg.all_tasks], cfg.camera_size, progress,
                          num_workers)
    for task_name in cfg.all_tasks:
        seeds = demo_seeds(cfg, task_name)
        demos = [demo_arrays(d) for d in recorded[task_name]]
        ok = [i for i, d in enumerate(demos) if d["success"]]
        if not ok:
            raise UserError(f"robot-keypoint: no successful {task_name} demo among seeds {seeds[0]}..{seeds[-1]}")
        if task_name == cfg.heldout_task:
            parts = {"test_heldout_task": ok}
        else:
            tr, te = split_episodes(len(ok), cfg.test_fraction)
            parts = {"train": [ok[j] for j in tr], "test": [ok[j] for j in te]}
        for split, episodes in parts.items():
            for e in episodes:
                splits[split] += demo_rows(cfg, task_name, e, demos[e], rng)
    if not splits["train"]:
        raise UserError("robot-keypoint: the train split is empty; record more episodes (--episodes)")
    return DatasetDict({k: Dataset.from_list(v) for k, v in splits.items() if v})
