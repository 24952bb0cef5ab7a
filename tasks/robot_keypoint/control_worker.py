"""One simulator worker of the closed-loop sweep: it owns its envs and plays episodes one after another.

A worker takes jobs (task, episode, seed) from a queue, and for each step of an episode asks a policy
for the next keypoint ``[x, y, z, g]``. ``oracle`` and ``zero`` are answered inside the worker; model
policies are answered by the main process, which batches the queries of all live episodes into one
generation call (:mod:`tasks.robot_keypoint.control`). Every episode ends in a result dict; an exception
in one episode (a MuJoCo error, a broken env) marks that episode failed with the reason and the worker
goes on with a fresh env. A simulator fault (MuJoCo error, NaN state, unstable simulation; see
:mod:`envs.robosuite.faults`), whether the env reports it in ``info["fault"]`` or raises it, also sets the
result's ``fault`` to its one-line reason (``None`` otherwise), so that reports count faults apart from
policy failures.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from envs.robosuite.faults import fault_reason, is_simulator_fault

DEFAULT_ENV_FACTORY = "tasks.robot_keypoint.control_worker:make_control_env"
MAX_VIDEO_FRAMES = 1500  # a cap on one episode's video frames (memory)


@dataclass(frozen=True)
class Job:
    """One episode to play."""

    task_name: str
    episode: int
    seed: int
    record_video: bool = False


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker needs to know (picklable, sent to spawned processes)."""

    policy: str  # "oracle", "zero" or "model"
    max_keypoint_calls: int
    max_env_steps: int
    camera_size: int
    output: str
    #: ``"module:attr"`` of ``fn(task_name, camera_size, max_keypoints, max_env_steps, on_step=None) -> env`` with
    #: the gymnasium API (:func:`make_control_env`); a name, not the function, so spawned workers can import it.
    env_factory: str = DEFAULT_ENV_FACTORY


def make_control_env(task_name: str, camera_size: int, max_keypoints: int, max_env_steps: int, on_step=None):
    """The task's keypoint-control env, made by gymnasium from its registered id
    (``embodied_r1/KeypointControl<Task>-v0``, :func:`envs.robosuite.control_env.register_envs`).

    Args:
        task_name: robosuite task.
        camera_size: Image side (px).
        max_keypoints, max_env_steps: Episode budgets.
        on_step: ``fn(task_env, action)`` called before each control step (video frames).

    Returns:
        The gymnasium env (obs ``{image, state}``, action ``[x, y, z, g]``), with gymnasium's wrappers.
    """
    import gymnasium

    from envs.robosuite.control_env import control_env_id, register_envs

    register_envs()  # idempotent; a spawned worker starts with gymnasium's registry empty
    return gymnasium.make(control_env_id(task_name), camera_size=camera_size, max_keypoints=max_keypoints,
                          max_env_steps=max_env_steps, executor_kwargs={"on_step": on_step} if on_step else None)


