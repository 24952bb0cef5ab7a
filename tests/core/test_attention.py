"""The grouped vision attention computes what transformers' per-window SDPA loop computes, in fewer calls."""

import dataclasses

import pytest
import torch

from embodied_r1.config import ModelConfig
from embodied_r1.errors import UserError
from embodied_r1.models import attention
from embodied_r1.models.factory import make_model, vision_tower


def _images(processor, sizes):
    from PIL import Image

    rng = torch.Generator().manual_seed(0)
    imgs = [Image.fromarray(torch.randint(0, 255, (h, w, 3), generator=rng, dtype=torch.uint8).numpy())
            for h, w in sizes]
    return processor.image_processor(images=imgs, return_tensors="pt")


def _vision_pass(model, inputs):
    tower = vision_tower(model)
    tower.zero_grad()
    out = tower(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"])
    feats = out.pooler_output if hasattr(out, "pooler_output") else out
    feats = torch.cat(feats) if isinstance(feats, (list, tuple)) else feats
    feats.square().sum().backward()
    return feats.detach(), [p.grad.clone() for p in tower.parameters() if p.grad is not None]


@pytest.mark.parametrize("group_tokens,calls_per_block", [(1024, 1), (20, 5)])  # all windows in one call; one each
def test_grouped_vision_attention_equals_the_per_window_loop(monkeypatch, group_tokens, calls_per_block):
    monkeypatch.setattr(attention, "GROUP_TOKENS", group_tokens)
    cfg = ModelConfig(name="small", dtype="float32", vision_attention="per_window")
    ref_model, processor = make_model(cfg, seed=0)
    inputs = _images(processor, [(88, 77), (112, 112), (60, 90), (30, 30), (112, 56)])
    want, want_grads = _vision_pass(ref_model, inputs)
    model, _ = make_model(dataclasses.replace(cfg, vision_attention="grouped"), seed=0)
    assert model.config.vision_config._attn_implementation == attention.VISION_ATTENTION
    assert model.config.text_config._attn_implementation == "sdpa"  # the language model keeps its attention
    calls = []
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, _f=torch.nn.functional.scaled_dot_product_attention, **k: calls.append(1) or _f(*a, **k))
    got, got_grads = _vision_pass(model, inputs)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
    depth = len(vision_tower(model).blocks)
    assert len(calls) == depth * calls_per_block  # 5 images of one window each (small's windows are 112 px)


def test_plan_groups_whole_windows_up_to_the_budget(monkeypatch):
    monkeypatch.setattr(attention, "GROUP_TOKENS", 10)
    cu = torch.tensor([0, 4, 8, 20, 23, 26, 29])  # one window (12) longer than the budget
    plan = attention._plan(cu, torch.device("cpu"))
    assert [(a, b) for a, b, _ in plan] == [(0, 8), (8, 20), (20, 29)]
    a, b, mask = plan[2]
    assert mask.shape == (1, 1, 9, 9) and mask[0, 0].sum() == 27 and not mask[0, 0, 0, 3]  # 3 blocks of 3
    assert attention._plan(cu, torch.device("cpu")) is plan  # one plan per offsets tensor


def test_saved_model_loads_without_the_registered_name(tmp_path):
    model, processor = make_model(ModelConfig(name="tiny"), seed=0)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert attention.VISION_ATTENTION not in (tmp_path / "config.json").read_text()
    again, _ = make_model(ModelConfig(name=str(tmp_path), vision_attention="per_window"), seed=0)
    assert again.config.vision_config._attn_implementation == "sdpa"


def test_unknown_vision_attention_is_one_clear_error():
    with pytest.raises(UserError, match="vision_attention 'fast' is not one of grouped, per_window"):
        ModelConfig(vision_attention="fast")
