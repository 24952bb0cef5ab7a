"""A resumed run is the run that was started: weights, data order, metrics log, checkpoints, config.

The kill -9 test drives the real CLI in a subprocess on the tiny preset (full fine-tuning, where transformers'
own resume used to load no weight at all) and compares the resumed run's losses with an uninterrupted run's.
"""

import json
import shutil

import pytest
import torch

from embodied_r1.checkpoints import (MARKER, CheckpointMismatch, checkpoint_problem, find_checkpoints,
                                     load_full_weights, write_marker)
from embodied_r1.config import ModelConfig
from embodied_r1.models.factory import make_model
from embodied_r1.rundir import RunDir
from tests.fixtures.train_process import kill9_train_when, run_train, train_env

SFT_RUN = ["--task", "touch", "stages=[sft]", "model.name=tiny", "sft.max_steps=24", "sft.save_steps=4",
           "sft.logging_steps=1", "sft.save_total_limit=3", "touch.train_contacts=16", "touch.test_contacts=4"]


def _metrics(path):
    return [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines() if x.strip()]


@pytest.mark.slow
def test_kill9_full_finetune_resume_is_the_same_run(tmp_path):
    env = train_env(tmp_path)
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert run_train([*SFT_RUN, "--output", str(ref)], env).returncode == 0
    # the same run, killed with SIGKILL once a checkpoint is complete and more steps were logged after it
    kill9_train_when([*SFT_RUN, "--output", str(run)], env,
                     lambda: (run / "sft" / "checkpoint-8" / MARKER).exists() and len(RunDir(run).read_metrics()) >= 10)
    newest, _ = find_checkpoints(run / "sft")
    step = int(newest.rsplit("-", 1)[1])
    # a kill during the next checkpoint's write: weights written, optimizer torn, no trainer_state.json
    torn = run / "sft" / f"checkpoint-{step + 4}"
    shutil.copytree(newest, torn)
    (torn / "optimizer.pt").write_bytes(b"")
    (torn / "trainer_state.json").unlink()
    (torn / MARKER).unlink()
    (run / "sft" / f"checkpoint-{step + 8}").mkdir()  # killed right after mkdir
    res = run_train(["--output", str(run), "--resume"], env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming from {newest}" in res.stdout
    assert f"skipping incomplete checkpoint-{step + 4} (no trainer_state.json" in res.stdout
    assert f"skipping incomplete checkpoint-{step + 8}" in res.stdout
    got = [r for r in _metrics(run) if r["kind"] == "train"]
    want = [r for r in _metrics(ref) if r["kind"] == "train"]
    assert [r["step"] for r in got] == list(range(1, 25)), "every step exactly once"
    # the resumed steps continue the loss where it stopped: same weights, optimizer, schedule and data order
    for a, b in zip(got, want):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5), (a["step"], a["loss"], b["loss"])
        assert a["learning_rate"] == pytest.approx(b["learning_rate"])
    assert [r["kind"] for r in _metrics(run)].count("summary") == 1


def _trainer(tmp_path, model, processor):
    from datasets import Dataset

    from embodied_r1.trainer import make_sft_trainer
    from tests.fixtures.toy_task import ToyTask

    ds = Dataset.from_dict({"prompt": [[{"role": "user", "content": [{"type": "text", "text": "say 1"}]}]] * 4,
                            "target": ["1"] * 4})

    class Task(ToyTask):
        def sft_target(self, row):
            return row["target"]

    return make_sft_trainer(Task(), model, processor, ds, {"max_steps": 1}, tmp_path / "sft", seed=0)


def test_resumed_weights_equal_the_checkpoint(tmp_path):
    saved, processor = make_model(ModelConfig(name="tiny"), seed=0)
    saved.save_pretrained(tmp_path / "ckpt")  # the layout Trainer.save_model writes (hub key names)
    fresh, _ = make_model(ModelConfig(name="tiny"), seed=1)
    assert not torch.equal(fresh.lm_head.weight, saved.lm_head.weight)
    trainer = _trainer(tmp_path, fresh, processor)
    trainer._load_from_checkpoint(str(tmp_path / "ckpt"))
    want, got = saved.state_dict(), trainer.model.state_dict()
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k


def test_mismatched_checkpoint_is_an_error_not_a_warning(tmp_path):
    small, _ = make_model(ModelConfig(name="tiny"), seed=0)
    small.save_pretrained(tmp_path / "ckpt")
    from safetensors.torch import load_file, save_file

    sd = load_file(tmp_path / "ckpt" / "model.safetensors")
    sd["model.extra.weight"] = torch.zeros(2)
    del sd[next(k for k in sd if "layers.0.mlp" in k)]
    save_file(sd, tmp_path / "ckpt" / "model.safetensors")
    model, _ = make_model(ModelConfig(name="tiny"), seed=1)
    with pytest.raises(CheckpointMismatch, match=r"1 checkpoint tensors have no place.*1 model weights are absent"):
        load_full_weights(model, tmp_path / "ckpt")


def test_checkpoint_completeness(tmp_path):
    ck = tmp_path / "checkpoint-4"
    ck.mkdir()
    assert "trainer_state.json" in checkpoint_problem(ck)
    (ck / "model.safetensors").write_bytes(b"x" * 10)
    (ck / "optimizer.pt").write_bytes(b"")
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    assert checkpoint_problem(ck) == "optimizer.pt is empty"
    (ck / "optimizer.pt").write_bytes(b"y" * 5)
    assert checkpoint_problem(ck) is None  # a folder from before the marker, whole
    write_marker(ck, 4)
    (ck / "model.safetensors").write_bytes(b"x" * 3)  # truncated after it was marked
    assert checkpoint_problem(ck) == "model.safetensors has 3 bytes, 10 were written"
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    (tmp_path / "checkpoint-2").mkdir()
    best, skipped = find_checkpoints(tmp_path)
    assert best is None and [s[0].rsplit("-", 1)[1] for s in skipped] == ["4", "2"]


def test_metrics_truncated_to_the_resume_point(tmp_path):
    run = RunDir(tmp_path)
    run.write_info(task="t", stages=["sft", "grpo"], done=[])
    rows = [{"stage": "sft", "kind": "train", "step": s} for s in range(1, 7)]
    rows += [{"stage": "sft", "step": 6, "train_runtime": 1.0}, {"stage": "grpo", "kind": "train", "step": 1}]
    run.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"stage": "sf')
    assert run.truncate_metrics("sft", 4) == 5
    assert [r["step"] for r in run.read_metrics(kind=None)] == [1, 2, 3, 4]
