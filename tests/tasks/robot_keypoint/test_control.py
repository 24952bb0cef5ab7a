"""robot-keypoint closed loop: what the core hands the task (a run directory's own settings and eval data), the
model policy's prompts and batching, envs made by gymnasium, and (slow) real robosuite sweeps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from embodied_r1.errors import UserError
from tasks.robot_keypoint import build_prompt
from tasks.robot_keypoint.prompts import fmt_vec
from tests.fixtures.robot_keypoint import control_ctx, row

FAKE_ENV = "tests.fixtures.robot_keypoint:FakeKeypointEnv"
PACKAGE = Path(__file__).parents[3] / "tasks" / "robot_keypoint"


def _answers(prompts) -> list[str]:
    """Gripper open: close it in place (no success yet); closed: lift above the fake env's success height."""
    texts = [p[0]["content"][1]["text"] if isinstance(p, list) else p for p in prompts]
    return [f"<think>up</think><answer>[0.0, 0.0, {1.0 if '(gripper open)' in t else 1.1}, 1]</answer>" for t in texts]


class FakeGenerator:
    def __init__(self):
        self.calls, self.image_sizes = [], set()

    def answer(self, prompts, images, max_new_tokens, temperature=0.0):
        self.calls.append(len(prompts))
        self.image_sizes |= {im.size for ims in images for im in ims if hasattr(im, "size")}
        return _answers(prompts)


# ------------------------------------------------------------------------------------------ core -> task
def test_the_task_reads_no_config_file_and_scans_no_cache():
    """The core resolves the run's settings and the eval data; the task never reads them itself: no module of
    tasks/ globs the cache folder, and the control modules name no cache card, run config or core data/eval
    module."""
    for path in PACKAGE.parent.rglob("*.py"):
        text = path.read_text()
        assert not (".glob(" in text and ("cache_root" in text or "EMBODIED_R1_DATA" in text)), path
    assert not any(".glob(" in p.read_text() for p in PACKAGE.glob("*.py"))
    for path in [*PACKAGE.glob("control*.py"), PACKAGE / "task.py"]:
        text = path.read_text()
        for needle in ("card.json", "config.yaml", "EMBODIED_R1_DATA", "cache_root", "embodied_r1.data",
                       "embodied_r1.evaluate", "embodied_r1.config"):
            assert needle not in text, f"{path.name} mentions {needle}"


def test_a_run_directory_brings_its_own_settings_and_eval_split(tmp_path, monkeypatch):
    """A fake run whose config differs from the defaults (camera 48, seed 7, tasks Lift only): the sweep's images,
    options.json and offline score follow it, and the eval rows come from the core's load_or_build of that config
    (a card.json in the cache that would match another config is never read)."""
    from datasets import Dataset, DatasetDict

    import embodied_r1.data
    import embodied_r1.evaluate
    import tasks.robot_keypoint.control_worker as worker
    from embodied_r1.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({
        "task": "robot-keypoint", "seed": 7, "stages": ["sft"], "model": {"name": "tiny", "max_pixels": 4096},
        "robot-keypoint": {"tasks": "Lift", "episodes": 2, "heldout_task": None, "camera_size": 48},
    }))
    decoy = tmp_path / "cache" / "robot-keypoint" / "decoy"
    decoy.mkdir(parents=True)
    (decoy / "card.json").write_text(json.dumps({"seed": 7, "settings": {}}))  # what the old scan would have taken
    monkeypatch.setenv("EMBODIED_R1_DATA", str(tmp_path / "cache"))
    built, loaded, gen = [], [], FakeGenerator()
    test_rows = [{**row("keypoint", "", target=(0.0, 0.0, 0.9, 1.0), task="Lift"), "prompt": "kp"},
                 {**row("mcq", "A", task="Lift"), "prompt": "mcq"},
                 {**row("keypoint", "", target=(0.0, 0.0, 1.0, 1.0), task="Stack"), "prompt": "kp"}]

    def fake_load_or_build(task, task_cfg, seed, **kw):
        built.append((task.name, task_cfg, seed))
        return DatasetDict(test=Dataset.from_list(test_rows)), tmp_path / "cache" / "robot-keypoint" / "key"

    def fake_load_generator(spec, model_cfg=None, seed=0, batch_size=16, rollout=None):
        loaded.append((spec, model_cfg, seed, batch_size))
        return gen

    monkeypatch.setattr(embodied_r1.data, "load_or_build", fake_load_or_build)
    monkeypatch.setattr(embodied_r1.evaluate, "load_generator", fake_load_generator)
    monkeypatch.setattr(worker, "DEFAULT_ENV_FACTORY", FAKE_ENV)
    from click.testing import CliRunner

    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["eval-control", "--policy", str(run), "--tasks", "Lift", "--episodes", "2",
                                    "--workers", "0", "--output", str(out), "--seed", "300", "--batch-size", "4",
                                    "progress=false", "video_episodes=0"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    (name, cfg, seed), = built
    assert name == "robot-keypoint" and seed == 7 and cfg.camera_size == 48 and cfg.tasks == ["Lift"]
    (spec, model_cfg, seed, batch), = loaded
    assert spec == str(run) and model_cfg.max_pixels == 4096 and seed == 7 and batch == 4
    assert gen.image_sizes == {(48, 48)}  # the closed loop showed the model its training image size
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in results) == [300, 301] and all(r["success"] for r in results)
    options = json.loads((out / "options.json").read_text())
    assert options["camera_size"] == 48 and options["seed0"] == 300 and options["policy"] == str(run)
    offline = json.loads((out / "summary.json").read_text())["offline"]
    # the task's own metrics on the Lift keypoint row: the answer [0, 0, 1.1] against the target [0, 0, 0.9]
    assert offline["n"] == 1 and offline["parsed"] == 1 and offline["l2_mean"] == pytest.approx(0.2)
    assert offline["per_task"] == {"Lift": pytest.approx(0.2)} and "decoy" not in json.dumps(offline)


