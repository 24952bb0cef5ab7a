"""GPU-only checks, run on the device machine (`pytest -m gpu`); CI skips them."""

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_bf16_grpo_on_gpu_learns(tmp_path):
    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model
    from embodied_r1.trainer import make_grpo_trainer
    from tests.fixtures.toy_task import ToyConfig, ToyTask

    task, cfg = ToyTask(), ToyConfig(rows=128)
    model, proc = make_model(ModelConfig(name="small"), seed=0)
    assert model.dtype == torch.bfloat16 and model.device.type == "cuda"
    trainer = make_grpo_trainer(task, cfg, model, proc, task.build_dataset(cfg, 0)["train"],
                                dict(learning_rate=3e-4, max_steps=40, per_device_train_batch_size=32, num_generations=8,
                                     max_completion_length=16, log_completions=False, report_to=[], save_strategy="no"),
                                tmp_path, seed=0)
    trainer.train()
    r = np.array([h["reward"] for h in trainer.state.log_history if "reward" in h])
    assert r[-5:].mean() > r[:3].mean() + 0.2, r
