"""The rollout engines: the fast engine against HF ``generate`` and a training forward, TRL's tokenisation, the
GRPO rollout with its counterfactual answers in one engine call."""

import numpy as np
import pytest
import torch
from PIL import Image

from embodied_r1.config import ModelConfig
from embodied_r1.errors import UserError
from embodied_r1.models.factory import make_model
from embodied_r1.rollout import RolloutConfig, RolloutRequest, SamplingParams, make_rollout
from embodied_r1.rollout.fast import FastEngine
from embodied_r1.rollout.hf import HFEngine


@pytest.fixture(scope="module")
def tiny():
    return make_model(ModelConfig(name="tiny"), seed=3)


def _requests(n_req=5, seed=0, sampling=None, n=1):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_req):
        k = i % 3  # 0, 1 or 2 images: text-only and mixed rows in one batch
        imgs = [Image.fromarray(rng.integers(0, 255, (32 + 16 * (i % 2), 32, 3), dtype=np.uint8)) for _ in range(k)]
        content = [{"type": "image"} for _ in range(k)] + [{"type": "text", "text": "touch " * (i + 1)}]
        out.append(RolloutRequest([{"role": "user", "content": content}], imgs, n,
                                  sampling or SamplingParams(temperature=0.0, max_new_tokens=12)))
    return out


def _stops_at(engine, reqs, positions):
    """Stop ids taken from each row's greedy answer at the given positions, so rows stop at different steps."""
    ids = [s[0].completion_ids for s in engine.generate(reqs)]
    return tuple(sorted({row[p] for row, p in zip(ids, positions)}))


def test_fast_greedy_equals_hf_generate(tiny):
    model, proc = tiny
    reqs = _requests()
    hf = HFEngine(model, proc).generate(reqs)
    fast_engine = FastEngine(model, proc, RolloutConfig(max_batch=8, length_bucket=16))
    fast = fast_engine.generate(reqs)
    for a, b in zip(hf, fast):
        assert a[0].prompt_ids == b[0].prompt_ids
        assert a[0].completion_ids == b[0].completion_ids
        assert a[0].text == b[0].text and a[0].stop_reason == b[0].stop_reason
        assert np.allclose(a[0].logprobs, b[0].logprobs, atol=1e-4)
    assert fast_engine.stats["eager_steps"] > 0 and fast_engine.stats["prefill_prompts"] == len(reqs)


def _forward_logprobs(model, proc, req, sample, temp):
    """Log-probabilities of ``sample``'s tokens under a plain teacher-forced forward of prompt + completion."""
    enc = FastEngine(model, proc).encode([req])
    ids = torch.tensor([sample.prompt_ids + sample.completion_ids])
    kwargs = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}
    if "mm_token_type_ids" in kwargs:  # per token: the completion's tokens are text
        kwargs["mm_token_type_ids"] = torch.nn.functional.pad(kwargs["mm_token_type_ids"],
                                                              (0, len(sample.completion_ids)))
    dev = model.device
    with torch.no_grad():
        logits = model(input_ids=ids.to(dev), attention_mask=torch.ones_like(ids).to(dev),
                       **{k: v.to(dev) for k, v in kwargs.items()}).logits[0]
    P = len(sample.prompt_ids)
    return torch.log_softmax(logits[P - 1:-1].float() / temp, -1).gather(
        1, torch.tensor(sample.completion_ids, device=dev).unsqueeze(1)).squeeze(1).cpu().numpy()


def test_fast_greedy_with_stops_equals_hf(tiny):
    model, proc = make_model(ModelConfig(name="tiny"), seed=3)
    with torch.no_grad():  # sharper logits: greedy answers that differ between rows and change along the way
        for name, p in model.named_parameters():
            if "language_model" in name and p.ndim == 2:
                p.mul_(4)
    reqs = _requests(6, seed=1, sampling=SamplingParams(temperature=0.0, max_new_tokens=40))
    stop = _stops_at(HFEngine(model, proc), reqs, [39, 39, 39, 1, 1, 6])
    reqs = _requests(6, seed=1, sampling=SamplingParams(temperature=0.0, max_new_tokens=40, stop_token_ids=stop))
    hf = HFEngine(model, proc).generate(reqs)
    fast = FastEngine(model, proc, RolloutConfig(max_batch=8, length_bucket=16)).generate(reqs)
    for a, b in zip(hf, fast):
        assert a[0].completion_ids == b[0].completion_ids and a[0].stop_reason == b[0].stop_reason
        assert np.allclose(a[0].logprobs, b[0].logprobs, atol=1e-4)
        if b[0].stop_reason == "stop":
            assert b[0].completion_ids[-1] in stop and not set(b[0].completion_ids[:-1]) & set(stop)
    lengths = [len(s[0].completion_ids) for s in fast]
    assert min(lengths) < max(lengths), lengths


