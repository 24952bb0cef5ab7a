"""The CLI end to end on the test-only toy task: train, resume, preemption, eval, errors."""

import json
import os
import signal

import pytest
from click.testing import CliRunner

from embodied_r1.cli import main

FAST = ["grpo.max_completion_length=6", "grpo.per_device_train_batch_size=8", "grpo.num_generations=4",
        "toy.rows=16", "grpo.num_completions_to_print=0"]


def run(args):
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    return res


def test_train_writes_run_directory_and_eval(tmp_path, toy_registered):
    out = tmp_path / "run"
    res = run(["train", "--task", "toy", "--output", str(out), "stages=[sft,grpo]", "sft.max_steps=2",
               "grpo.max_steps=3", *FAST])
    assert res.exit_code == 0, res.output
    for rel in ("config.yaml", "run.json", "metrics.jsonl", "final/config.json", "plots/rewards.png",
                "samples.jsonl", "sft/final/config.json"):
        assert (out / rel).exists(), rel
    assert list((out / "grpo" / "runs").glob("*/events.out.tfevents.*")), "TensorBoard logs"
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {"sft", "grpo"}
    assert "GRPO rewards" in res.output and "reward" in res.output
    res = run(["eval", "--model", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "eval" / "eval.json").read_text())
    assert result["task"] == "toy" and 0.0 <= result["metrics"]["digit_fraction"] <= 1.0


def test_resume_continues_from_last_checkpoint(tmp_path, toy_registered):
    out = tmp_path / "run"
    res = run(["train", "--task", "toy", "--output", str(out), "grpo.max_steps=2", "grpo.save_steps=2", *FAST])
    assert res.exit_code == 0, res.output
    # the same folder without --resume is refused, and nothing in it is touched
    before = (out / "metrics.jsonl").read_text()
    res = run(["train", "--task", "toy", "--output", str(out), *FAST])
    assert res.exit_code == 2 and "already holds a run" in res.output
    assert (out / "metrics.jsonl").read_text() == before
    # a longer run resumed: finished stages are reloaded; an unfinished one continues from its checkpoint
    info = json.loads((out / "run.json").read_text())
    info["done"] = []
    (out / "run.json").write_text(json.dumps(info))
    # a longer run is a change of settings: refused without --allow-config-change, nothing touched
    config_before = (out / "config.yaml").read_text()
    res = run(["train", "--task", "toy", "--output", str(out), "--resume", "grpo.max_steps=4", "grpo.save_steps=2", *FAST])
    assert res.exit_code == 2 and "grpo.max_steps: 2 -> 4" in res.output, res.output
    assert (out / "config.yaml").read_text() == config_before
    res = run(["train", "--output", str(out), "--resume", "--allow-config-change", "grpo.max_steps=4",
               "grpo.save_steps=2", *FAST])
    assert res.exit_code == 0, res.output
    assert "resuming from" in res.output and "checkpoint-2" in res.output
    change = json.loads((out / "config_changes.jsonl").read_text().splitlines()[-1])
    assert change["changes"] == ["grpo.max_steps: 2 -> 4"]
    assert "max_steps: 4" in (out / "config.yaml").read_text()
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines() if '"reward"' in x]
    assert steps == [1, 2, 3, 4], steps


def test_preemption_saves_and_resume_is_the_same_grpo_run(tmp_path, toy_registered, monkeypatch):
    """GRPO (full fine-tuning) preempted at step 2 and resumed samples and scores exactly what an uninterrupted
    run does at every step: weights, optimizer, RNG states and data order are all restored."""
    from transformers import TrainerCallback

    from embodied_r1 import run as run_mod

    ref = tmp_path / "ref"
    res = run(["train", "--task", "toy", "--output", str(ref), "grpo.max_steps=5", "grpo.save_steps=100", *FAST])
    assert res.exit_code == 0, res.output

    class SignalAtStep2(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    orig = run_mod.MetricsCallback
    monkeypatch.setattr(run_mod, "MetricsCallback", lambda *a: _Multi(orig(*a), SignalAtStep2()))
    out = tmp_path / "run"
    res = run(["train", "--task", "toy", "--output", str(out), "grpo.max_steps=5", "grpo.save_steps=100", *FAST])
    assert res.exit_code == 3 and "preempted at step" in res.output
    assert (out / "grpo" / "checkpoint-2").exists() or (out / "grpo" / "checkpoint-3").exists()
    assert not (out / "final").exists()
    monkeypatch.setattr(run_mod, "MetricsCallback", orig)
    res = run(["train", "--task", "toy", "--output", str(out), "--resume"])  # the run's own config
    assert res.exit_code == 0, res.output
    assert (out / "final" / "config.json").exists()
    got = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if '"reward"' in x]
    want = [json.loads(x) for x in (ref / "metrics.jsonl").read_text().splitlines() if '"reward"' in x]
    assert [r["step"] for r in got] == [1, 2, 3, 4, 5]
    assert [r["reward"] for r in got] == pytest.approx([r["reward"] for r in want], abs=1e-6)


