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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_fast_engine_with_cuda_graphs_equals_hf_greedy_and_reuses_graphs():
    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model
    from embodied_r1.rollout import RolloutConfig, SamplingParams
    from embodied_r1.rollout.fast import FastEngine
    from embodied_r1.rollout.hf import HFEngine
    from tests.core.test_rollout import _requests

    model, proc = make_model(ModelConfig(name="tiny", dtype="float32"), seed=3)  # fp32: token-exact comparison
    assert model.device.type == "cuda"
    reqs = _requests(6, sampling=SamplingParams(temperature=0.0, max_new_tokens=24))
    hf = HFEngine(model, proc).generate(reqs)
    engine = FastEngine(model, proc, RolloutConfig(max_batch=8, length_bucket=16))
    fast = engine.generate(reqs)
    for a, b in zip(hf, fast):
        assert a[0].completion_ids == b[0].completion_ids
        assert np.allclose(a[0].logprobs, b[0].logprobs, atol=1e-3)
    captured = engine.stats["graph_captures"]
    assert captured > 0 and engine.stats["graph_replays"] > 0 and engine.stats["eager_steps"] == 0
    again = engine.generate(reqs)
    assert engine.stats["graph_captures"] == captured, "steady state: no new capture"
    assert [s[0].completion_ids for s in again] == [s[0].completion_ids for s in fast]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_fast_engine_rows_intact_through_compaction_on_gpu():
    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model
    from embodied_r1.rollout import RolloutConfig, SamplingParams
    from embodied_r1.rollout.fast import FastEngine
    from tests.core.test_rollout import _forward_logprobs, _requests

    model, proc = make_model(ModelConfig(name="tiny", dtype="float32"), seed=3)
    stop = tuple(range(100, 140))
    reqs = _requests(4, seed=5, sampling=SamplingParams(temperature=1.0, max_new_tokens=60, stop_token_ids=stop), n=2)
    engine = FastEngine(model, proc, RolloutConfig(max_batch=8, length_bucket=16))
    torch.manual_seed(0)
    out = engine.generate(reqs)
    assert engine.stats["compactions"] >= 1 and engine.stats["graph_replays"] > 0, engine.stats
    for req, samples in zip(reqs, out):
        for s in samples:
            assert np.allclose(_forward_logprobs(model, proc, req, s, 1.0), s.logprobs, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_bf16_fast_engine_logprobs_close_to_a_training_forward():
    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model
    from embodied_r1.rollout import RolloutConfig, SamplingParams
    from embodied_r1.rollout.fast import FastEngine
    from tests.core.test_rollout import _forward_logprobs, _requests

    model, proc = make_model(ModelConfig(name="small"), seed=0)
    assert model.dtype == torch.bfloat16
    reqs = _requests(4, seed=6, sampling=SamplingParams(temperature=1.0, max_new_tokens=32), n=4)
    out = FastEngine(model, proc, RolloutConfig()).generate(reqs)
    diffs = np.concatenate([np.abs(_forward_logprobs(model, proc, r, s, 1.0) - np.array(s.logprobs))
                            for r, samples in zip(reqs, out) for s in samples])
    assert diffs.mean() < 0.05 and np.median(diffs) < 0.03, (diffs.mean(), np.median(diffs), diffs.max())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_fast_engine_recaptures_after_its_cache_grows():
    """A longer or wider call than before reallocates the cache and captures anew (as eval's counterfactual
    call after its answers does); the results still equal HF generate."""
    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model
    from embodied_r1.rollout import RolloutConfig, SamplingParams
    from embodied_r1.rollout.fast import FastEngine
    from embodied_r1.rollout.hf import HFEngine
    from tests.core.test_rollout import _requests

    model, proc = make_model(ModelConfig(name="tiny", dtype="float32"), seed=3)
    engine = FastEngine(model, proc, RolloutConfig(max_batch=16, length_bucket=16))
    engine.generate(_requests(2, sampling=SamplingParams(temperature=0.0, max_new_tokens=8)))
    bigger = _requests(9, seed=1, sampling=SamplingParams(temperature=0.0, max_new_tokens=40))
    got, ref = engine.generate(bigger), HFEngine(model, proc).generate(bigger)
    assert [s[0].completion_ids for s in got] == [s[0].completion_ids for s in ref]
    assert engine.stats["graph_captures"] >= 2
