"""GRPO on the tiny preset really learns, and the core's additions work inside a real TRL run."""

from pathlib import Path

import numpy as np

from embodied_r1.config import ModelConfig
from embodied_r1.models.factory import make_model
from embodied_r1.task import RewardSpec
from embodied_r1.trainer import make_grpo_trainer
from tests.fixtures.toy_task import SWATCH_REMOVED, ToyConfig, ToyTask, make_seen_counterfactual_reward


def _trainer(tmp_path: Path, task, steps: int, lr: float = 1e-2, **grpo):
    cfg = ToyConfig(rows=64)
    ds = task.build_dataset(cfg, 0)["train"]
    model, proc = make_model(ModelConfig(name="tiny"), seed=0)
    section = dict(learning_rate=lr, max_steps=steps, per_device_train_batch_size=16, num_generations=8,
                   max_completion_length=8, log_completions=False, report_to=[], save_strategy="no", **grpo)
    return make_grpo_trainer(task, cfg, model, proc, ds, section, tmp_path, seed=0)


def test_grpo_raises_mean_reward_on_tiny(tmp_path):
    trainer = _trainer(tmp_path, ToyTask(), steps=30)
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