class _Multi(__import__("transformers").TrainerCallback):
    def __init__(self, *cbs):
        self.cbs = cbs

    def __getattribute__(self, name):
        if name.startswith("on_"):
            cbs = object.__getattribute__(self, "cbs")

            def call(*a, **k):
                for cb in cbs:
                    getattr(cb, name)(*a, **k)
            return call
        return object.__getattribute__(self, name)


@pytest.mark.parametrize("args,message", [
    (["train", "--task", "nope"], "unknown task 'nope'"),
    (["train", "--task", "toy", "grpo.learning_rat=1"], "unknown config key 'grpo.learning_rat'"),
    (["train", "--task", "toy", "oops"], "bad override 'oops'"),
    (["train", "--task", "toy", "--model", "no-such-model", "grpo.max_steps=1"], "offline preset: tiny"),
    (["train", "--task", "toy", "--resume"], "--resume needs --output"),
    (["eval-control", "--task", "toy"], "has no closed-loop control"),
    (["data", "toy", "--episodes", "3"], "--episodes is not a setting of task 'toy'"),
    (["data", "toy", "--row", "3"], "--row is not a setting of task 'toy' (did you mean --rows?); its settings: --rows"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, toy_registered, args, message):
    if args[0] == "train":
        args = args + ["--output", str(tmp_path / "r")] if "--resume" not in args else args
    res = run(args)
    assert res.exit_code == 2, res.output
    lines = [x for x in res.output.strip().splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], res.output
    assert "Traceback" not in res.output


def test_tasks_and_help(toy_registered):
    res = run(["tasks"])
    assert res.exit_code == 0 and "toy" in res.output and "answer with digits" in res.output
    for cmd in ("train", "eval", "eval-control", "data", "plot"):
        res = run([cmd, "--help"])
        assert res.exit_code == 0 and "Example" in res.output, cmd


@pytest.mark.parametrize("args", [["toy.rows=12"], ["--rows", "12"], ["--rows=12"]])
def test_data_command_caches(toy_registered, args):
    res = run(["data", "toy", *args])  # a task's setting as an override or as a --name flag it declares
    assert res.exit_code == 0 and "train: 12 rows" in res.output.replace("  ", " ").replace("  ", " ")
    path = res.output.strip().splitlines()[-1].split("saved: ")[1].split(" (card")[0]
    card = json.loads(open(os.path.join(path, "card.json")).read())
    assert card["rows"]["train"] == 12 and card["settings"]["rows"] == 12


def test_eval_rows_keep_groups_whole():
    from datasets import Dataset

    from embodied_r1.evaluate import _rows

    ds = Dataset.from_dict({"g": [i // 3 for i in range(30)], "x": list(range(30))})
    rows = _rows(ds, 10, seed=0, group_column="g")
    groups = [r["g"] for r in rows]
    assert 0 < len(rows) <= 10 and all(groups.count(g) == 3 for g in set(groups))


def test_resume_refuses_a_run_whose_data_would_now_differ(tmp_path, toy_registered, monkeypatch):
    """The same config, but the task's data code changed since the run started (its data_version here, as
    when a new release changes a default): the resumed run would train on other rows, so it is refused."""
    from tests.fixtures.toy_task import ToyTask

    out = tmp_path / "run"
    res = run(["train", "--task", "toy", "--output", str(out), "grpo.max_steps=2", "grpo.save_steps=1", *FAST])
    assert res.exit_code == 0, res.output
    key = json.loads((out / "run.json").read_text())["dataset_key"]
    assert key
    info = json.loads((out / "run.json").read_text())
    info["done"] = []
    (out / "run.json").write_text(json.dumps(info))
    monkeypatch.setattr(ToyTask, "data_version", "toy-v2", raising=False)
    before = (out / "metrics.jsonl").read_text()
    res = run(["train", "--output", str(out), "--resume"])
    assert res.exit_code == 2 and f"trained on dataset {key}" in res.output, res.output
    assert (out / "metrics.jsonl").read_text() == before
