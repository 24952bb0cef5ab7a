"""Record scripted-expert demos frame by frame.

Frame ``i`` holds the state the expert acted from and the action it took (LeRobot convention: an
observation and the action taken after it). ``gripper_closed[i]`` is the *commanded* binary gripper
state in effect at frame ``i`` (the command of action ``i - 1``; open at frame 0), which is what the
keyframe heuristic compares between frames; ``gripper_qpos`` is the measured finger opening.

A simulator fault in one demo (:class:`~envs.robosuite.faults.SimulatorFault`: a MuJoCo error, a NaN
state, an unstable simulation) drops that demo with its reason; the others are recorded in a fresh env.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from envs.robosuite.experts import run_expert
from envs.robosuite.faults import fault_kind, fault_reason, is_simulator_fault
from envs.robosuite.keyframes import extract_keyframes
from envs.robosuite.tasks import task_instruction


@dataclass
class Demo:
    """One recorded expert episode (arrays are stacked over the T frames).

    Attributes:
        task_name, seed: provenance; the same pair reproduces the initial state.
        images: (T, H, W, 3) uint8, upright, from the task camera ``camera``; ``None`` if not rendered.
        wrist_images: (T, H, W, 3) uint8 from ``robot0_eye_in_hand`` or ``None``.
        eef_pos: (T, 3) grip-site position, world frame, metres.
        eef_quat: (T, 4) grip-site orientation (x, y, z, w).
        gripper_closed: (T,) bool, commanded gripper state in effect at the frame.
        gripper_qpos: (T, 2) finger joint positions.
        joint_vel: (T, 7) arm joint velocities, rad/s.
        object_poses: name -> (T, 7) [x, y, z, qx, qy, qz, qw].
        actions: (T, 7) robosuite actions (absolute OSC goal pose + gripper, or delta).
        phases: (T,) expert phase name of each frame's action.
        success: robosuite's success at the end of the episode.
        keyframes: frame indices from :func:`~envs.robosuite.keyframes.extract_keyframes`.
        camera_matrix: 4x4 world -> pixel projection of the (static) task camera for ``images``
            (see :func:`~envs.robosuite.make.project_points`); ``None`` without images.
    """

    task_name: str
    seed: int
    eef_pos: np.ndarray
    eef_quat: np.ndarray
    gripper_closed: np.ndarray
    gripper_qpos: np.ndarray
    joint_vel: np.ndarray
    object_poses: dict[str, np.ndarray]
    actions: np.ndarray
    success: bool
    images: np.ndarray | None = None
    wrist_images: np.ndarray | None = None
    phases: list[str] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)
    camera: str = "agentview"
    control: str = "absolute"
    camera_matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.eef_pos)

    @property
    def instruction(self) -> str:
        return task_instruction(self.task_name)

    @property
    def gripper_open(self) -> np.ndarray:
        return ~np.asarray(self.gripper_closed, dtype=bool)

    @property
    def state(self) -> np.ndarray:
        """(T, 4) float32 ``[x, y, z, g]``, g = 1 closed / 0 open."""
        return np.concatenate([self.eef_pos, self.gripper_closed[:, None]], axis=1).astype(np.float32)

    def keypoint(self, i: int) -> np.ndarray:
        """The ``[x, y, z, g]`` keypoint of frame ``i``."""
        return self.state[i].astype(np.float64)

    def keyframe_targets(self) -> list[np.ndarray]:
        """``[x, y, z, g]`` of every keyframe, in order (the oracle policy's targets)."""
        return [self.keypoint(k) for k in self.keyframes]

    def compute_keyframes(self, vel_tol: float = 0.1, stop_buffer: int = 4) -> list[int]:
        self.keyframes = extract_keyframes(self.joint_vel, self.gripper_open, vel_tol, stop_buffer)
        return self.keyframes


def record_demo(
    task_name: str,
    seed: int,
    camera_size: int = 224,
    wrist: bool = False,
    images: bool = True,
    control: str = "absolute",
    env=None,
) -> Demo:
    """Run the task's scripted expert from the ``seed`` initial state and record every frame.

    Args:
        task_name: ``Lift``, ``Stack``, ``PickPlaceCan`` or ``Door``.
        seed: initial-state seed.
        camera_size: image size (square).
        wrist: also record the eye-in-hand camera.
        images: render images (False: state only, ~7x faster; the oracle needs no pixels).
        control: ``absolute`` or ``delta`` OSC input.
        env: an existing :class:`~envs.robosuite.make.TaskEnv` of this task to reuse (it is reset).

    Returns:
        The :class:`Demo`, with keyframes computed.
    """
    from envs.robosuite.make import make_env

    if env is None:
        env = make_env(task_name, seed, camera_size=camera_size, wrist=wrist, control=control, render=images)
    else:
        if env.task_name != task_name:
            raise ValueError(f"env is for {env.task_name!r}, not {task_name!r}")
        env.reset(seed)
    rec: dict[str, list] = {k: [] for k in ("pos", "quat", "closed", "qpos", "vel", "act", "phase", "img", "wrist")}
    poses: dict[str, list] = {}

    def on_step(env, action, phase):
        rec["pos"].append(env.eef_pos)
        rec["quat"].append(env.eef_quat)
        rec["closed"].append(env.gripper_closed)
        rec["qpos"].append(env.gripper_qpos)
        rec["vel"].append(env.joint_vel)
        rec["act"].append(np.asarray(action, dtype=np.float64))
        rec["phase"].append(phase)
        for name, pose in env.object_poses().items():
            poses.setdefault(name, []).append(pose)
        if images:
            imgs = env.images()
            rec["img"].append(imgs["image"])
            if "wrist" in imgs:
                rec["wrist"].append(imgs["wrist"])

    result = run_expert(env, on_step=on_step)
    demo = Demo(
        task_name=task_name,
        seed=int(seed),
        eef_pos=np.asarray(rec["pos"]),
        eef_quat=np.asarray(rec["quat"]),
        gripper_closed=np.asarray(rec["closed"], dtype=bool),
        gripper_qpos=np.asarray(rec["qpos"]),
        joint_vel=np.asarray(rec["vel"]),
        object_poses={k: np.asarray(v) for k, v in poses.items()},
        actions=np.asarray(rec["act"]),
        success=bool(result.success),
        images=np.asarray(rec["img"], dtype=np.uint8) if rec["img"] else None,
        wrist_images=np.asarray(rec["wrist"], dtype=np.uint8) if rec["wrist"] else None,
        phases=rec["phase"],
        camera=env.camera,
        control=env.control,
        camera_matrix=env.camera_matrix() if images else None,
    )
    demo.compute_keyframes()
    return demo


def try_record_demo(task_name: str, seed: int, env, **kwargs) -> tuple[Demo | None, str | None]:
    """:func:`record_demo` in ``env``, with a simulator fault returned instead of raised.

    Args:
        task_name, seed: the episode.
        env: a :class:`~envs.robosuite.make.TaskEnv` of the task (reset to ``seed`` here).
        **kwargs: forwarded to :func:`record_demo`.

    Returns:
        ``(demo, None)``, or ``(None, reason)`` after a fault (see :mod:`envs.robosuite.faults`); the
        env's state is then not to be trusted (close it and make a new one).

    Raises:
        Anything that is not a simulator fault (a bug must not pass for a bad episode).
    """
    try:
        return record_demo(task_name, seed, env=env, **kwargs), None
    except Exception as exc:
        if not is_simulator_fault(exc):
            raise
        return None, fault_reason(exc)


def drop_counts(failed_seeds: list[int], faults: dict[int, str]) -> dict[str, int]:
    """Dropped demos by reason: ``expert failed`` (ran, no success) plus one entry per fault kind.

    >>> drop_counts([3], {5: "nan state: non-finite qvel at dof 0 (j) at step 9"})
    {'expert failed': 1, 'nan state': 1}
    """
    counts = {"expert failed": len(failed_seeds)} if failed_seeds else {}
    for reason in faults.values():
        counts[fault_kind(reason)] = counts.get(fault_kind(reason), 0) + 1
    return counts


def record_demos(
    task_name: str,
    n_episodes: int,
    seed0: int = 0,
    progress: bool = True,
    keep_failed: bool = False,
    **kwargs,
) -> tuple[list[Demo], dict]:
    """Record ``n_episodes`` expert demos with seeds ``seed0 .. seed0 + n - 1``; drop failures and faults.

    Args:
        task_name: the task.
        n_episodes: episodes to attempt.
        seed0: first seed.
        progress: print one line per episode.
        keep_failed: keep failed demos too (their ``success`` is False); faulted demos are always dropped.
        **kwargs: forwarded to :func:`record_demo` (``camera_size``, ``wrist``, ``images``, ``control``).

    Returns:
        ``(demos, stats)``; stats has ``episodes``, ``successes``, ``dropped``, ``success_rate``,
        ``frames`` (kept), ``seconds``, ``frames_per_s`` (all recorded frames / wall time, env
        creation included), ``mean_keyframes``, ``failed_seeds``, ``faults`` (seed -> reason) and
        ``dropped_by_reason`` (:func:`drop_counts`). A faulted demo counts as a failure.
    """
    from envs.robosuite.make import make_env

    def new_env():
        return make_env(task_name, seed0, camera_size=kwargs.get("camera_size", 224), wrist=kwargs.get("wrist", False),
                        control=kwargs.get("control", "absolute"), render=kwargs.get("images", True))

    t0 = time.perf_counter()
    env, demos, failed, faults, all_frames = None, [], [], {}, 0
    try:
        for seed in range(seed0, seed0 + n_episodes):
            env = env or new_env()
            demo, fault = try_record_demo(task_name, seed, env, **kwargs)
            if fault:
                faults[seed] = fault
                env.close()
                env = None  # a faulted simulator is not reused
                if progress:
                    print(f"[{task_name}] seed {seed}: FAULT {fault}", flush=True)
                continue
            all_frames += len(demo)
            if not demo.success:
                failed.append(seed)
            if demo.success or keep_failed:
                demos.append(demo)
            if progress:
                print(
                    f"[{task_name}] seed {seed}: {'ok  ' if demo.success else 'FAIL'} "
                    f"{len(demo)} frames, {len(demo.keyframes)} keyframes",
                    flush=True,
                )
    finally:
        if env is not None:
            env.close()
    seconds = time.perf_counter() - t0
    ok = [d for d in demos if d.success]
    successes = n_episodes - len(failed) - len(faults)
    stats = {
        "task_name": task_name,
        "episodes": n_episodes,
        "successes": successes,
        "dropped": len(faults) + (0 if keep_failed else len(failed)),
        "success_rate": successes / max(n_episodes, 1),
        "frames": int(sum(len(d) for d in demos)),
        "seconds": seconds,
        "frames_per_s": all_frames / seconds if seconds > 0 else float("nan"),
        "mean_keyframes": float(np.mean([len(d.keyframes) for d in ok])) if ok else float("nan"),
        "failed_seeds": failed,
        "faults": faults,
        "dropped_by_reason": drop_counts([] if keep_failed else failed, faults),
        "seed0": seed0,
    }
    return demos, stats
