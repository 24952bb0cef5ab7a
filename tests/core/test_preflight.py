"""Bad settings fail in one line before any work; failed starts leave nothing; silent no-ops are reported."""

import json
import socket

import pytest
import torch.multiprocessing as mp
from click.testing import CliRunner

from embodied_r1.cli import main

TOUCH_FAST = ["touch.train_contacts=8", "touch.test_contacts=2"]


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize("args,message", [
    (["stages=[sft,grpo]", "grpo.num_generations=1"], "at least 2 generations per prompt"),
    (["stages=[sft,grpo]", "grpo.per_device_train_batch_size=6"], "divisible by num_generations"),
    (["stages=[sft,grpo]", "touch.sensors_per_contact=3", "grpo.per_device_train_batch_size=16"],
     "never fill; use a multiple of 3 prompts, e.g. grpo.per_device_train_batch_size=12"),
    (["grpo.reward_weights=[1.0]"], "grpo.reward_weights has 1 entries for 4 rewards"),
    (["--model", "nonexistent"], "could not be loaded"),
    (["--model", "./no/such/folder"], "could not be loaded"),
    (["sft.learning_rate=fast", "stages=[sft]"], "sft"),
])
def test_bad_settings_fail_before_any_work_and_leave_nothing(tmp_path, monkeypatch, args, message):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMBODIED_R1_DATA", str(cache))
    out = tmp_path / "run"
    res = run(["train", "--task", "touch", "--output", str(out), *args, *TOUCH_FAST])
    assert res.exit_code == 2, res.output
    errors = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], res.output
    assert not out.exists(), "a failed start must leave no run folder"
    assert not cache.exists(), "nothing may be built before the settings are checked"


def test_failed_start_does_not_block_the_retry(tmp_path, toy_registered, monkeypatch):
    from embodied_r1 import run as run_mod

    out = tmp_path / "run"

    def broken(*a, **k):  # a model that passes the name check but fails to load (e.g. a hub download)
        from embodied_r1.errors import UserError
        raise UserError("model 'org/model' could not be loaded (offline)")

    original = run_mod.make_model
    monkeypatch.setattr(run_mod, "make_model", broken)
    res = run(["train", "--task", "toy", "--output", str(out), "grpo.max_steps=1", "toy.rows=8"])
    assert res.exit_code == 2 and not out.exists()
    monkeypatch.setattr(run_mod, "make_model", original)
    res = run(["train", "--task", "toy", "--output", str(out), "grpo.max_steps=1", "toy.rows=8",
               "grpo.max_completion_length=4", "grpo.num_completions_to_print=0"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "run.json").read_text())["done"] == ["grpo"]


def test_an_empty_folder_given_as_output_is_left_empty_after_a_failed_start(tmp_path, toy_registered, monkeypatch):
    from embodied_r1 import run as run_mod

    out = tmp_path / "given"
    out.mkdir()
    monkeypatch.setattr(run_mod, "make_model", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        run(["train", "--task", "toy", "--output", str(out), "grpo.max_steps=1", "toy.rows=8"])
    assert out.is_dir() and list(out.iterdir()) == []


def test_zero_signal_grpo_is_reported(tmp_path):
    """GRPO on a random-init model scored only on the answer format: every completion fails the format, so
    every group's rewards are equal and the stage learns nothing; the run says so while it runs and at the end."""
    out = tmp_path / "run"
    res = run(["train", "--task", "touch", "--output", str(out), "stages=[grpo]", "grpo.max_steps=3",
               "grpo.max_completion_length=8", "grpo.num_completions_to_print=0", "grpo.save_steps=100",
               "touch.rewards={ordinal_accuracy_reward: 0, cross_sensor_consistency_reward: 0, "
               "tactile_grounded_reward: 0, touch_format_reward: 1}", *TOUCH_FAST])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.output.splitlines() if "no learning signal" in x]
    assert len(lines) == 2, res.output  # once while training, once in the summary
    assert "warm it up with an SFT stage" in lines[0]
    assert any("no learning signal" in w for w in json.loads((out / "run.json").read_text())["warnings"])


def test_learning_run_is_not_flagged(tmp_path, toy_registered):
    out = tmp_path / "run"
    res = run(["train", "--task", "toy", "--output", str(out), "grpo.max_steps=4", "toy.rows=16",
               "grpo.max_completion_length=6", "grpo.num_completions_to_print=0", "grpo.temperature=1.0"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    zero = [r["frac_reward_zero_std"] for r in rows if "frac_reward_zero_std" in r]
    assert ("no learning signal" in res.output) == (sum(zero) / len(zero) >= 0.9)


def test_bare_train_uses_the_task_recipe_on_presets_only():
    import yaml

    from embodied_r1.cli import _train_config
    from tasks.robot_keypoint.config import RECIPE as ROBOT
    from tasks.touch.config import RECIPE as TOUCH

    for task, recipe, path in (("touch", TOUCH, "configs/touch_quickstart.yaml"),
                               ("robot-keypoint", ROBOT, "configs/robot_keypoint_quickstart.yaml")):
        cfg = _train_config(task, None, (), [])
        assert cfg.stages == ["sft", "grpo"] and cfg.model.name == "tiny"
        assert cfg.sft == recipe["sft"] and cfg.grpo == recipe["grpo"]
        quick = yaml.safe_load(open(path))
        assert {k: v for k, v in quick.items() if k not in ("task", "model", "seed")} == recipe, path
    assert _train_config("touch", None, ("sft.max_steps=5",), []).sft["max_steps"] == 5
    hub = _train_config("touch", None, (), ["model.name=Qwen/Qwen2.5-VL-7B-Instruct"])
    assert hub.stages == ["grpo"] and hub.sft == {}, "no tiny-model recipe for a pretrained model"


def _rank(rank, port, results):
    import torch.distributed as dist

    from embodied_r1.run import PreemptionCallback

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    cb = PreemptionCallback()
    cb.requested = rank == 1  # the signal reached one rank only
    results[rank] = cb._any_rank_requested("cpu")
    dist.destroy_process_group()


def test_preemption_request_reaches_every_rank():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = mp.Manager().dict()
    mp.spawn(_rank, args=(port, results), nprocs=2, join=True)
    assert dict(results) == {0: True, 1: True}


def test_one_process_seeing_several_gpus_is_refused_before_any_work():
    from embodied_r1.errors import UserError
    from embodied_r1.preflight import check_visible_gpus

    with pytest.raises(UserError, match="sees 2 GPUs; .*--num_processes 2 .*CUDA_VISIBLE_DEVICES=0"):
        check_visible_gpus(1, visible=2)
    check_visible_gpus(2, visible=2)  # accelerate launch: each rank takes its own GPU
    check_visible_gpus(1, visible=1)
    check_visible_gpus(1)  # this machine: no GPU or one


@pytest.mark.parametrize("module", ["embodied_r1.run", "embodied_r1.stages.probe", "embodied_r1.evaluate",
                                    "embodied_r1.stats", "embodied_r1.inputs"])
def test_core_docstring_examples(module):
    """The examples in these docstrings (the launcher thread hint, the eval row shards, the probe, the Wilson
    interval, the number of processes that prepare SFT inputs) run as written."""
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module))
    assert res.failed == 0 and res.attempted > 0