def load_factory(spec: str):
    """``"module:attr"`` -> the callable (so spawned workers can build envs by name)."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _state(obs) -> list[float]:
    return [float(x) for x in np.asarray(obs["state"], dtype=float)[:4]]


class EpisodeRunner:
    """Plays episodes with envs cached per task.

    Args:
        settings: The sweep's settings.
        query: ``fn(task_name, image, state) -> (keypoint or None, answer text)`` for model policies.
    """

    def __init__(self, settings: WorkerSettings, query=None):
        self.settings = settings
        self.query = query
        self.envs: dict = {}
        self.expert_envs: dict = {}
        self.factory = load_factory(settings.env_factory)
        self.frames: list | None = None  # collecting video frames of the current episode when a list

    def env(self, task_name: str):
        if task_name not in self.envs:
            s = self.settings
            self.envs[task_name] = self.factory(task_name, s.camera_size, s.max_keypoint_calls, s.max_env_steps,
                                                on_step=self._on_step)
        return self.envs[task_name]

    def _on_step(self, task_env, action) -> None:
        if self.frames is not None and len(self.frames) < MAX_VIDEO_FRAMES:
            self.frames.append(task_env.render(getattr(task_env, "camera", "agentview")))

    def drop_env(self, task_name: str) -> None:
        env = self.envs.pop(task_name, None)
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - a broken env may not close cleanly; it is dropped anyway
                pass

    def drop_expert_env(self, task_name: str) -> None:
        env = self.expert_envs.pop(task_name, None)
        if env is not None:  # closed, not just forgotten: a worker that meets many faults must not grow
            try:
                env.close()
            except Exception:  # noqa: BLE001 - a broken env may not close cleanly; it is dropped anyway
                pass

    def close(self) -> None:
        for name in list(self.envs):
            self.drop_env(name)
        for name in list(self.expert_envs):
            self.drop_expert_env(name)

    # ------------------------------------------------------------------ policies
    def _oracle(self, job: Job):
        from envs.robosuite import make_env, oracle_keyframes

        if job.task_name not in self.expert_envs:  # a state-only env to record the expert demo in
            # faults="": the oracle's expert is the policy, not the episode; injected test faults target the episode
            self.expert_envs[job.task_name] = make_env(job.task_name, job.seed, render=False, faults="")
        keys = [list(map(float, k)) for k in oracle_keyframes(job.task_name, job.seed,
                                                               env=self.expert_envs[job.task_name])]
        return lambda obs, i: (keys[min(i, len(keys) - 1)], "")

    def _policy(self, job: Job):
        kind = self.settings.policy
        if kind == "oracle":
            return self._oracle(job)
        if kind == "zero":
            return lambda obs, i: (_state(obs), "")
        return lambda obs, i: self.query(job.task_name, np.asarray(obs["image"]), _state(obs))

    # ------------------------------------------------------------------ one episode
    def run(self, job: Job) -> dict:
        """Play one episode; never raises (an error becomes a failed result with its reason)."""
        t0 = time.time()
        res = {**asdict(job), "policy": self.settings.policy, "success": False, "calls": 0, "env_steps": 0,
               "parse_failures": 0, "reason": None, "fault": None, "keypoints": [], "eef_path": [], "answers": [],
               "started_at": round(t0, 3), "pid": os.getpid()}
        self.frames = [] if job.record_video else None
        try:
            self._play(job, res)
        except Exception as exc:  # noqa: BLE001 - one broken episode must not end the sweep
            res["success"] = False
            if is_simulator_fault(exc):  # e.g. raised in reset(), or by an env that does not catch its faults
                res["fault"] = fault_reason(exc)
                res["reason"] = f"fault: {res['fault']}"[:300]
            else:
                res["reason"] = f"error: {fault_reason(exc)}"[:300]
                res["traceback"] = traceback.format_exc(limit=6)[-2000:]
            self.drop_env(job.task_name)  # its simulator state is not to be trusted any more
            self.drop_expert_env(job.task_name)
        res["wall_s"] = round(time.time() - t0, 2)
        frames, self.frames = self.frames, None
        if frames:
            res["video"] = self._write_video(job, frames)
        return res

    def _play(self, job: Job, res: dict) -> None:
        s = self.settings
        env = self.env(job.task_name)
        policy = self._policy(job)
        obs, info = env.reset(seed=job.seed)
        res["eef_path"].append(_state(obs)[:3])
        if self.frames is not None:
            self.frames.append(np.asarray(obs["image"]))
        while True:
            if res["calls"] >= s.max_keypoint_calls:
                res["reason"] = "keypoint budget exhausted"
                return
            if res["env_steps"] >= s.max_env_steps:
                res["reason"] = "env step budget exhausted"
                return
            kp, text = policy(obs, res["calls"])
            if kp is None:  # unparseable answer: stay in place, and count it
                res["parse_failures"] += 1
                kp = _state(obs)
            res["calls"] += 1
            res["keypoints"].append([float(x) for x in kp])
            if text:
                res["answers"].append(text[:400])
            obs, _, terminated, truncated, info = env.step(np.asarray(kp, dtype=np.float64))
            res["env_steps"] = int(info.get("env_steps", res["env_steps"]))
            path = info.get("eef_path")
            res["eef_path"] += [[float(v) for v in p[:3]] for p in path[1:]] if path is not None else [_state(obs)[:3]]
            if info.get("fault"):
                res["fault"] = str(info["fault"])[:300]
                res["reason"] = f"fault: {res['fault']}"[:300]
                return
            if info.get("success"):
                res["success"], res["reason"] = True, "success"
                return
            if terminated or truncated:
                res["reason"] = ("keypoint budget exhausted" if res["calls"] >= s.max_keypoint_calls
                                 else "env step budget exhausted" if res["env_steps"] >= s.max_env_steps
                                 else "episode ended")
                return

    def _write_video(self, job: Job, frames: list) -> str | None:
        from tasks.robot_keypoint.control_report import write_video

        out = Path(self.settings.output) / "videos" / f"{job.task_name}_ep{job.episode:03d}_seed{job.seed}"
        try:
            return str(write_video(frames, out))
        except Exception as exc:  # noqa: BLE001 - a missing codec must not fail the episode
            return f"video failed: {exc}"


def worker_main(wid: int, settings: WorkerSettings, jobs, messages, conn) -> None:
    """Process entry point: play jobs until a ``None`` job, reporting to ``messages``.

    Messages: ``("start", wid, job)``, ``("query", wid, (task, image, state))`` (answered on ``conn`` with
    ``(keypoint or None, text)``), ``("done", wid, result)``, ``("exit", wid, None)``.
    """
    from embodied_r1.device import single_threaded_worker

    os.environ.setdefault("MUJOCO_GL", "egl")
    single_threaded_worker()  # N workers x one BLAS thread per core would oversubscribe the cores

    def query(task_name, image, state):
        messages.put(("query", wid, (task_name, image, state)))
        return conn.recv()

    runner = EpisodeRunner(settings, query)
    parent = os.getppid()
    try:
        while True:
            job = jobs.get()
            # A killed sweep (SIGKILL) leaves its workers orphaned with the queued jobs: they would play them all,
            # for nobody, beside the --resume that reruns them. An orphan is re-parented, so stop on a new parent.
            if job is None or os.getppid() != parent:
                break
            messages.put(("start", wid, job))
            messages.put(("done", wid, runner.run(job)))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):  # the main process went away
        pass
    finally:
        runner.close()
        messages.put(("exit", wid, None))