def test_a_run_of_another_task_is_refused(tmp_path):
    from embodied_r1.control import control_context
    from tasks.robot_keypoint import RobotKeypointTask

    (tmp_path / "config.yaml").write_text("task: touch\nseed: 0\n")
    with pytest.raises(UserError, match="is a run of task 'touch', not 'robot-keypoint'"):
        control_context(RobotKeypointTask(), {}, policy=str(tmp_path), output=str(tmp_path / "o"))


def test_built_in_policies_get_the_task_defaults_and_no_model(tmp_path):
    ctx = control_ctx(tmp_path, {"tasks": "Stack"}, policy="zero")
    assert ctx.is_builtin and ctx.task_config.camera_size == 224 and ctx.data_seed == 0 and ctx.seed == 100_000
    from tasks.robot_keypoint.control_report import offline_keypoint_error

    assert offline_keypoint_error(ctx, None)["l2_mean"] is None  # no model answers: nothing is loaded or built


# ------------------------------------------------------------------------------------------ model policy
def test_model_policy_uses_the_training_prompt_and_parser():
    from envs.robosuite import PANDA_EEF_SIZE, reference_point, task_instruction
    from tasks.robot_keypoint.control import ModelPolicy

    seen = {}

    class Generator:
        def answer(self, prompts, images, max_new_tokens, temperature=0.0):
            seen["prompts"], seen["images"] = prompts, images
            return ["<think>x</think><answer>[0.1, 0.0, 0.9, 1]</answer>", "garbage"]

    policy = ModelPolicy(Generator())
    img = np.zeros((32, 32, 3), np.uint8)
    out = policy.answer([("Lift", img, [0.0, 0.0, 1.0, 0.0]), ("Stack", img, [0.1, 0.0, 1.0, 1.0])])
    assert out[0][0] == [0.1, 0.0, 0.9, 1.0] and out[1][0] is None
    assert seen["prompts"][1] == build_prompt("keypoint", task_instruction("Stack"), [0.1, 0.0, 1.0, 1.0],
                                              reference_point("Stack"), PANDA_EEF_SIZE)
    assert len(seen["images"][0]) == 1 and policy.batch_sizes == [2]
    assert fmt_vec([0.1, 0, 0.9, 1]) in "[0.100, 0.000, 0.900, 1]"