def test_rows_stay_intact_through_stops_and_compaction(tiny):
    """Sampled rows stop at different steps; finished rows are compacted away mid-decode. Every row's logprobs
    still equal a teacher-forced forward of its own prompt and tokens (a mixed-up cache row would not)."""
    model, proc = tiny
    stop = tuple(range(100, 140))  # about 4% a step under the tiny model's flat distribution
    sampling = SamplingParams(temperature=1.0, max_new_tokens=60, stop_token_ids=stop)
    reqs = _requests(4, seed=5, sampling=sampling, n=2)
    engine = FastEngine(model, proc, RolloutConfig(max_batch=8, length_bucket=16))
    torch.manual_seed(0)
    out = engine.generate(reqs)
    lengths = [len(s.completion_ids) for samples in out for s in samples]
    assert min(lengths) < max(lengths) and engine.stats["compactions"] >= 1, (lengths, engine.stats)
    for req, samples in zip(reqs, out):
        for s in samples:
            if s.stop_reason == "stop":
                assert s.completion_ids[-1] in stop and not set(s.completion_ids[:-1]) & set(stop)
            else:
                assert len(s.completion_ids) == 60
            assert np.allclose(_forward_logprobs(model, proc, req, s, 1.0), s.logprobs, atol=1e-4)


def test_min_new_tokens_masks_stops_and_n_samples_split_across_chunks(tiny):
    model, proc = tiny
    reqs = _requests(2, seed=2, sampling=SamplingParams(temperature=0.0, max_new_tokens=10))
    stop = _stops_at(HFEngine(model, proc), reqs, [1, 2])
    sampling = SamplingParams(temperature=1.0, max_new_tokens=10, min_new_tokens=10, stop_token_ids=stop)
    reqs = _requests(2, seed=2, sampling=sampling, n=5)
    out = FastEngine(model, proc, RolloutConfig(max_batch=4)).generate(reqs)  # 10 rows through 4-row chunks
    assert [len(s) for s in out] == [5, 5]
    for samples in out:
        for s in samples:
            assert len(s.completion_ids) == 10 and not set(s.completion_ids) & set(stop) and s.stop_reason == "length"
            assert len(s.logprobs) == 10 and all(lp <= 0 for lp in s.logprobs)
    assert len({tuple(s.completion_ids) for s in out[0]}) > 1, "sampled rows of one prompt differ"


def test_top_k_one_is_greedy(tiny):
    model, proc = tiny
    greedy = FastEngine(model, proc).generate(_requests(3))
    top1 = FastEngine(model, proc).generate(_requests(3, sampling=SamplingParams(temperature=1.3, top_k=1,
                                                                                 max_new_tokens=12)))
    assert [s[0].completion_ids for s in greedy] == [s[0].completion_ids for s in top1]


def test_fast_logprobs_match_a_training_forward(tiny):
    model, proc = tiny
    reqs = _requests(3, seed=4, sampling=SamplingParams(temperature=0.7, max_new_tokens=8), n=2)
    for req, samples in zip(reqs, FastEngine(model, proc).generate(reqs)):
        for s in samples:
            assert np.allclose(_forward_logprobs(model, proc, req, s, 0.7), s.logprobs, atol=1e-4)


def test_prompt_ids_equal_trls_own_tokenisation(tiny, tmp_path):
    from tests.fixtures.toy_task import ToyConfig, ToyTask
    from trl.data_utils import prepare_multimodal_messages

    from embodied_r1.trainer import make_grpo_trainer

    model, proc = tiny
    task, cfg = ToyTask(), ToyConfig(rows=8)
    ds = task.build_dataset(cfg, 0)["train"]
    trainer = make_grpo_trainer(task, cfg, model, proc, ds, dict(max_steps=1, per_device_train_batch_size=4,
                                num_generations=2, report_to=[], save_strategy="no"), tmp_path, seed=0)
    rows = [ds[i] for i in range(4)]
    prompts = [prepare_multimodal_messages(r["prompt"], images=r["images"]) for r in rows]
    trl_ids, _, _ = trainer._tokenize_prompts(prompts)
    for engine in (HFEngine(model, proc), FastEngine(model, proc)):
        got = engine.generate([RolloutRequest(p, None, 1, SamplingParams(max_new_tokens=2)) for p in prompts])
        assert [s[0].prompt_ids for s in got] == [list(x) for x in trl_ids]


def test_registry_and_config_errors(tiny):
    model, proc = tiny
    assert make_rollout(RolloutConfig(), model, proc).name == "hf"  # auto on CPU
    assert make_rollout(RolloutConfig(engine="fast"), model, proc).name == "fast"
    with pytest.raises(UserError, match="rollout.engine 'vllm'"):
        RolloutConfig(engine="vllm")
    with pytest.raises(UserError, match="top_p"):
        SamplingParams(top_p=0.0)


def test_lora_adapters_are_merged_and_follow_in_place_updates():
    """With LoRA the fast engine decodes from merged copies; an in-place change of the adapters (what an
    optimizer step does) shows in the next call without rebuilding the engine."""
    from peft import get_peft_model

    from embodied_r1.models.factory import make_peft_config

    mcfg = ModelConfig(name="tiny", lora=True)
    base, proc = make_model(mcfg, seed=3)
    model = get_peft_model(base, make_peft_config(mcfg))
    reqs = _requests(3, sampling=SamplingParams(temperature=0.0, max_new_tokens=10))
    fast = FastEngine(model, proc)
    before = fast.generate(reqs)
    assert fast._merged, "LoRA layers decode from merged copies"
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.5)
    after, ref = fast.generate(reqs), HFEngine(model, proc).generate(reqs)
    assert [s[0].completion_ids for s in after] == [s[0].completion_ids for s in ref]
    assert any(np.abs(np.array(a[0].logprobs) - np.array(b[0].logprobs)).max() > 1e-3 for a, b in zip(before, after))
    for a, b in zip(after, ref):
        assert np.allclose(a[0].logprobs, b[0].logprobs, atol=1e-4)
