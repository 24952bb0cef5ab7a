"""GRPO on the tiny preset really learns, and the core's additions work inside a real TRL run."""

from pathlib import Path

import numpy as np
import pytest

from embodied_r1.config import ModelConfig
from embodied_r1.models.factory import make_model
from embodied_r1.rollout import RolloutConfig
from embodied_r1.task import RewardSpec
from embodied_r1.trainer import make_grpo_trainer
from tests.fixtures.toy_task import SWATCH_REMOVED, ToyConfig, ToyTask, make_seen_counterfactual_reward


def _trainer(tmp_path: Path, task, steps: int, lr: float = 1e-2, rollout=None, **grpo):
    cfg = ToyConfig(rows=64)
    ds = task.build_dataset(cfg, 0)["train"]
    model, proc = make_model(ModelConfig(name="tiny"), seed=0)
    section = dict(learning_rate=lr, max_steps=steps, per_device_train_batch_size=16, num_generations=8,
                   max_completion_length=8, log_completions=False, report_to=[], save_strategy="no", **grpo)
    return make_grpo_trainer(task, cfg, model, proc, ds, section, tmp_path, seed=0, rollout=rollout)


@pytest.mark.parametrize("engine", ["hf", "fast"])
def test_grpo_raises_mean_reward_on_tiny(tmp_path, engine):
    trainer = _trainer(tmp_path, ToyTask(), steps=30, rollout=RolloutConfig(engine=engine))
    trainer.train()
    rewards = np.array([h["reward"] for h in trainer.state.log_history if "reward" in h])
    assert len(rewards) == 30
    start, end = rewards[:3].mean(), rewards[-5:].mean()
    assert end > start + 0.25, f"mean reward did not rise clearly: {start:.3f} -> {end:.3f}"


def test_weights_and_per_reward_logging(tmp_path):
    task = ToyTask()
    log = []
    task.extra_rewards = [RewardSpec(make_seen_counterfactual_reward(log), 0.0, [SWATCH_REMOVED])]
    trainer = _trainer(tmp_path, task, steps=2, lr=1e-3)
    assert list(trainer.args.reward_weights) == [1.0, 0.0]
    trainer.train()
    h = [x for x in trainer.state.log_history if "reward" in x]
    assert "rewards/digit_fraction_reward/mean" in h[0] and "rewards/seen_counterfactual_reward/mean" in h[0]
    # weighted sum: the 0-weighted reward contributes nothing
    assert abs(h[0]["reward"] - h[0]["rewards/digit_fraction_reward/mean"]) < 1e-6
    # the counterfactual hook ran inside TRL's reward call with one answer per completion
    assert log and all(len(entry["counterfactual_completions"]["removed"]) == entry["n"] for entry in log)


def test_group_sampler_inside_trl(tmp_path):
    task = ToyTask()
    log = []
    task.extra_rewards = [RewardSpec(make_seen_counterfactual_reward(log), 0.0, [SWATCH_REMOVED])]
    trainer = _trainer(tmp_path, task, steps=3, lr=1e-3)
    trainer.train()
    for entry in log:  # each reward call (one generation batch) holds whole groups of the dataset (size 2)
        counts = {g: entry["group"].count(g) for g in entry["group"]}
        assert all(c == 2 * 8 for c in counts.values()), counts


def test_counterfactual_answers_come_from_the_rollout_engine_call(tmp_path):
    """One engine call per step holds the samples and the counterfactual requests; the answers the reward gets
    equal a separate greedy run of the same variants (seed = the global step) on the same weights."""
    from embodied_r1.counterfactual import counterfactual_answers
    from embodied_r1.rollout.hf import HFEngine

    task = ToyTask()
    seen = []

    def recording_reward(prompts, completions, counterfactual_completions=None, **kw):
        seen.append(dict(prompts=prompts, cf=counterfactual_completions, images=kw["images"],
                         mods=kw["image_modalities"], group=kw["group"], step=kw["trainer_state"].global_step))
        return [0.0] * len(completions)

    recording_reward.__name__ = "recording_reward"
    task.extra_rewards = [RewardSpec(recording_reward, 0.0, [SWATCH_REMOVED])]
    trainer = _trainer(tmp_path, task, steps=2, lr=0.0, rollout=RolloutConfig(engine="fast"))
    engine = trainer.rollout_engine(trainer)
    calls = []
    real = engine.generate
    engine.generate = lambda reqs: calls.append(len(reqs)) or real(reqs)
    trainer.train()
    assert len(calls) == 2, "one engine call per generation batch"
    rows_per_step = 16 // 8  # distinct prompts per batch: batch 16, num_generations 8
    assert all(c == rows_per_step + rows_per_step for c in calls), calls  # samples + one variant per prompt
    model = trainer.accelerator.unwrap_model(trainer.model)
    for entry in seen:
        cf = [row["removed"] for row in entry["cf"]]
        ref = counterfactual_answers(HFEngine(model, trainer.processing_class), entry["prompts"], entry["images"],
                                     entry["mods"], entry["group"], [SWATCH_REMOVED], 8, seed=entry["step"])
        assert cf == ref["removed"]
