"""Create robosuite 1.5 environments (Panda + BASIC composite controller, OSC_POSE arm) behind a thin wrapper.

The wrapper :class:`TaskEnv` gives the experts, the recorder, the executor and the gymnasium env one
surface: seeded resets, upright images rendered on demand, end-effector / object state, and
position-target actions with a fixed top-down gripper orientation.

robosuite pitfalls handled here:

* Images from ``sim.render`` (and robosuite's camera observations with the default ``opengl``
  convention) are upside down; :meth:`TaskEnv.images` flips them.
* Rendering costs ~40 ms per 224x224 camera with Mesa EGL on CPU, so cameras are not part of
  robosuite's per-step observations (``use_camera_obs=False``); images are rendered only when asked.
* With the default ``renderer="mjviewer"`` a hard reset never frees the old ``MjSim`` (and its
  offscreen GL context); ``renderer="mujoco"`` makes robosuite free it.
* robosuite's seed only seeds the *first* construction: placement samplers keep a reference to the
  generator they were built with. :meth:`TaskEnv.reset` re-seeds every generator, so the same seed
  gives the same initial state whatever the env's history.
* OSC ``input_type="absolute"`` (robosuite 1.5.2) takes ``[x, y, z, rotvec]`` goal poses in the
  ``input_ref_frame`` (default ``"base"``, so set ``"world"``), and skips the input clipping and
  scaling that deltas get: a far goal means a torque spike. :meth:`TaskEnv.action_toward` therefore
  sends goals at most ``max_step`` away from the current position (and ``max_rot`` in orientation).
* The Panda's default top-down hand closes its fingers along world *y*, and the hand is ~20 cm wide
  along that axis (it hits nearby walls, e.g. the door panel, before the fingertips reach).
* ``robosuite.utils.camera_utils`` imports h5py; :meth:`TaskEnv.camera_matrix` does the projection
  from MuJoCo's camera pose and fovy instead.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

from envs.robosuite import faults as sim_faults
from envs.robosuite.tasks import get_task

Control = Literal["absolute", "delta"]

#: Top-down gripper orientation (rotation matrix, eef frame in world): fingers point down (-z),
#: the Panda's default yaw (the fingers close along world y). Every command keeps a task's fixed
#: orientation, :func:`top_down` of the task's ``gripper_yaw``.
TOP_DOWN = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


def top_down(yaw: float = 0.0) -> np.ndarray:
    """:data:`TOP_DOWN` turned by ``yaw`` radians about world z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ TOP_DOWN

#: OSC delta mode: one unit of action = this many metres / radians (robosuite's default output_max).
_DELTA_POS_SCALE = 0.05
_DELTA_ORI_SCALE = 0.5


def _import_robosuite():
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import robosuite
        from robosuite.controllers import load_composite_controller_config
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "envs.robosuite needs robosuite 1.5 (pip install 'robosuite==1.5.2' 'mujoco==3.3.7')"
        ) from err
    _quiet_robosuite_logger()
    return robosuite, load_composite_controller_config


def _quiet_robosuite_logger() -> None:
    import logging

    logging.getLogger("robosuite_logs").setLevel(logging.ERROR)
    for handler in logging.getLogger("robosuite_logs").handlers:
        handler.setLevel(logging.ERROR)


def controller_config(control: Control = "absolute") -> dict:
    """BASIC composite controller config for the Panda with an OSC_POSE arm.

    Args:
        control: ``"absolute"``: arm actions are world-frame goal poses ``[x, y, z, rotvec]``;
            ``"delta"``: robosuite's default normalised deltas (``[-1, 1]`` = +-5 cm, +-0.5 rad).

    Returns:
        The composite controller config dict for ``robosuite.make(controller_configs=...)``.
    """
    if control not in ("absolute", "delta"):
        raise ValueError(f"control must be 'absolute' or 'delta', got {control!r}")
    _, load_config = _import_robosuite()
    cfg = load_config(controller="BASIC", robot="Panda")
    # The BASIC config lists parts other robots have; drop them so robosuite does not warn per reset.
    cfg["body_parts"] = {"right": cfg["body_parts"]["right"]}
    arm = cfg["body_parts"]["right"]
    assert arm["type"] == "OSC_POSE", arm["type"]
    if control == "absolute":
        arm["input_type"] = "absolute"
        arm["input_ref_frame"] = "world"
    return cfg


