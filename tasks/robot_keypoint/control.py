"""``embodied-r1 eval-control`` for robot-keypoint: a policy proposes keypoints, the executor drives there.

Loop of one episode (in a worker process, :mod:`tasks.robot_keypoint.control_worker`)::

    obs = env.reset(seed)
    until success or a budget runs out:
        keypoint = policy(obs.image, obs.state)      # [x, y, z, g], world frame
        obs = env.step(keypoint)                      # the OSC executor drives there

Episodes run in parallel worker processes (``spawn``), each owning its envs. For a model policy the
workers send ``(image, state)`` here, and each round the queries of all live episodes go to the model in
one ``generate`` call, with the same prompt builder and parser as the training rows
(:mod:`tasks.robot_keypoint.prompts`). Results are appended to ``results.jsonl`` as episodes finish, so a
crash loses nothing that finished; a worker process that dies marks its episode failed (a fault) and is
replaced. ``--resume`` continues a killed sweep in the same ``--output`` without redoing finished episodes
(:mod:`tasks.robot_keypoint.control_output`).

Everything outside the simulator comes from the core's :class:`embodied_r1.task.ControlContext`: the
options, the policy and the way to load its model, the run's task config (its camera size) and the eval
data that the offline keypoint error is scored on. This package reads no config file and no cache folder.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
import time
from pathlib import Path

import numpy as np

from embodied_r1.task import ControlContext
from tasks.robot_keypoint import control_worker
from tasks.robot_keypoint.control_output import NOT_RUN_PREFIX, RESULTS, ResultLog, open_sweep
from tasks.robot_keypoint.control_worker import EpisodeRunner, Job, WorkerSettings, worker_main


# ======================================================================================================
# Model policy: prompts in, keypoints out (shared prompt builder and parser)
# ======================================================================================================
#: Longest wait (s) for a live but idle worker to start its episode before a query round goes out without it.
IDLE_WAIT_S = 5.0


class ModelPolicy:
    """Answers keypoint queries with a :class:`embodied_r1.rollout.Generator`, one batched call per round.

    Args:
        generator: Has ``generate(prompts, images, max_new_tokens=, temperature=)``.
        max_new_tokens, temperature: Generation settings.
    """

    def __init__(self, generator, max_new_tokens: int = 128, temperature: float = 0.0):
        self.generator = generator
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.calls = 0
        self.batch_sizes: list[int] = []

    def answer(self, queries: list[tuple]) -> list[tuple]:
        """``[(task_name, image, state), ...]`` -> ``[(keypoint or None, text), ...]``."""
        from PIL import Image

        from envs.robosuite import PANDA_EEF_SIZE, reference_point, task_instruction
        from tasks.robot_keypoint.prompts import build_prompt, parse_keypoint

        prompts = [build_prompt("keypoint", task_instruction(t), s, reference_point(t), PANDA_EEF_SIZE)
                   for t, _, s in queries]
        images = [[Image.fromarray(np.asarray(im, dtype=np.uint8))] for _, im, _ in queries]
        texts = self.generator.answer(prompts, images, max_new_tokens=self.max_new_tokens,
                                      temperature=self.temperature)
        self.calls += 1
        self.batch_sizes.append(len(queries))
        return [(parse_keypoint(t), t) for t in texts]


# ======================================================================================================
# The sweep
# ======================================================================================================
def make_jobs(ctx: ControlContext) -> list[Job]:
    """Episodes in order: for each task, seeds ``ctx.seed .. ctx.seed + episodes - 1``; the first
    ``video_episodes`` of each task are recorded."""
    opts = ctx.options
    return [Job(t, i, ctx.seed + i, i < opts.video_episodes) for t in opts.tasks for i in range(opts.episodes)]


def camera_size(ctx: ControlContext) -> int:
    """The policy's image side: the ``camera_size`` option, else the task config's (a run's own: control images
    match what the model trained on)."""
    return ctx.options.camera_size or ctx.task_config.camera_size


def _failed(job: Job, policy: str, reason: str, fault: str | None = None) -> dict:
    return {"task_name": job.task_name, "episode": job.episode, "seed": job.seed, "record_video": job.record_video,
            "policy": policy, "success": False, "calls": 0, "env_steps": 0, "parse_failures": 0, "reason": reason,
            "fault": fault, "keypoints": [], "eef_path": [], "answers": [], "wall_s": 0.0}


def run_inline(jobs: list[Job], settings: WorkerSettings, model: ModelPolicy | None, log: ResultLog, bar) -> None:
    """Play the episodes in this process (``workers: 0``): simple, and debuggers and monkeypatches work."""
    query = (lambda t, im, s: model.answer([(t, im, s)])[0]) if model else None
    runner = EpisodeRunner(settings, query)
    try:
        for job in jobs:
            log.add(runner.run(job))
            bar.update(1)
    finally:
        runner.close()


def run_workers(jobs: list[Job], settings: WorkerSettings, n_workers: int, model: ModelPolicy | None,
                log: ResultLog, bar, poll_s: float = 0.5) -> None:
    """Play the episodes in ``n_workers`` spawned processes; batch model queries across live episodes."""
    ctx = mp.get_context("spawn")
    job_q, msg_q = ctx.Queue(), ctx.Queue()
    for job in jobs:
        job_q.put(job)
    n_workers = min(n_workers, len(jobs))
    workers: dict[int, tuple] = {}

    def spawn(wid: int) -> None:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker_main, args=(wid, settings, job_q, msg_q, child), daemon=True,
                        name=f"robot-keypoint-worker-{wid}")
        p.start()
        workers[wid] = (p, parent)
        job_q.put(None)  # this worker's stop sentinel

    for wid in range(n_workers):
        spawn(wid)
    busy: dict[int, Job] = {}
    pending: dict[int, tuple] = {}
    exited: set[int] = set()
    finished = started = 0
    first_query_at = None
    next_wid = n_workers
    try:
        while finished < len(jobs):
            try:
                kind, wid, payload = msg_q.get(timeout=poll_s)
            except queue.Empty:
                kind = None
            if kind == "start":
                busy[wid] = payload
                started += 1
            elif kind == "query":
                pending[wid] = payload
                first_query_at = first_query_at or time.time()
            elif kind == "done":
                busy.pop(wid, None)
                log.add(payload)
                finished += 1
                bar.update(1)
            elif kind == "exit":
                exited.add(wid)
            # ---- a round: every live episode is waiting for its keypoint -> one batched generate call. A live
            # worker without an episode while episodes are left is about to start one: wait for it (briefly), or
            # the first round of a sweep would go out before the other workers have reset their envs.
            idle = [w for w in workers if w not in exited and w not in busy]
            starting = idle and started < len(jobs) and time.time() - (first_query_at or 0) < IDLE_WAIT_S
            if model and pending and set(pending) >= set(busy) and not starting:
                wids = list(pending)
                answers = model.answer([pending[w] for w in wids])
                for w, a in zip(wids, answers):
                    workers[w][1].send(a)
                pending.clear()
                first_query_at = None
            # ---- a worker that died (segfault, OOM kill) fails its episode and is replaced
            for w, (p, _) in list(workers.items()):
                if w in exited or p.is_alive():
                    continue
                exited.add(w)
                pending.pop(w, None)
                if w in busy:  # most likely the simulator crashed the process (a segfault in MuJoCo or EGL)
                    died = f"worker process died: exit code {p.exitcode}"
                    log.add(_failed(busy.pop(w), settings.policy, f"fault: {died}", fault=died))
                    finished += 1
                    bar.update(1)
                if finished < len(jobs):
                    spawn(next_wid)
                    next_wid += 1
            if finished < len(jobs) and all(w in exited for w in workers) and msg_q.empty():
                # every worker is gone and the queue is drained: whatever is left never ran
                done_keys = {(r["task_name"], r["seed"]) for r in log.results}
                for job in jobs:
                    if (job.task_name, job.seed) not in done_keys:
                        log.add(_failed(job, settings.policy, f"{NOT_RUN_PREFIX}: all workers exited"))
                        finished += 1
                        bar.update(1)
    finally:
        for p, conn in workers.values():
            if p.is_alive():
                p.join(timeout=10 if finished >= len(jobs) else 0.1)
            if p.is_alive():
                p.terminate()  # our own worker, stopped by its handle
                p.join(timeout=5)
            conn.close()


def run_sweep(ctx: ControlContext, generator=None, env_factory: str | None = None,
              done: list[dict] | None = None) -> dict:
    """Run the episodes of the sweep not yet finished and write results, summary and artifacts to ``ctx.output``.

    Args:
        ctx: The core's context (validated options, policy, first seed, output folder).
        generator: The model policy's generator (None for oracle/zero, or when nothing is left to run).
        env_factory: ``"module:attr"`` of ``fn(task_name, camera_size, max_keypoints, max_env_steps, on_step=None)
            -> env`` with the gymnasium API (default :func:`~tasks.robot_keypoint.control_worker.make_control_env`;
            tests inject faulty or simulator-free envs here). Spawned workers import it by name.
        done: Finished results from :func:`~tasks.robot_keypoint.control_output.open_sweep` (run_control opens
            the folder before it loads the model); None opens it here.

    Returns:
        The summary dict (also ``summary.json``), over the finished and the new episodes.
    """
    from tqdm.auto import tqdm

    from tasks.robot_keypoint.control_report import summarize

    opts, out, log = ctx.options, Path(ctx.output), ctx.log
    done = open_sweep(ctx, camera_size(ctx), log) if done is None else done
    finished = {(r["task_name"], r["seed"]) for r in done}
    jobs = [j for j in make_jobs(ctx) if (j.task_name, j.seed) not in finished]
    settings = WorkerSettings(policy=ctx.policy if ctx.is_builtin else "model",
                              max_keypoint_calls=opts.max_keypoint_calls, max_env_steps=opts.max_env_steps,
                              camera_size=camera_size(ctx), output=str(out),
                              env_factory=env_factory or control_worker.DEFAULT_ENV_FACTORY)
    model = ModelPolicy(generator, opts.max_new_tokens, opts.temperature) if generator is not None else None
    results = ResultLog(out / RESULTS, done)
    log(f"eval-control: policy {ctx.policy} · tasks {', '.join(opts.tasks)} · {opts.episodes} episodes each "
        f"(seeds from {ctx.seed}) · {len(jobs)} to run ({len(done)} done before) · {opts.workers} workers · "
        f"output {out}")
    t0 = time.time()
    if jobs:
        with tqdm(total=len(jobs), desc="episodes", unit="ep", disable=not opts.progress) as bar:
            if opts.workers == 0:
                run_inline(jobs, settings, model, results, bar)
            else:
                run_workers(jobs, settings, opts.workers, model, results, bar)
    wall = time.time() - t0
    extra = {"generate_calls": model.calls, "mean_batch": float(np.mean(model.batch_sizes))} if model and model.calls else {}
    extra["resumed_episodes"] = len(done)
    return summarize(ctx, results.results, wall, out, extra=extra)


def _previous_offline(out: Path) -> dict:
    """The offline keypoint error of an earlier run of this sweep (its ``summary.json``), if there is one."""
    try:
        previous = json.loads((out / "summary.json").read_text()).get("offline")
    except (OSError, ValueError):
        previous = None
    return previous or {"l2_mean": None, "note": "n/a: every episode was already done, so the model was not loaded"}


def run_control(ctx: ControlContext, env_factory: str | None = None) -> dict:
    """Open the sweep folder, load the policy model if episodes are left, run the sweep, score offline, report.

    Args:
        ctx: The core's context (see :class:`embodied_r1.task.ControlContext`).
        env_factory: See :func:`run_sweep`.

    Returns:
        The summary dict.
    """
    from tasks.robot_keypoint.control_report import offline_keypoint_error, print_table

    opts, log = ctx.options, ctx.log
    done = open_sweep(ctx, camera_size(ctx), log)  # before the model loads: a refused folder fails fast
    left = len(make_jobs(ctx)) - len({(r["task_name"], r["seed"]) for r in done})
    generator = None
    if not ctx.is_builtin and left > 0:
        log(f"loading policy {ctx.policy} ...")
        generator = ctx.make_generator(opts.batch_size)
    # nothing is left to run: the model is not loaded, so keep the offline score of the earlier run (read before
    # run_sweep rewrites summary.json)
    previous = _previous_offline(Path(ctx.output)) if not ctx.is_builtin and generator is None else None
    summary = run_sweep(ctx, generator, env_factory=env_factory, done=done)
    if opts.offline_eval:
        summary["offline"] = previous if previous is not None else offline_keypoint_error(ctx, generator)
        Path(ctx.output, "summary.json").write_text(json.dumps(summary, indent=2))
    print_table(summary, log=log)
    return summary
