"""Closed-loop keypoint control as a gymnasium env: ``policy(image, state) -> [x, y, z, g]``.

One ``step`` is one keypoint: the :class:`~envs.robosuite.executor.KeypointExecutor` drives the arm
there (many 20 Hz control steps) and the env returns the next observation. Register the env with
:func:`register_envs` (string entry point, imports nothing heavy) and create it with
``gymnasium.make(control_env_id("Lift"))`` (``"embodied_r1/KeypointControlLift-v0"``) or
``gymnasium.make("embodied_r1/KeypointControl-v0", task_name="Lift")``.
"""

from __future__ import annotations

import numpy as np
from gymnasium import Env, spaces

from envs.robosuite.faults import SimulatorFault, fault_reason
from envs.robosuite.tasks import get_task, task_metadata, workspace_bounds

ENV_ID = "embodied_r1/KeypointControl-v0"
ENTRY_POINT = "envs.robosuite.control_env:KeypointControlEnv"


def control_env_id(task_name: str) -> str:
    """The gymnasium id of one task's keypoint-control env (registered by :func:`register_envs`).

    >>> control_env_id("Lift")
    'embodied_r1/KeypointControlLift-v0'
    """
    return f"embodied_r1/KeypointControl{task_name}-v0"


class KeypointControlEnv(Env):
    """A robosuite task driven by keypoints.

    Observation: ``Dict(image=Box(uint8, HxWx3), state=Box(float32, 4))`` with state
    ``[eef x, y, z, gripper]`` (world frame, metres; gripper 1 closed / 0 open); plus ``wrist`` when
    ``wrist=True``.

    Action: ``Box(float32, 4)`` ``[x, y, z, g]``: xyz is clipped to the task workspace, ``g >= 0.5``
    closes the gripper.

    Reward (per keypoint step):
        - success: 1.0 when robosuite's ``_check_success()`` holds after the keypoint, else 0.0.

    Episode end: ``terminated`` on success; ``truncated`` when ``max_keypoints`` keypoint calls or
    ``max_env_steps`` control steps are used up, or on a simulator fault. A fault (MuJoCo or robosuite
    error, NaN state, unstable simulation: :mod:`envs.robosuite.faults`) never raises out of ``step``:
    it returns ``truncated=True`` with ``info["fault"]`` the one-line reason (``"nan state: ..."``,
    ``"unstable simulation: ..."``, ``"FatalError: ..."``).

    Args:
        task_name: ``Lift``, ``Stack``, ``PickPlaceCan`` or ``Door``.
        camera_size: image size.
        wrist: add the eye-in-hand image to observations.
        max_keypoints: keypoint calls per episode.
        max_env_steps: control steps per episode.
        control: ``absolute`` or ``delta`` OSC input.
        executor_kwargs: :class:`KeypointExecutor` settings (``pos_tol``, ``max_step``, ...).
        render_mode: ``None`` or ``"rgb_array"`` (returns the task camera image).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        task_name: str = "Lift",
        camera_size: int = 224,
        wrist: bool = False,
        max_keypoints: int = 15,
        max_env_steps: int = 1000,
        control: str = "absolute",
        executor_kwargs: dict | None = None,
        render_mode: str | None = None,
    ):
        spec = get_task(task_name)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.task_name = spec.name
        self.camera_size = camera_size
        self.wrist = wrist
        self.max_keypoints = max_keypoints
        self.max_env_steps = max_env_steps
        self.control = control
        self.executor_kwargs = dict(executor_kwargs or {})
        self.render_mode = render_mode
        low, high = workspace_bounds(task_name)
        self.workspace_low, self.workspace_high = low, high
        self.action_space = spaces.Box(
            low=np.append(low, 0.0).astype(np.float32), high=np.append(high, 1.0).astype(np.float32), dtype=np.float32
        )
        obs = {
            "image": spaces.Box(0, 255, (camera_size, camera_size, 3), np.uint8),
            # eef xyz anywhere the arm can reach (world frame), gripper 0/1.
            "state": spaces.Box(
                np.array([-2.0, -2.0, 0.0, 0.0], np.float32), np.array([2.0, 2.0, 3.0, 1.0], np.float32), dtype=np.float32
            ),
        }
        if wrist:
            obs["wrist"] = spaces.Box(0, 255, (camera_size, camera_size, 3), np.uint8)
        self.observation_space = spaces.Dict(obs)
        self._sim = None
        self._executor = None
        self._calls = 0
        self._env_steps = 0
        self._faulted: str | None = None
        self._last_obs = None

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        from envs.robosuite.executor import KeypointExecutor
        from envs.robosuite.make import make_env

        if self._sim is None:
            self._sim = make_env(
                self.task_name, seed, camera_size=self.camera_size, wrist=self.wrist, control=self.control
            )
        else:
            self._sim.reset(seed)
        self._executor = KeypointExecutor(self._sim, **self.executor_kwargs)
        self._calls, self._env_steps, self._faulted = 0, 0, None
        self._seed = int(seed)
        obs = self._observe()
        info = {
            "instruction": get_task(self.task_name).instruction,
            "metadata": task_metadata(self.task_name),
            "seed": self._seed,
        }
        return obs, info

    def step(self, action):
        if self._sim is None:
            raise RuntimeError("call reset() before step()")
        if self._faulted is not None:
            return self._last_obs, 0.0, False, True, {"fault": f"episode already faulted ({self._faulted}); reset()"}
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (4,):
            raise ValueError(f"action must be [x, y, z, g], got shape {a.shape}")
        a = np.nan_to_num(a, nan=0.0)
        target = np.append(np.clip(a[:3], self.workspace_low, self.workspace_high), 1.0 if a[3] >= 0.5 else 0.0)
        self._calls += 1
        budget = max(self.max_env_steps - self._env_steps, 0)
        self._executor.max_steps_per_keypoint = min(
            self.executor_kwargs.get("max_steps_per_keypoint", 150), max(budget, 1)
        )
        info: dict = {"keypoint": target, "keypoint_calls": self._calls}
        try:
            res = self._executor.execute(target)  # every control step checks the state (TaskEnv.step)
            success = self._sim.success()
            obs = self._observe()
            if not np.all(np.isfinite(obs["state"])):
                raise SimulatorFault(f"nan state: non-finite observation state {obs['state'].tolist()}")
        except Exception as err:  # noqa: BLE001 - any simulator failure ends the episode, never the caller
            self._faulted = fault_reason(err)
            self._env_steps = int(getattr(self._sim, "steps", self._env_steps))  # the steps up to the fault count
            info.update(fault=self._faulted, success=False, env_steps=self._env_steps)
            obs = self._last_obs if self._last_obs is not None else self.observation_space.sample()
            return obs, 0.0, False, True, info
        self._env_steps += res.steps
        terminated = bool(success)
        truncated = not terminated and (self._calls >= self.max_keypoints or self._env_steps >= self.max_env_steps)
        info.update(
            steps=res.steps,
            reached=res.reached,
            distance=res.distance,
            stalled=res.stalled,
            eef_path=res.eef_path,
            env_steps=self._env_steps,
            success=terminated,
        )
        return obs, float(terminated), terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array" and self._sim is not None:
            return self._sim.render(self._sim.camera)
        return None

    def close(self):
        if self._sim is not None:
            self._sim.close()
            self._sim = None

    # ------------------------------------------------------------------ helpers
    @property
    def sim(self):
        """The underlying :class:`~envs.robosuite.make.TaskEnv` (None before the first reset)."""
        return self._sim

    def _observe(self) -> dict:
        sim = self._sim
        images = sim.images()
        state = np.append(sim.eef_pos, 1.0 if sim.gripper_closed else 0.0).astype(np.float32)
        obs = {"image": images["image"], "state": state}
        if self.wrist:
            obs["wrist"] = images["wrist"]
        self._last_obs = obs
        return obs


def register_envs() -> list[str]:
    """Register the keypoint-control env ids with gymnasium (idempotent; imports nothing heavy).

    Ids: ``embodied_r1/KeypointControl-v0`` (pass ``task_name=``) and one per task,
    ``embodied_r1/KeypointControl<Task>-v0``.

    Raises:
        ValueError: an id is already registered with a different entry point.

    Returns:
        The registered ids.
    """
    import gymnasium

    from envs.robosuite.tasks import SUPPORTED_TASKS

    ids = {ENV_ID: {}}
    ids.update({control_env_id(t): {"task_name": t} for t in SUPPORTED_TASKS})
    for env_id, kwargs in ids.items():
        existing = gymnasium.registry.get(env_id)
        if existing is not None:
            if existing.entry_point != ENTRY_POINT or dict(existing.kwargs) != kwargs:
                known = sorted(k for k in gymnasium.registry if k.startswith("embodied_r1/"))
                raise ValueError(f"{env_id!r} is already registered differently; embodied_r1 ids: {known}")
            continue
        gymnasium.register(id=env_id, entry_point=ENTRY_POINT, kwargs=kwargs)
    return list(ids)