def test_model_queries_of_live_episodes_are_batched_across_workers(tmp_path, monkeypatch):
    from tasks.robot_keypoint.control import run_control

    (tmp_path / "barrier").mkdir()
    monkeypatch.setenv("FAKE_ENV_BARRIER", str(tmp_path / "barrier"))
    gen = FakeGenerator()
    ctx = control_ctx(tmp_path, {"tasks": "Lift,Stack", "episodes": 2, "workers": 2, "video_episodes": 0,
                                 "camera_size": 32}, policy="fake-model-folder", generator=gen)
    summary = run_control(ctx, env_factory=FAKE_ENV)
    results = [json.loads(x) for x in (ctx.output / "results.jsonl").read_text().splitlines()]
    assert len(results) == 4 and all(r["success"] and r["calls"] == 2 for r in results), results
    assert sum(gen.calls) == 8 and gen.calls[:2] == [2, 2]  # the 2 live episodes are answered in one generate call
    assert summary["generate_calls"] == len(gen.calls) and summary["mean_batch"] > 1.0
    assert summary["tasks"]["Stack"]["successes"] == 2 and summary["overall"]["mean_calls"] == 2.0
    with pytest.raises(UserError, match="already holds results.jsonl"):  # a finished sweep is never overwritten
        run_control(control_ctx(tmp_path, {}, policy="zero"))


def test_a_resume_with_nothing_left_loads_no_model_and_keeps_the_offline_score(tmp_path):
    import dataclasses

    from datasets import Dataset, DatasetDict

    from tasks.robot_keypoint.control import run_control

    rows = [{**row("keypoint", "", target=(0.0, 0.0, 0.9, 1.0)), "prompt": "kp"}]
    loads = []

    def load_eval_data():
        loads.append(1)
        return DatasetDict(test=Dataset.from_list(rows)), tmp_path / "data"

    options = {"tasks": "Lift", "episodes": 1, "workers": 0, "video_episodes": 0, "camera_size": 32,
               "offline_eval": True}
    ctx = dataclasses.replace(control_ctx(tmp_path, options, policy="model", generator=FakeGenerator()),
                              load_eval_data=load_eval_data)
    first = run_control(ctx, env_factory=FAKE_ENV)["offline"]
    assert first["l2_mean"] == pytest.approx(0.2) and loads == [1]

    def no_model(batch_size=16):
        raise AssertionError("the model was loaded although every episode was done")

    again = run_control(dataclasses.replace(ctx, resume=True, make_generator=no_model), env_factory=FAKE_ENV)
    assert again["offline"] == first and again["resumed_episodes"] == 1 and loads == [1]
    assert json.loads((ctx.output / "summary.json").read_text())["offline"] == first


# ------------------------------------------------------------------------------------------ gymnasium
def test_control_envs_are_made_by_gymnasium_from_the_registered_ids():
    pytest.importorskip("gymnasium")
    from envs.robosuite.control_env import KeypointControlEnv
    from tasks.robot_keypoint.control_worker import make_control_env

    for task in ("Lift", "Door"):
        env = make_control_env(task, 32, 3, 100)  # no reset: no simulator is built
        assert env.spec.id == f"embodied_r1/KeypointControl{task}-v0"
        assert isinstance(env.unwrapped, KeypointControlEnv) and env.unwrapped.task_name == task
        assert env.unwrapped.camera_size == 32 and env.unwrapped.max_keypoints == 3
        env.close()
    assert re.search(r"gymnasium\.make\(control_env_id", (PACKAGE / "control_worker.py").read_text())


# ------------------------------------------------------------------------------------------ slow: real robosuite
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
                                  "video_episodes=0", "max_keypoint_calls=3", "--seed", "100")
    assert len(results) == 2 and not any(r["success"] for r in results)
    assert all(r["reason"] == "keypoint budget exhausted" for r in results), results
    assert sorted(r["seed"] for r in results) == [100, 101]


@pytest.mark.slow
def test_eval_control_with_a_model_preset_goes_through_the_generator(tmp_path):
    _, out, results = _eval_control(tmp_path, "--policy", "tiny", "--tasks", "Lift", "--episodes", "2", "--workers", "2",
                                    "video_episodes=0", "max_keypoint_calls=2", "camera_size=32", "max_new_tokens=24")
    assert len(results) == 2 and all(r["calls"] == 2 and len(r["answers"]) == 2 for r in results)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generate_calls"] >= 2 and summary["tasks"]["Lift"]["episodes"] == 2
