"""KeypointControlEnv: gymnasium conformance, registration, budgets, and faults that never raise."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("robosuite")
gymnasium = pytest.importorskip("gymnasium")

from envs.robosuite.control_env import ENTRY_POINT, ENV_ID, KeypointControlEnv, register_envs  # noqa: E402

CAM = 32


@pytest.fixture(scope="module")
def env():
    e = KeypointControlEnv("Lift", camera_size=CAM, max_keypoints=6, executor_kwargs={"max_steps_per_keypoint": 60})
    yield e
    e.close()


def test_register_is_light_idempotent_and_guards_duplicates():
    import subprocess
    import sys

    code = (
        "import sys; from envs.robosuite.control_env import register_envs; register_envs(); "
        "print('robosuite' in sys.modules, 'mujoco' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    ids = register_envs()
    assert ids == register_envs() and ENV_ID in ids
    assert gymnasium.spec(ENV_ID).entry_point == ENTRY_POINT
    gymnasium.register(id="embodied_r1/KeypointControlStack-v0", entry_point="other.module:Env")
    try:
        with pytest.raises(ValueError, match="embodied_r1/KeypointControl-v0"):
            register_envs()
    finally:
        del gymnasium.registry["embodied_r1/KeypointControlStack-v0"]
        register_envs()


def test_check_env(env):
    from gymnasium.utils.env_checker import check_env

    check_env(env, skip_render_check=True)


def test_reset_info_and_observation(env):
    obs, info = env.reset(seed=7)
    assert info["instruction"] == "lift the red cube" and info["seed"] == 7
    assert info["metadata"]["reference_point"] == [0.0, 0.0, 0.8]
    assert obs["image"].shape == (CAM, CAM, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].dtype == np.float32 and obs["state"][3] == 0.0
    assert env.observation_space.contains(obs)


def test_oracle_keypoints_solve_lift_through_gymnasium_make():
    from envs.robosuite.executor import oracle_keyframes

    register_envs()
    env = gymnasium.make("embodied_r1/KeypointControlLift-v0", camera_size=CAM)
    obs, _ = env.reset(seed=4)
    terminated = False
    for kp in oracle_keyframes("Lift", 4):
        obs, reward, terminated, truncated, info = env.step(kp.astype(np.float32))
        assert info["steps"] > 0 or info["reached"]
        if terminated or truncated:
            break
    env.close()
    assert terminated and reward == 1.0 and info["success"]
    assert info["eef_path"].shape[1] == 3


def test_out_of_workspace_actions_are_clipped(env):
    env.reset(seed=1)
    _, _, _, _, info = env.step(np.array([5.0, -5.0, 9.0, 0.3], np.float32))
    assert np.allclose(info["keypoint"][:3], [env.workspace_high[0], env.workspace_low[1], env.workspace_high[2]])
    assert info["keypoint"][3] == 0.0


def test_keypoint_budget_truncates(env):
    env.reset(seed=1)
    env.max_keypoints = 2
    try:
        still = env.sim.eef_pos
        out1 = env.step(np.append(still, 0.0).astype(np.float32))
        out2 = env.step(np.append(still, 0.0).astype(np.float32))
    finally:
        env.max_keypoints = 6
    assert out1[2:4] == (False, False)
    assert out2[2:4] == (False, True) and out2[1] == 0.0


def test_mujoco_error_in_step_is_a_failed_episode_not_an_exception(env, monkeypatch):
    import mujoco

    env.reset(seed=2)

    def boom(action):
        raise mujoco.FatalError("injected: mj_stackAlloc out of memory")

    monkeypatch.setattr(env.sim.raw, "step", boom)
    obs, reward, terminated, truncated, info = env.step(np.array([0.0, 0.0, 1.0, 0.0], np.float32))
    assert truncated and not terminated and reward == 0.0
    assert "FatalError" in info["fault"] and "injected" in info["fault"]
    assert env.observation_space.contains(obs)
    # The episode stays over until reset.
    _, _, _, truncated, info = env.step(np.array([0.0, 0.0, 1.0, 0.0], np.float32))
    assert truncated and "reset" in info["fault"]
    monkeypatch.undo()
    env.reset(seed=2)
    _, _, _, truncated, info = env.step(np.append(env.sim.eef_pos, 0.0).astype(np.float32))
    assert "fault" not in info and not truncated


def test_nan_state_is_a_fault(env, monkeypatch):
    env.reset(seed=3)
    raw = env.sim.raw
    original = raw.step

    def nan_step(action):
        out = original(action)
        raw.sim.data.qpos[:3] = np.nan
        return out

    monkeypatch.setattr(raw, "step", nan_step)
    _, reward, terminated, truncated, info = env.step(np.array([0.0, 0.0, 1.0, 0.0], np.float32))
    assert truncated and not terminated and reward == 0.0
    assert "non-finite" in info["fault"]


def test_a_diverged_simulation_that_mujoco_resets_is_reported_not_teleported(monkeypatch):
    """MuJoCo answers a diverging state by resetting it to the home pose and carrying on: without the
    warning check the episode would go on from a teleported arm with a finite, plausible state."""
    from envs.robosuite.faults import FAULTS_ENV

    monkeypatch.setenv(FAULTS_ENV, "Lift:5:blowup@4")  # read when the env builds its simulator
    e = KeypointControlEnv("Lift", camera_size=CAM, max_keypoints=3)
    try:
        obs, _ = e.reset(seed=5)
        far = np.append(obs["state"][:3] + [0.1, 0.0, 0.0], 0.0).astype(np.float32)
        obs2, reward, terminated, truncated, info = e.step(far)
        assert truncated and not terminated and reward == 0.0
        assert info["fault"].startswith("unstable simulation: MuJoCo reported NaN, inf or huge qvel")
        assert info["fault"].endswith("at step 4") and info["env_steps"] == 4
        assert np.array_equal(obs2["state"], obs["state"])  # the last sound observation, not the reset pose
        obs, _ = e.reset(seed=6)  # another seed in the same env: no fault
        _, _, _, truncated, info = e.step(far)
        assert "fault" not in info and info["env_steps"] > 4
    finally:
        e.close()
