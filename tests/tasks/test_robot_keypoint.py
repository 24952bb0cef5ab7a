"""robot-keypoint: labels, prompts, parsing, metrics, options (fast, no simulator), and slow end-to-end runs
with real robosuite (dataset build, eval-control oracle/zero, fault injection)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from embodied_r1.errors import UserError
from tasks.robot_keypoint import RobotKeypointConfig, RobotKeypointTask, build_prompt, parse_keypoint
from tasks.robot_keypoint.control_options import parse_options
from tasks.robot_keypoint.metrics import baseline_answers, robot_metrics, wilson_interval
from tasks.robot_keypoint.prompts import fmt_vec, sft_completion
from tasks.robot_keypoint.questions import all_directions, direction_label, make_mcq, pair_samples, sample_distractors

BOUNDS = (np.array([-0.25, -0.3, 0.80]), np.array([0.25, 0.3, 1.20]))
REF, EEF = (0.0, 0.0, 0.8), (0.08, 0.05)


# ------------------------------------------------------------------------------------------ labels
def test_pairing_takes_the_next_keyframe_not_yet_reached():
    keys = [12, 20, 34]
    pairs = pair_samples(40, keys, 5)
    assert pairs == [(0, 12), (5, 12), (10, 12), (15, 20), (20, 34), (25, 34), (30, 34)]
    for i, k in pairs:
        assert k > i and not any(i < kk < k for kk in keys)
    # a sampled frame that is itself a keyframe goes on to the next one; frames past the last are dropped
    assert pair_samples(21, [10, 20], 10) == [(0, 10), (10, 20)]
    assert pair_samples(10, [], 2) == []


def test_pairing_on_a_synthetic_demo_with_extracted_keyframes():
    from envs.robosuite.keyframes import extract_keyframes

    t = 60
    vel = np.ones((t, 7))
    vel[25:27] = 0.0  # the arm stops around frame 25
    grip = np.ones(t, dtype=bool)
    grip[40:] = False  # closes at 40
    keys = extract_keyframes(vel, grip)
    assert 25 in keys and 40 in keys and keys[-1] == t - 1
    pairs = dict(pair_samples(t, keys, 10))
    assert pairs[0] == pairs[10] == pairs[20] == 25 and pairs[30] == 40 and pairs[40] == pairs[50] == t - 1


@pytest.mark.parametrize("delta,label", [
    ([0.0, 0.0, 0.12], "move up"), ([0.0, 0.0, -0.3], "move down"),
    ([0.2, 0.05, 0.0], "move forward"), ([-0.2, 0.0, 0.1], "move backward"),
    ([0.0, 0.1, 0.0], "move left"), ([0.01, -0.08, 0.0], "move right"),
    ([0.0, 0.0, 0.03], "slightly move up"), ([-0.049, 0.01, 0.0], "slightly move backward"),
    ([0.0, -0.02, 0.01], "slightly move right"), ([0.05, 0.0, 0.0], "move forward"),  # threshold itself: not slight
])
def test_direction_labels_follow_the_world_frame(delta, label):
    assert direction_label(delta, 0.05) == label
    assert label in all_directions()


def test_direction_label_threshold_is_configurable():
    assert direction_label([0.0, 0.0, 0.08], 0.1) == "slightly move up"


def test_mcq_distractors_are_in_band_separated_and_inside_the_workspace():
    rng = np.random.default_rng(0)
    for truth in ([0.0, 0.0, 0.9, 0.0], [0.2, 0.25, 0.82, 1.0], [-0.24, -0.29, 1.19, 1.0]):
        for _ in range(20):
            options, letter = make_mcq(truth, rng, BOUNDS)
            assert len(options) == 4 and options["ABCD".index(letter)] == truth
            pos = np.array(options)[:, :3]
            for i in range(4):
                assert np.all(pos[i] >= BOUNDS[0] - 1e-9) and np.all(pos[i] <= BOUNDS[1] + 1e-9)
                if i != "ABCD".index(letter):
                    d = np.linalg.norm(pos[i] - np.array(truth[:3]))
                    assert 0.05 - 1e-9 <= d <= 0.25 + 1e-9
                    assert options[i][3] == truth[3]
                for j in range(i):
                    assert np.linalg.norm(pos[i] - pos[j]) >= 0.04
    letters = {make_mcq([0, 0, 0.9, 0], rng, BOUNDS)[1] for _ in range(60)}
    assert letters == set("ABCD")


def test_mcq_distractors_leave_no_nearest_to_current_shortcut():
    rng = np.random.default_rng(1)
    hits = total = 0
    for _ in range(300):
        cur = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(0.85, 1.1)])
        u = rng.normal(size=3)
        truth = [*(cur + u / np.linalg.norm(u) * rng.uniform(0.05, 0.2)), 1.0]
        made = make_mcq(truth, rng, BOUNDS, current=[*cur, 0.0])
        if made is None:
            continue
        options, letter = made
        for i, o in enumerate(options):
            if i != "ABCD".index(letter):
                assert 0.05 <= np.linalg.norm(np.array(o[:3]) - truth[:3]) <= 0.25
        d = np.linalg.norm(np.array(options)[:, :3] - cur, axis=1)
        hits += int(np.argmin(d) == "ABCD".index(letter))
        total += 1
    assert total > 250 and hits / total < 0.4  # chance is 0.25; truth-centred distractors give ~0.75


def test_mcq_gives_up_when_constraints_cannot_hold():
    tiny = (np.array([0, 0, 0.8]), np.array([0.01, 0.01, 0.81]))
    assert sample_distractors([0.005, 0.005, 0.805, 0], np.random.default_rng(0), tiny, tries=50) is None


# ------------------------------------------------------------------------------------------ prompt / parse
def test_prompt_contains_the_metadata():
    p = build_prompt("keypoint", "lift the red cube", [0.1, -0.02, 1.0, 0.0], REF, EEF)
    assert p[0]["role"] == "user" and p[0]["content"][0] == {"type": "image"}
    text = p[0]["content"][1]["text"]
    for needle in ("lift the red cube", "table-top centre is at [0.000, 0.000, 0.800]", "x forward", "y to the robot's left",
                   "z up", "0.08 m wide", "0.05 m long", "[0.100, -0.020, 1.000, 0]", "gripper open",
                   "1 closed", "<think>", "<answer>"):
        assert needle in text, needle
    cs = build_prompt("current_state", "lift the red cube", [0.1, -0.02, 1.0, 0.0], REF, EEF)[0]["content"][1]["text"]
    assert "[0.100, -0.020, 1.000, 0]" not in cs and "current end-effector state" in cs  # the state is what it asks
    mcq = build_prompt("mcq", "x", [0, 0, 1, 0], REF, EEF, options=[[0.1, 0, 1, 1]] * 4)[0]["content"][1]["text"]
    assert "A. [0.100, 0.000, 1.000, 1]" in mcq and "D. " in mcq
    d = build_prompt("direction", "x", [0, 0, 1, 0], REF, EEF, slight_threshold=0.05)[0]["content"][1]["text"]
    assert "slightly" in d and "0.05 m" in d


def _row(q, answer, target=(0.1, 0.0, 0.9, 1.0), current=(0.1, 0.0, 1.0, 0.0), task="Lift", options=()):
    return {"question_type": q, "answer": answer, "target": list(target), "current": list(current),
            "options": list(options), "task_name": task, "instruction": "lift the red cube", "slight_threshold": 0.05}


def test_sft_targets_parse_and_score_perfectly():
    from rewards import make_direction_reward, make_keypoint_reward, make_robot_format_reward, mcq_reward

    rows = [_row("keypoint", "[0.100, 0.000, 0.900, 1]"), _row("current_state", "[0.100, 0.000, 1.000, 0]",
                                                                 target=(0.1, 0.0, 1.0, 0.0)),
            _row("mcq", "C", options=["[0.2, 0, 0.9, 1]", "[0.3, 0, 0.9, 1]", "[0.100, 0.000, 0.900, 1]", "[0, 0, 1, 1]"]),
            _row("direction", "move down")]
    task = RobotKeypointTask()
    comps = [task.sft_target(r) for r in rows]
    cols = {k: [r[k] for r in rows] for k in ("question_type", "answer", "target")}
    assert make_robot_format_reward()(None, comps, **cols) == [1.0] * 4
    assert make_keypoint_reward()(None, comps, **cols)[:2] == [1.0, 1.0]
    assert mcq_reward(None, comps, **cols)[2] == 1.0
    assert make_direction_reward()(None, comps, **cols)[3] == 1.0
    m = task.metrics(comps, rows)
    assert m["parse_rate"] == 1.0 and m["keypoint_l2_mean"] < 1e-3 and m["mcq_acc"] == 1.0 and m["direction_acc"] == 1.0
    assert "move down" in sft_completion(rows[0])  # the reasoning names the movement


def test_parse_and_metric_formulas_on_hand_made_completions():
    rows = [_row("keypoint", "", target=(0.0, 0.0, 1.0, 1.0), task="Lift"),
            _row("keypoint", "", target=(0.0, 0.0, 1.0, 0.0), task="Lift"),
            _row("keypoint", "", target=(0.0, 0.0, 1.0, 0.0), task="Stack"),
            _row("mcq", "B", task="Stack"), _row("mcq", "A", task="Stack"),
            _row("direction", "slightly move up", task="Lift"), _row("direction", "move left", task="Lift")]
    comps = ["<think>a</think><answer>[0.03, 0.04, 1.0, 1]</answer>",  # 0.05 m off, gripper right
             "<think>a</think><answer>[0.0, 0.0, 1.1, 1]</answer>",  # 0.10 m off, gripper wrong
             "no answer tag [0, 0, 1, 0]",  # unparsed
             "<answer>b</answer>", "<answer>C</answer>",
             "<answer>move up</answer>", "<answer>move left</answer>"]
    m = robot_metrics(comps, rows)
    assert m["n"] == 7
    assert m["parse_rate"] == pytest.approx(6 / 7)
    assert m["keypoint_parse_rate"] == pytest.approx(2 / 3)
    assert m["keypoint_l2_mean"] == pytest.approx(0.075) and m["keypoint_l2_median"] == pytest.approx(0.075)
    assert m["keypoint_gripper_acc"] == pytest.approx(1 / 3)
    assert m["mcq_acc"] == 0.5
    assert m["direction_acc"] == 0.5 and m["direction_axis_acc"] == 1.0
    assert m["Lift/keypoint_l2_mean"] == pytest.approx(0.075) and "Stack/keypoint_l2_mean" not in m
    assert m["Stack/mcq_acc"] == 0.5 and m["Lift/direction_acc"] == 0.5
    assert parse_keypoint("<answer>[0.1, 0.2, 0.3, 0.2]</answer>") == [0.1, 0.2, 0.3, 0.0]
    assert parse_keypoint("<answer>[0.1, nan, 0.3, 1]</answer>") is None
    assert RobotKeypointTask().parse("<answer>slightly move up</answer>")["direction"] == "slightly move up"


def test_baselines_are_well_formed_and_stay_predicts_the_current_state():
    rows = [_row("keypoint", "[0.100, 0.000, 0.900, 1]"), _row("mcq", "A", options=["[0.1, 0, 1.0, 0]", "[0.3, 0, 0.9, 1]",
                                                                                     "[0.2, 0, 0.9, 1]", "[0, 0.2, 1, 1]"]),
            _row("direction", "move down"), _row("current_state", "[0.100, 0.000, 1.000, 0]", target=(0.1, 0, 1, 0))]
    b = baseline_answers(rows, seed=0)
    assert set(b) == {"stay", "random", "majority"}
    task = RobotKeypointTask()
    for answers in b.values():
        assert len(answers) == len(rows) and task.metrics(answers, rows)["parse_rate"] == 1.0
    assert parse_keypoint(b["stay"][0]) == [0.1, 0.0, 1.0, 0.0]
    m = task.metrics(b["stay"], rows)
    assert m["keypoint_l2_mean"] == pytest.approx(0.1) and m["mcq_acc"] == 1.0 and m["direction_acc"] == 1.0


def test_write_report_draws_the_error_histogram(tmp_path):
    rows = [_row("keypoint", "", target=(0.0, 0.0, 1.0, 1.0), task=t) for t in ("Lift", "Lift", "Stack")]
    comps = ["<answer>[0.03, 0.04, 1.0, 1]</answer>", "<answer>[0, 0, 1.2, 0]</answer>", "oops"]
    paths = RobotKeypointTask().write_report({"model": "m", "split": "test"}, rows, comps, tmp_path)
    assert [p.name for p in paths] == ["keypoint_errors.png"] and paths[0].stat().st_size > 10_000


def test_reward_specs_follow_the_config_weights():
    task = RobotKeypointTask()
    names = [s.name for s in task.reward_specs(RobotKeypointConfig())]
    assert names == ["keypoint_reward", "mcq_reward", "direction_reward", "robot_format_reward"]
    cfg = RobotKeypointConfig(rewards={"keypoint_reward": {"weight": 2.0, "tau": 0.2}, "mcq_reward": 0.0})
    specs = task.reward_specs(cfg)  # rewards not given keep their default weight
    assert [(s.name, s.weight) for s in specs] == [("keypoint_reward", 2.0), ("direction_reward", 1.0),
                                                   ("robot_format_reward", 0.5)]
    assert specs[0].fn.tau == 0.2 and specs[0].fn.gripper_weight == 0.25


@pytest.mark.parametrize("kwargs,msg", [
    (dict(tasks=""), "tasks is empty"), (dict(tasks="Lift,Lift"), "twice"),
    (dict(heldout_task="Lift"), "also a training task"), (dict(episodes=0), "positive integer"),
    (dict(question_mix={"keypoint": 2.0}), "probability"), (dict(question_mix={"kp": 1.0}), "unknown question type"),
    (dict(rewards={"foo": 1.0}), "unknown reward"), (dict(mcq_min_dist=0.3), "below mcq_max_dist"),
    (dict(camera_size=8), "camera_size"),
    (dict(rewards={"keypoint_reward": {"gripper_weight": 1.5}}), "gripper_weight"),
])
def test_config_validation(kwargs, msg):
    with pytest.raises(UserError, match=msg):
        RobotKeypointConfig(**kwargs)


def test_config_normalises_tasks():
    cfg = RobotKeypointConfig(tasks="Lift, Stack", heldout_task="")
    assert cfg.tasks == ["Lift", "Stack"] and cfg.heldout_task is None and cfg.all_tasks == ["Lift", "Stack"]


# ------------------------------------------------------------------------------------------ control pieces
def test_wilson_interval_formula():
    lo, hi = wilson_interval(9, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.5958, 0.9821)
    n, k, z = 20, 14, 1.96
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((c - h, c + h))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("options,msg", [
    ({"episode": 3}, "unknown eval-control option 'episode' \\(did you mean 'episodes'"),
    ({"bogus": 1}, "unknown eval-control option 'bogus'"),
    ({"episodes": 0}, "'episodes' must be an integer >= 1"),
    ({"workers": -1}, "'workers' must be an integer >= 0"),
    ({"episodes": "ten"}, "'episodes' must be an integer"),
    ({"tasks": ""}, "--tasks is empty"),
    ({"temperature": -1}, "temperature"),
    ({"camera_size": 4}, "camera_size"),
    ({"progress": "yes"}, "true or false"),
])
def test_control_options_validation(options, msg):
    with pytest.raises(UserError, match=msg):
        parse_options(options)


def test_control_cli_reports_bad_options_in_one_line(tmp_path):
    from click.testing import CliRunner

    from embodied_r1.cli import main

    res = CliRunner().invoke(main, ["eval-control", "--task", "robot-keypoint", "--policy", "oracle", "--tasks", "Nope",
                                    "--output", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unknown task(s) Nope" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["eval-control", "--task", "robot-keypoint", "max_calls=3"])
    assert res.exit_code == 2 and "unknown eval-control option 'max_calls'" in res.output


def test_offline_keypoint_error_of_local_policies_reads_the_cached_test_splits(tmp_path, monkeypatch):
    from datasets import Dataset, DatasetDict

    from tasks.robot_keypoint.control_report import offline_keypoint_error

    monkeypatch.setenv("EMBODIED_R1_DATA", str(tmp_path))
    assert offline_keypoint_error(parse_options({"policy": "zero"}), None)["l2_mean"] is None  # nothing cached
    rows = [_row("keypoint", "", target=(0.0, 0.0, 0.9, 1.0), current=(0.0, 0.0, 1.0, 0.0), task="Lift"),
            _row("mcq", "A", task="Lift"), _row("keypoint", "", target=(0.3, 0.0, 1.0, 1.0), current=(0.0, 0.0, 1.0, 0.0),
                                               task="PickPlaceCan")]
    folder = tmp_path / "robot-keypoint" / "abc"
    DatasetDict(train=Dataset.from_list(rows[:1]), test=Dataset.from_list(rows[:2]),
                test_heldout_task=Dataset.from_list(rows[2:])).save_to_disk(str(folder / "data"))
    (folder / "card.json").write_text(json.dumps({"seed": 0, "settings": {}}))
    zero = offline_keypoint_error(parse_options({"policy": "zero", "tasks": "Lift,PickPlaceCan"}), None)
    assert zero["n"] == 2 and zero["per_task"] == pytest.approx({"Lift": 0.1, "PickPlaceCan": 0.3})
    assert zero["l2_mean"] == pytest.approx(0.2)
    assert offline_keypoint_error(parse_options({"policy": "oracle", "tasks": "Lift"}), None)["l2_mean"] == 0.0


def test_model_policy_uses_the_training_prompt_and_parser():
    from tasks.robot_keypoint.control import ModelPolicy

    seen = {}

    class FakeGenerator:
        def generate(self, prompts, images, max_new_tokens, temperature=0.0):
            seen["prompts"], seen["images"] = prompts, images
            return ["<think>x</think><answer>[0.1, 0.0, 0.9, 1]</answer>", "garbage"]

    policy = ModelPolicy(FakeGenerator())
    img = np.zeros((32, 32, 3), np.uint8)
    out = policy.answer([("Lift", img, [0.0, 0.0, 1.0, 0.0]), ("Stack", img, [0.1, 0.0, 1.0, 1.0])])
    assert out[0][0] == [0.1, 0.0, 0.9, 1.0] and out[1][0] is None
    from envs.robosuite import PANDA_EEF_SIZE, reference_point, task_instruction

    assert seen["prompts"][1] == build_prompt("keypoint", task_instruction("Stack"), [0.1, 0.0, 1.0, 1.0],
                                              reference_point("Stack"), PANDA_EEF_SIZE)
    assert len(seen["images"][0]) == 1 and policy.batch_sizes == [2]
    assert fmt_vec([0.1, 0, 0.9, 1]) in "[0.100, 0.000, 0.900, 1]"


class FakeKeypointEnv:
    """A simulator-free stand-in of KeypointControlEnv: the eef jumps to the keypoint; success above z = 1.05."""

    def __init__(self, task_name, camera_size, max_keypoints, max_env_steps, on_step=None):
        import os
        import time
        from pathlib import Path

        self.task_name, self.size = task_name, camera_size
        barrier = os.environ.get("FAKE_ENV_BARRIER")
        if barrier:  # wait until two worker processes hold an env, so that their first episodes overlap
            Path(barrier, str(os.getpid())).touch()
            t0 = time.time()
            while len(list(Path(barrier).iterdir())) < 2 and time.time() - t0 < 30:
                time.sleep(0.02)

    def _obs(self):
        return {"image": np.zeros((self.size, self.size, 3), np.uint8), "state": self.state.astype(np.float32)}

    def reset(self, seed=None, options=None):
        self.state = np.array([0.0, 0.0, 1.0, 0.0])
        return self._obs(), {}

    def step(self, action):
        start = self.state[:3].copy()
        self.state = np.asarray(action, float)[:4].copy()
        ok = bool(self.state[2] > 1.05)
        info = {"env_steps": 10, "eef_path": np.array([start, self.state[:3]]), "success": ok}
        return self._obs(), float(ok), ok, False, info

    def close(self):
        pass


def test_model_queries_of_live_episodes_are_batched_across_workers(tmp_path, monkeypatch):
    from tasks.robot_keypoint.control import run_control

    (tmp_path / "barrier").mkdir()
    monkeypatch.setenv("FAKE_ENV_BARRIER", str(tmp_path / "barrier"))
    calls = []

    class FakeGenerator:
        def generate(self, prompts, images, max_new_tokens, temperature=0.0):
            calls.append(len(prompts))
            # gripper open: close it in place (no success yet); closed: lift above the success height
            texts = [p[0]["content"][1]["text"] for p in prompts]
            return [f"<think>up</think><answer>[0.0, 0.0, {1.0 if '(gripper open)' in t else 1.1}, 1]</answer>"
                    for t in texts]

    out = tmp_path / "batched"
    summary = run_control({"policy": "fake-model-folder", "tasks": "Lift,Stack", "episodes": 2, "workers": 2,
                           "video_episodes": 0, "output": str(out), "offline_eval": False, "progress": False,
                           "camera_size": 32},
                          policy_factory=lambda spec, batch_size=16: FakeGenerator(), log=lambda m: None,
                          env_factory="tests.tasks.test_robot_keypoint:FakeKeypointEnv")
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 4 and all(r["success"] and r["calls"] == 2 for r in results), results
    assert sum(calls) == 8 and calls[:2] == [2, 2]  # the 2 live episodes are answered in one generate call
    assert summary["generate_calls"] == len(calls) and summary["mean_batch"] > 1.0
    assert summary["tasks"]["Stack"]["successes"] == 2 and summary["overall"]["mean_calls"] == 2.0
    with pytest.raises(UserError, match="already holds results.jsonl"):  # a finished sweep is never overwritten
        run_control({"policy": "zero", "output": str(out)}, policy_factory=None, log=lambda m: None)


# ------------------------------------------------------------------------------------------ slow: real robosuite
def faulty_env_factory(task_name, camera_size, max_keypoints, max_env_steps, on_step=None):
    """Test env factory (imported by name in spawned workers): the real env, with injected faults by seed.

    seed0 + 0: ``step`` raises a MuJoCo error; seed0 + 1: the worker process dies (as on a segfault);
    seed0 + 2: the env reports a fault in ``info``; other seeds: untouched.
    """
    import os

    import mujoco

    from tasks.robot_keypoint.control_worker import make_control_env

    env = make_control_env(task_name, camera_size, max_keypoints, max_env_steps, on_step)
    real_reset, real_step = env.reset, env.step
    state = {}

    def reset(seed=None, options=None):
        state["seed"] = seed
        return real_reset(seed=seed, options=options)

    def step(action):
        off = state["seed"] - FAULT_SEED0
        if off == 0:
            raise mujoco.FatalError("mj_stackAlloc: insufficient memory (injected)")
        if off == 1:
            os._exit(3)
        obs, r, term, trunc, info = real_step(action)
        if off == 2:
            info = {**info, "fault": "simulation unstable: qacc warning (injected)", "success": False}
        return obs, r, term, trunc, info

    env.reset, env.step = reset, step
    return env


FAULT_SEED0 = 700_000


@pytest.mark.slow
def test_build_tiny_dataset_with_real_robosuite():
    cfg = RobotKeypointConfig(tasks="Lift", episodes=2, heldout_task=None, camera_size=64,
                              question_mix={"keypoint": 1.0, "mcq": 1.0, "current_state": 1.0, "direction": 1.0})
    from embodied_r1.data import load_or_build

    ds, path = load_or_build(RobotKeypointTask(), cfg, seed=0)
    assert set(ds) == {"train", "test"} and len(ds["train"]) > 0 and len(ds["test"]) > 0
    assert set(ds["train"]["episode_index"]) == {0} and set(ds["test"]["episode_index"]) == {1}
    cols = set(ds["train"].column_names)
    assert {"prompt", "images", "image_modalities", "question_type", "answer", "target", "options", "task_name",
            "episode_index", "frame_index"} <= cols
    assert set(ds["train"]["question_type"]) == {"keypoint", "mcq", "current_state", "direction"}
    row = ds["train"][0]
    assert row["images"][0].size == (64, 64) and row["image_modalities"] == ["agentview"]
    assert row["frame_index"] < row["keyframe_index"]
    card = json.loads((path / "card.json").read_text())
    assert card["question_types"]["train"]["keypoint"] > 0
    task = RobotKeypointTask()
    rows = [ds["test"][i] for i in range(len(ds["test"]))]
    m = task.metrics([task.sft_target(r) for r in rows], rows)
    assert m["parse_rate"] == 1.0 and m["keypoint_l2_mean"] < 1e-3 and m["mcq_acc"] == 1.0


def _eval_control(tmp_path, *args):
    from click.testing import CliRunner

    from embodied_r1.cli import main

    out = tmp_path / "control"
    res = CliRunner().invoke(main, ["eval-control", "--task", "robot-keypoint", "--output", str(out), *args,
                                    "offline_eval=false", "progress=false"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    return res, out, results


@pytest.mark.slow
def test_eval_control_oracle_succeeds_and_writes_results(tmp_path):
    res, out, results = _eval_control(tmp_path, "--policy", "oracle", "--tasks", "Lift", "--episodes", "2",
                                      "--workers", "1", "video_episodes=1")
    assert len(results) == 2 and all(r["success"] for r in results), results
    assert all(1 <= r["calls"] <= 15 and r["keypoints"] for r in results)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tasks"]["Lift"]["successes"] == 2 and summary["tasks"]["Lift"]["ci95"][1] == pytest.approx(1.0)
    assert (out / "paths_3d.png").exists() and list((out / "videos").glob("Lift_ep000_*"))
    assert "success" in res.output and "Lift" in res.output


@pytest.mark.slow
def test_eval_control_zero_policy_fails(tmp_path):
    _, _, results = _eval_control(tmp_path, "--policy", "zero", "--tasks", "Lift", "--episodes", "2", "--workers", "1",
                                  "video_episodes=0", "max_keypoint_calls=3")
    assert len(results) == 2 and not any(r["success"] for r in results)
    assert all(r["reason"] == "keypoint budget exhausted" for r in results), results


@pytest.mark.slow
def test_fault_in_one_episode_fails_it_and_the_sweep_goes_on(tmp_path):
    from tasks.robot_keypoint.control import run_control

    out = tmp_path / "faults"
    summary = run_control({"policy": "oracle", "tasks": "Lift", "episodes": 4, "workers": 1, "seed0": FAULT_SEED0,
                           "video_episodes": 0, "output": str(out), "offline_eval": False, "progress": False},
                          policy_factory=None, log=lambda m: None,
                          env_factory="tests.tasks.test_robot_keypoint:faulty_env_factory")
    results = {r["seed"] - FAULT_SEED0: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert sorted(results) == [0, 1, 2, 3]
    assert not results[0]["success"] and results[0]["fault"] == "FatalError: mj_stackAlloc: insufficient memory (injected)"
    assert not results[1]["success"] and results[1]["fault"] == "worker process died: exit code 3"
    assert not results[2]["success"] and results[2]["reason"].startswith("fault: simulation unstable")
    assert results[3]["success"] and results[3]["fault"] is None, results[3]
    assert summary["tasks"]["Lift"]["episodes"] == 4 and summary["tasks"]["Lift"]["successes"] == 1
    assert summary["tasks"]["Lift"]["fault_reasons"] == {"FatalError": 1, "worker process died": 1,
                                                         "simulation unstable": 1}


@pytest.mark.slow
def test_eval_control_with_a_model_preset_goes_through_the_generator(tmp_path):
    _, out, results = _eval_control(tmp_path, "--policy", "tiny", "--tasks", "Lift", "--episodes", "2", "--workers", "2",
                                    "video_episodes=0", "max_keypoint_calls=2", "camera_size=32", "max_new_tokens=24")
    assert len(results) == 2 and all(r["calls"] == 2 and len(r["answers"]) == 2 for r in results)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generate_calls"] >= 2 and summary["tasks"]["Lift"]["episodes"] == 2
