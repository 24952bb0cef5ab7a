"""envs.robosuite: env factory, scripted experts, recording, dataset round trip, keypoint executor.

Every test here builds real robosuite envs (~2-4 s each on CPU); the module shares a few of them.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("robosuite")

from envs.robosuite import tasks as task_meta  # noqa: E402
from envs.robosuite.executor import KeypointExecutor, run_oracle  # noqa: E402
from envs.robosuite.make import TOP_DOWN, make_env  # noqa: E402
from envs.robosuite.recorder import record_demo  # noqa: E402

CAM = 64


@pytest.fixture(scope="module")
def lift_env():
    env = make_env("Lift", seed=0, camera_size=CAM)
    yield env
    env.close()


@pytest.fixture(scope="module")
def lift_demo(lift_env):
    return record_demo("Lift", 0, env=lift_env)


def test_package_import_does_not_import_robosuite():
    import subprocess
    import sys

    code = "import sys, envs.robosuite as r; r.task_instruction('Lift'); print('robosuite' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_task_metadata():
    assert task_meta.task_instruction("Lift") == "lift the red cube"
    meta = task_meta.task_metadata("Stack")
    assert meta["reference_point"] == [0.0, 0.0, 0.8] and meta["axes"]["z"] == "up"
    low, high = task_meta.workspace_bounds("PickPlaceCan")
    assert np.all(low < high)
    with pytest.raises(KeyError, match="known"):
        task_meta.get_task("NutAssemblyRound")


def test_images_are_upright_flips_of_the_raw_render(lift_env):
    img = lift_env.render("agentview")
    raw = lift_env.sim.render(camera_name="agentview", width=CAM, height=CAM)
    assert img.dtype == np.uint8 and img.shape == (CAM, CAM, 3)
    assert np.array_equal(img, raw[::-1]) and not np.array_equal(img, raw)
    # agentview looks across the white table at the robot: the table fills the bottom of an upright image.
    assert img[-CAM // 4 :].mean() > img[: CAM // 4].mean() + 40


def test_wrist_camera_and_state_only_envs():
    env = make_env("Lift", seed=0, camera_size=32, wrist=True)
    imgs = env.images()
    assert set(imgs) == {"image", "wrist"} and imgs["wrist"].shape == (32, 32, 3)
    assert not np.array_equal(imgs["wrist"], imgs["image"])
    env.close()
    blind = make_env("Lift", seed=0, render=False)
    with pytest.raises(RuntimeError, match="render=False"):
        blind.images()
    blind.close()


def test_seed_determines_the_initial_state(lift_env):
    other = make_env("Lift", seed=5, render=False)
    other.reset(3)
    lift_env.reset(3)
    assert np.array_equal(other.sim.data.qpos, lift_env.sim.data.qpos)
    lift_env.reset(4)
    assert not np.allclose(other.object_poses()["cube"], lift_env.object_poses()["cube"])
    other.close()


def test_lift_expert_demo_succeeds_and_records_everything(lift_demo):
    d = lift_demo
    t = len(d)
    assert d.success and 40 < t < 200
    assert d.images.shape == (t, CAM, CAM, 3) and d.images.dtype == np.uint8
    assert d.eef_pos.shape == (t, 3) and d.eef_quat.shape == (t, 4) and d.joint_vel.shape == (t, 7)
    assert d.actions.shape == (t, 7) and d.gripper_qpos.shape == (t, 2)
    assert d.object_poses["cube"].shape == (t, 7)
    # Gripper: open at the start, closed at the end; fingers really closed on the cube (~2 cm each).
    assert not d.gripper_closed[0] and d.gripper_closed[-1]
    assert d.gripper_qpos[-1, 0] < 0.03
    # The cube ends up lifted, held between the fingers.
    assert d.object_poses["cube"][-1, 2] > 0.84
    assert np.linalg.norm(d.object_poses["cube"][-1, :3] - d.eef_pos[-1]) < 0.02


def test_lift_keyframes_include_the_grasp(lift_demo):
    d = lift_demo
    close = int(np.argmax(d.gripper_closed))  # first frame with the gripper commanded closed
    assert close in d.keyframes
    assert d.keyframes[-1] == len(d) - 1
    assert 3 <= len(d.keyframes) <= 6
    # A keyframe before the grasp is the pause above the cube: arm at rest, higher than the grasp.
    first = d.keyframes[0]
    assert first < close and np.abs(d.joint_vel[first]).max() <= 0.1
    assert d.eef_pos[first, 2] > d.eef_pos[close, 2] + 0.05


def test_dataset_round_trip(lift_demo, tmp_path):
    pytest.importorskip("datasets")
    from envs.robosuite.dataset import load_card, load_demos, save_demos, to_hf_dataset

    ds = to_hf_dataset([lift_demo, lift_demo])
    assert len(ds) == 2 * len(lift_demo)
    row = ds[len(lift_demo) + 3]
    assert row["episode_index"] == 1 and row["frame_index"] == 3 and row["task_name"] == "Lift"
    assert np.allclose(row["observation.state"], lift_demo.state[3], atol=1e-6)
    assert np.array_equal(np.asarray(row["observation.image"]), lift_demo.images[3])
    assert sum(ds["is_keyframe"]) == 2 * len(lift_demo.keyframes)
    path = save_demos([lift_demo], tmp_path / "demos", stats={"success_rate": 1.0})
    assert load_card(path)["stats"]["success_rate"] == 1.0
    (back,) = load_demos(path)
    assert len(back) == len(lift_demo) and back.keyframes == lift_demo.keyframes
    assert np.array_equal(back.images, lift_demo.images)
    assert np.array_equal(back.gripper_closed, lift_demo.gripper_closed)
    assert np.allclose(back.eef_pos, lift_demo.eef_pos, atol=1e-6)
    assert np.allclose(back.object_poses["cube"], lift_demo.object_poses["cube"], atol=1e-5)


def test_record_demos_drops_failures_and_reports_stats(monkeypatch):
    from envs.robosuite import recorder

    real = recorder.run_expert

    def flaky(env, **kw):
        res = real(env, **kw)
        if env.seed == 11:
            res.success = False
        return res

    monkeypatch.setattr(recorder, "run_expert", flaky)
    demos, stats = recorder.record_demos("Lift", 3, seed0=10, progress=False, images=False)
    assert [d.seed for d in demos] == [10, 12]
    assert stats["dropped"] == 1 and stats["failed_seeds"] == [11] and stats["success_rate"] == pytest.approx(2 / 3)
    assert stats["frames"] == sum(len(d) for d in demos) and stats["frames_per_s"] > 0
    assert stats["mean_keyframes"] == pytest.approx(np.mean([len(d.keyframes) for d in demos]))
    kept, stats = recorder.record_demos("Lift", 2, seed0=10, progress=False, images=False, keep_failed=True)
    assert len(kept) == 2 and not kept[1].success and stats["dropped"] == 0


def test_camera_projection_puts_the_cube_on_its_pixels(lift_demo):
    from envs.robosuite.make import project_points

    u, v = project_points(lift_demo.camera_matrix, lift_demo.object_poses["cube"][0, :3])[0]
    r, g, b = lift_demo.images[0, int(round(v)), int(round(u))].astype(int)
    assert r > 100 and r > g + 50 and r > b + 50  # the red cube


def test_demo_figure(lift_demo, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from envs.robosuite.figures import save_demo_figure

    path = save_demo_figure(lift_demo, tmp_path / "robot_Lift.png")
    with Image.open(path) as im:
        assert im.size[0] > 800 and im.size[1] > 500


def test_executor_reaches_a_reachable_target_and_sets_the_gripper(lift_env):
    lift_env.reset(1)
    start = lift_env.eef_pos
    target = np.append(start + [0.08, -0.06, -0.1], 1.0)
    ex = KeypointExecutor(lift_env, pos_tol=0.01, max_step=0.03)
    res = ex.execute(target)
    assert res.reached and res.distance < 0.01 and 10 < res.steps < 100
    assert res.eef_path.shape == (res.steps + 1, 3)
    assert lift_env.gripper_closed and lift_env.gripper_qpos[0] < 0.03  # closing (open: 0.04)
    # Bounded moves: no step of the path jumps more than max_step.
    assert np.max(np.linalg.norm(np.diff(res.eef_path, axis=0), axis=1)) <= 0.03
    # The orientation stays top-down.
    assert np.abs(lift_env.eef_rotation - TOP_DOWN).max() < 0.05
    with pytest.raises(ValueError):
        ex.execute([0.0, 0.0, np.nan, 1.0])


def test_executor_budget_and_stall(lift_env):
    lift_env.reset(1)
    ex = KeypointExecutor(lift_env, max_steps_per_keypoint=5)
    res = ex.execute(np.append(lift_env.eef_pos + [0.2, 0, 0], 0.0))
    assert res.steps == 5 and not res.reached
    # Into the table: the arm is blocked and the executor stops early rather than spending its budget.
    ex = KeypointExecutor(lift_env, max_steps_per_keypoint=200)
    res = ex.execute([*lift_env.eef_pos[:2], 0.70, 0.0])
    assert res.stalled and not res.reached and res.steps < 200


def test_delta_control_executor_reaches_target():
    env = make_env("Lift", seed=2, control="delta", render=False)
    target = np.append(env.eef_pos + [0.05, 0.05, -0.05], 0.0)
    res = KeypointExecutor(env).execute(target)
    assert res.reached
    env.close()


def test_oracle_replays_lift_keyframes_to_success(lift_env):
    res = run_oracle("Lift", 2, env=lift_env)
    assert res.expert_success and res.success and all(res.reached)


def test_stack_expert_succeeds():
    env = make_env("Stack", seed=1, render=False)
    demo = record_demo("Stack", 1, env=env, images=False)
    env.close()
    assert demo.success and demo.images is None
    a, b = demo.object_poses["cubeA"][-1], demo.object_poses["cubeB"][-1]
    assert np.linalg.norm(a[:2] - b[:2]) < 0.02 and a[2] > b[2] + 0.03
    # Two gripper changes (grasp, release) are both keyframes.
    changes = np.flatnonzero(np.diff(demo.gripper_closed.astype(int))) + 1
    assert len(changes) == 2 and set(changes) <= set(demo.keyframes)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["PickPlaceCan", "Door"])
def test_other_experts_succeed(task):
    env = make_env(task, seed=0, render=False)
    demo = record_demo(task, 0, env=env, images=False)
    env.close()
    assert demo.success and len(demo.keyframes) >= 4