class TaskEnv:
    """A robosuite env plus the task's helpers. Build it with :func:`make_env`.

    Attributes:
        raw: the robosuite environment.
        task_name, seed, control, camera_size, wrist: as given to :func:`make_env`.
        gripper_closed: the last commanded binary gripper state (True = closed).
    """

    def __init__(self, raw, task_name: str, seed: int, control: Control, camera_size: int, wrist: bool,
                 faults: dict | None = None):
        self.raw = raw
        self.task_name = task_name
        self.seed = seed
        self.control = control
        self.camera_size = camera_size
        self.wrist = wrist
        self.gripper_closed = False
        self.steps = 0
        self._integral = np.zeros(3)
        self._last_target = None
        self.orientation = top_down(get_task(task_name).gripper_yaw)
        self._orientation_rotvec = _rotvec(self.orientation)
        self._faults = dict(faults or {})  # injected faults (tests): (task, seed) -> (kind, step)
        self._watch = None

    # ------------------------------------------------------------------ reset / step
    def reset(self, seed: int | None = None) -> None:
        """Reset to the initial state determined by ``seed`` (default: the env's own seed)."""
        if seed is not None:
            self.seed = int(seed)
        _reseed(self.raw, self.seed)
        self.raw.reset()
        self.gripper_closed = False
        self.steps = 0
        self._integral = np.zeros(3)
        self._last_target = None
        # A hard reset builds a new MjSim: take its warning counts and per-dof speed bounds afresh.
        data, arm_dofs = self.sim.data._data, np.asarray(self._arm._ref_joint_vel_indexes, dtype=int)
        bounds, names = sim_faults.dof_speed_bounds(self.sim.model._model, arm_dofs)
        self._watch = (sim_faults.warning_counts(data), bounds, names, arm_dofs)

    def step(self, action: np.ndarray) -> None:
        """One control step (20 Hz) with a raw 7-d robosuite action, then a check of the new state.

        Raises:
            ValueError: the action is not 7 finite numbers (a caller's bug, not a simulator fault).
            SimulatorFault: the simulator raised, or the state after the step is non-finite or unstable
                (see :mod:`envs.robosuite.faults`); the env must be reset before stepping again.
        """
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (7,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 7 finite numbers, got {action!r}")
        k = self.steps + 1
        baseline, bounds, names, arm_dofs = self._watch
        data = self.sim.data._data
        kind, at = self._faults.get((self.task_name, self.seed), (None, 0))
        kind = kind if at == k else None
        try:
            if kind:
                sim_faults.inject_before_step(kind, data, arm_dofs)
            self.raw.step(action)
        except Exception as exc:  # noqa: BLE001 - whatever MuJoCo/robosuite raise mid-step is this episode's fault
            raise sim_faults.SimulatorFault(f"{sim_faults.fault_reason(exc)} (step {k})") from exc
        if kind:
            sim_faults.inject_after_step(kind, data, arm_dofs)
        self.gripper_closed = bool(action[-1] > 0)
        self.steps = k
        reason = sim_faults.check_state(data, baseline, bounds, names, k)
        if reason:
            raise sim_faults.SimulatorFault(reason)

    def action_toward(
        self,
        target_pos,
        gripper_closed: bool,
        max_step: float = 0.03,
        max_rot: float = 0.15,
        integral_gain: float = 0.05,
    ) -> np.ndarray:
        """The 7-d action moving the eef at most ``max_step`` metres toward ``target_pos``.

        The orientation goal is the task's fixed top-down orientation (:attr:`orientation`), approached
        by at most ``max_rot`` radians per step (a large wrist turn at full speed throws the arm).
        In absolute mode the action is the bounded intermediate goal pose; in delta mode the same
        displacement, normalised.

        Near the target (< 2 cm) and with the arm nearly still, an integral term (``integral_gain`` of
        the error per step, at most 3 cm) is added: OSC is a pure P-D law whose steady-state error
        reaches ~1 cm with the arm stretched or holding an object. Accumulating only when nearly
        still avoids wind-up overshoot. The integral resets whenever the target changes.
        """
        target = np.asarray(target_pos, dtype=np.float64)
        cur = self.eef_pos
        delta = target - cur
        norm = float(np.linalg.norm(delta))
        if self._last_target is None or np.linalg.norm(target - self._last_target) > 1e-4:
            self._integral = np.zeros(3)
            self._last_target = target.copy()
        if norm < 0.02 and float(np.max(np.abs(self.joint_vel))) < 0.2:
            self._integral = np.clip(self._integral + integral_gain * delta, -0.03, 0.03)
        if norm > max_step:
            delta *= max_step / norm
        delta = delta + self._integral
        rot_err = _orientation_error(self.orientation, self.eef_rotation)
        angle = float(np.linalg.norm(rot_err))
        if angle > max_rot:
            rot_err *= max_rot / angle
        grip = 1.0 if gripper_closed else -1.0
        if self.control == "absolute":
            if angle <= max_rot:
                ori = self._orientation_rotvec
            else:
                ori = _rotvec(_rotation(rot_err) @ self.eef_rotation)
            return np.concatenate([cur + delta, ori, [grip]])
        # Delta actions are in the controller's base frame (input_ref_frame="base").
        base_rot = np.asarray(self._arm.part_controllers["right"].origin_ori)
        return np.concatenate(
            [
                np.clip(base_rot.T @ delta / _DELTA_POS_SCALE, -1, 1),
                np.clip(base_rot.T @ rot_err / _DELTA_ORI_SCALE, -1, 1),
                [grip],
            ]
        )

    def success(self) -> bool:
        """robosuite's own success check."""
        return bool(self.raw._check_success())

    def close(self) -> None:
        self.raw.close()

    # ------------------------------------------------------------------ state
    @property
    def sim(self):
        return self.raw.sim

    @property
    def _arm(self):
        return self.raw.robots[0]

    @property
    def eef_pos(self) -> np.ndarray:
        """Grip-site position in the world frame, metres."""
        return np.array(self.sim.data.site_xpos[self._arm.eef_site_id["right"]])

    @property
    def eef_rotation(self) -> np.ndarray:
        """Grip-site orientation (3x3 rotation matrix, world frame)."""
        return np.array(self.sim.data.site_xmat[self._arm.eef_site_id["right"]]).reshape(3, 3)

    @property
    def eef_quat(self) -> np.ndarray:
        """Grip-site orientation as a quaternion (x, y, z, w), robosuite's convention."""
        return _mat2quat_xyzw(self.eef_rotation)

    @property
    def joint_vel(self) -> np.ndarray:
        return np.array(self.sim.data.qvel[self._arm._ref_joint_vel_indexes])

    @property
    def joint_pos(self) -> np.ndarray:
        return np.array(self.sim.data.qpos[self._arm._ref_joint_pos_indexes])

    @property
    def gripper_qpos(self) -> np.ndarray:
        """The two finger joint positions (about +-0.04 open, 0 closed)."""
        idx = self._arm._ref_gripper_joint_pos_indexes["right"]
        return np.array(self.sim.data.qpos[idx])

    def object_poses(self) -> dict[str, np.ndarray]:
        """Task objects' poses: name -> [x, y, z, qx, qy, qz, qw] (world frame)."""
        from envs.robosuite.objects import object_poses

        return object_poses(self)

    @property
    def camera(self) -> str:
        """The task's main camera (``agentview``; ``sideview`` for Door)."""
        return get_task(self.task_name).camera

    def images(self) -> dict[str, np.ndarray]:
        """Upright uint8 images: ``image`` (the task camera) and, if enabled, ``wrist`` (eye in hand)."""
        out = {"image": self.render(self.camera)}
        if self.wrist:
            out["wrist"] = self.render("robot0_eye_in_hand")
        return out

    def render(self, camera: str, size: int | None = None) -> np.ndarray:
        """Render one camera upright (robosuite/MuJoCo's raw frame is bottom-up; flip rows)."""
        if not self.raw.has_offscreen_renderer:
            raise RuntimeError("this env was made with render=False; make_env(..., render=True) to get images")
        size = size or self.camera_size
        img = self.sim.render(camera_name=camera, width=size, height=size)
        return np.ascontiguousarray(img[::-1])

    def camera_matrix(self, camera: str | None = None, size: int | None = None) -> np.ndarray:
        """4x4 world -> pixel projection of a camera for ``size`` x ``size`` upright images.

        ``M @ [x, y, z, 1]`` gives ``(u * d, v * d, d, 1)`` with u = column, v = row (origin top-left)
        and d the depth. Built from MuJoCo's camera pose and ``fovy`` (robosuite's own helper,
        ``camera_utils.get_camera_transform_matrix``, needs h5py only to import).
        """
        size = size or self.camera_size
        model, data = self.sim.model, self.sim.data
        cam_id = model.camera_name2id(camera or self.camera)
        f = 0.5 * size / np.tan(np.deg2rad(model.cam_fovy[cam_id]) / 2)
        # MuJoCo cameras look along -z with y up; OpenCV-style pixels want z forward, y down.
        rot = np.array(data.cam_xmat[cam_id]).reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        world_to_cam = np.eye(4)
        world_to_cam[:3, :3] = rot.T
        world_to_cam[:3, 3] = -rot.T @ np.array(data.cam_xpos[cam_id])
        intrinsics = np.array([[f, 0, size / 2, 0], [0, f, size / 2, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        return intrinsics @ world_to_cam

    def project(self, points, camera: str | None = None, size: int | None = None) -> np.ndarray:
        """Pixel coordinates ``(N, 2)`` as (column, row) floats of world points in the upright image."""
        return project_points(self.camera_matrix(camera, size), points)

    def state_is_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.sim.data.qpos)) and np.all(np.isfinite(self.sim.data.qvel)))


def make_env(
    task_name: str,
    seed: int = 0,
    camera_size: int = 224,
    wrist: bool = False,
    control: Control = "absolute",
    horizon: int = 1000,
    render: bool = True,
    faults: str | None = None,
) -> TaskEnv:
    """Create a robosuite task env (Panda, BASIC composite controller, OSC_POSE arm), reset to ``seed``.

    Args:
        task_name: ``Lift``, ``Stack``, ``PickPlaceCan`` or ``Door``.
        seed: seeds robosuite's placement sampler and initial joint noise.
        camera_size: square image size of the agentview (and wrist) camera.
        wrist: also render the ``robot0_eye_in_hand`` camera in :meth:`TaskEnv.images`.
        control: ``"absolute"`` (world-frame OSC goal poses) or ``"delta"`` (robosuite's default).
        horizon: robosuite's episode horizon (control steps).
        render: create the offscreen renderer; pass False for state-only rollouts (faster start).
        faults: fault-injection spec for tests (:func:`~envs.robosuite.faults.parse_fault_plan`);
            None reads ``$EMBODIED_R1_INJECT_FAULTS``, ``""`` injects nothing.

    Returns:
        A reset :class:`TaskEnv`.
    """
    spec = get_task(task_name)
    robosuite, _ = _import_robosuite()
    raw = robosuite.make(
        spec.env_name,
        robots="Panda",
        controller_configs=controller_config(control),
        has_renderer=False,
        has_offscreen_renderer=render,
        renderer="mujoco",
        use_camera_obs=False,
        use_object_obs=True,
        camera_names=["agentview", "robot0_eye_in_hand"],
        camera_heights=camera_size,
        camera_widths=camera_size,
        horizon=horizon,
        ignore_done=True,
        hard_reset=True,
        seed=seed,
        **spec.env_kwargs,
    )
    plan = sim_faults.fault_plan_from_env() if faults is None else sim_faults.parse_fault_plan(faults)
    env = TaskEnv(raw, task_name, seed, control, camera_size, wrist, faults=plan)
    env.reset(seed)
    return env


# ---------------------------------------------------------------------- helpers
def project_points(matrix: np.ndarray, points) -> np.ndarray:
    """Apply a 4x4 world -> pixel matrix (:meth:`TaskEnv.camera_matrix`): (N, 3) -> (N, 2) (col, row)."""
    pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
    hom = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.asarray(matrix).T
    return hom[:, :2] / hom[:, 2:3]


def _reseed(raw, seed: int) -> None:
    """Point every generator robosuite consults at reset to one fresh ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    raw.rng = rng
    stack = [getattr(raw, "placement_initializer", None)]
    while stack:
        sampler = stack.pop()
        if sampler is None:
            continue
        sampler.rng = rng
        stack.extend(getattr(sampler, "samplers", {}).values())


def _mat2quat_xyzw(mat: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(mat).as_quat()  # scipy is (x, y, z, w)


def _orientation_error(desired: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Axis-angle (world frame) rotating ``current`` onto ``desired``."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(desired @ current.T).as_rotvec()


def _rotation(rotvec: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(rotvec).as_matrix()


def _rotvec(mat: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(mat).as_rotvec()

