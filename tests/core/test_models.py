import pytest
import torch

from embodied_r1.config import ModelConfig
from embodied_r1.errors import UserError
from embodied_r1.models.factory import count_parameters, make_model, make_peft_config
from embodied_r1.models.presets import PRESETS


def test_tiny_is_under_2m_and_deterministic():
    m1, proc = make_model(ModelConfig(name="tiny"), seed=7)
    m2, _ = make_model(ModelConfig(name="tiny"), seed=7)
    m3, _ = make_model(ModelConfig(name="tiny"), seed=8)
    assert count_parameters(m1) < 2_000_000
    sd1, sd2, sd3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert any(not torch.equal(sd1[k], sd3[k]) for k in sd1)


def test_small_preset_size_in_range():
    m, _ = make_model(ModelConfig(name="small"))
    assert 20e6 <= count_parameters(m) <= 100e6


def test_arch_presets_match_real_shapes():
    from transformers import Qwen2_5_VLConfig

    p7 = PRESETS["qwen2.5-vl-7b-arch"]
    assert p7.text["hidden_size"] == 3584 and p7.text["num_hidden_layers"] == 28 and p7.vocab_size == 152064
    cfg = Qwen2_5_VLConfig(text_config=dict(p7.text, vocab_size=p7.vocab_size), vision_config=p7.vision)
    assert cfg.text_config.num_key_value_heads == 4 and cfg.vision_config.out_hidden_size == 3584


def test_tokenizer_round_trips_any_text_and_has_vision_tokens():
    _, proc = make_model(ModelConfig(name="tiny"))
    tok = proc.tokenizer
    text = "<answer>[0.12, -0.5, 0.9, 1]</answer> 中文 ✓ émoji 🤖"
    assert tok.decode(tok(text)["input_ids"]) == text
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    rendered = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert "<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>" in rendered
    assert rendered.endswith("<|im_start|>assistant\n")
    assert tok.padding_side == "left"


def test_forward_pass_with_image():
    from PIL import Image

    model, proc = make_model(ModelConfig(name="tiny"))
    msgs = [[{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (64, 48), (9, 90, 200))},
                                          {"type": "text", "text": "how hard?"}]}]]
    batch = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    n_img = int((batch["input_ids"] == model.config.image_token_id).sum())
    assert n_img >= 1
    out = model(**batch)
    assert out.logits.shape[-1] == model.config.text_config.vocab_size and torch.isfinite(out.logits).all()


def test_missing_model_names_presets(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="tiny, small, qwen2.5-vl-3b-arch, qwen2.5-vl-7b-arch"):
        make_model(ModelConfig(name="no-such-model"))
    with pytest.raises(UserError, match="could not be loaded"):
        make_model(ModelConfig(name="someone/not-there"))


def test_saved_model_loads_back(tmp_path):
    model, proc = make_model(ModelConfig(name="tiny"), seed=1)
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    again, proc2 = make_model(ModelConfig(name=str(tmp_path), dtype="float32"))
    assert torch.equal(model.state_dict()["lm_head.weight"], again.state_dict()["lm_head.weight"])
    assert proc2.tokenizer.convert_tokens_to_ids("<|image_pad|>") == model.config.image_token_id


def test_lora_targets_language_model_only_and_freeze_vision():
    from peft import get_peft_model

    model, _ = make_model(ModelConfig(name="tiny", lora=True, freeze_vision=True))
    visual = model.model.visual
    assert not any(p.requires_grad for p in visual.parameters())
    peft_model = get_peft_model(model, make_peft_config(ModelConfig(name="tiny", lora=True, lora_r=4)))
    names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n and "language_model" in n for n in names)


def test_preset_descriptions_state_their_parameter_counts():
    import re

    for name in ("tiny", "small"):
        model, _ = make_model(ModelConfig(name=name))
        stated = float(re.search(r"([\d.]+)M parameters", PRESETS[name].description).group(1))
        assert abs(count_parameters(model) / 1e6 - stated) / stated < 0.01, name
