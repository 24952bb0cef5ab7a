"""The project's own byte-level BPE tokenizer, shipped with the package for the offline presets.

No model hub is reachable from the machines this project is developed on, so the random-init presets need a
tokenizer that does not come from a download. This module trains one with `tokenizers` on a small built-in
corpus of the tasks' vocabulary, adds Qwen2.5-VL's chat and vision special tokens, and saves it under
``embodied_r1/assets/tokenizer``. It is byte-level, so every string round-trips even if its words were never
seen in the corpus.

Rebuild (deterministic) with::

    python -m embodied_r1.models.tokenizer
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "tokenizer"

# Qwen2.5-VL's special tokens, in Qwen's order, so processor code that looks them up by string works unchanged.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2.5-VL's chat template (system default, vision placeholders, generation prompt).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['text'] is not none %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS = """
the a an is are of to in on with and or not than more less most least which what how this that these those
tactile image images sensor sensors gel contact press pressed pressing force imprint deformation shading light
hardness roughness bumpiness hard harder hardest soft softer softest rough rougher roughest smooth smoother
bumpy bumpier bumpiest bumps bump flat level levels scale from to object objects material materials surface
texture visual looks appears touch felt feel same different compare comparison conclude conclusion perceive
answer think reasoning because therefore so shows show seen seems deep deeper shallow shallower wide narrow
edge edges sharp fine coarse high low medium moderately slightly very strong weak spread area markers marker
robot arm gripper open closed close opens closes end effector eef position state current next keypoint keyframe
move up down left right forward backward slightly x y z axis axes reference point table centre center metres
metre cm size task lift cube stack block red green place can bin door handle pick nut peg square round option
options choose choice A B C D yes no first second third one two three four five image_1 image_2 image_3
GelSight Mini DIGIT R1.5 marker gel Octopi Touch Robot
"""

_TEMPLATES = [
    "<perceive>{w}</perceive><compare>{w}</compare><conclude>{w}</conclude><answer>{n}</answer>",
    "<think>{w}</think><answer>[{f}, {f}, {f}, {g}]</answer>",
    "<answer>{c}</answer>",
    "Answer with <answer>{c}</answer>.",
]


def _corpus() -> list[str]:
    words = _WORDS.split()
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 3)]
    nums = [f"{x:.3f}" for x in (i / 97.0 - 1.0 for i in range(0, 200, 7))]
    for t, (w, n, f, g, c) in zip(
        itertools.cycle(_TEMPLATES),
        zip(itertools.cycle(lines), itertools.cycle("01234"), itertools.cycle(nums), itertools.cycle("01"), itertools.cycle("ABCD")),
    ):
        lines.append(t.format(w=w, n=n, f=f, g=g, c=c))
        if len(lines) > 800:
            break
    lines += [" ".join(str(i) for i in range(k, k + 20)) for k in range(0, 100, 20)]
    return lines


def build_tokenizer(vocab_size: int = 2048):
    """Train the byte-level BPE and wrap it as a transformers fast tokenizer.

    Args:
        vocab_size: Target vocabulary size including the byte alphabet and special tokens.

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` with Qwen's special tokens and chat template.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        padding_side="left",
        model_max_length=32768,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                              "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"},
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tokenizer(path: Path = ASSET_DIR) -> Path:
    """Build and save the shipped tokenizer to ``path``; returns the path."""
    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer().save_pretrained(path)
    # Keep the shipped files deterministic and small: drop fields that carry the build machine's details.
    cfg = path / "tokenizer_config.json"
    data = json.loads(cfg.read_text())
    cfg.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":
    print(f"tokenizer written to {save_tokenizer()}")
