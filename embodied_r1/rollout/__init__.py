"""The rollout boundary: one token-level engine contract, engines by name, one door (:func:`make_rollout`).

Every answer the project generates goes through a :class:`RolloutEngine`: GRPO's rollouts (through TRL's
``rollout_func``, :mod:`embodied_r1.rollout.grpo`), the counterfactual answers of the same step (requests in the
same call), ``embodied-r1 eval``, closed-loop policies and the benchmarks. The shape follows verl's
``BaseRollout``: requests of conversational prompts with images, ``n`` samples each, sampling parameters →
per sample prompt ids, completion ids, per-token logprobs, text and stop reason; plus ``sync_weights()`` and
``release()``.

Engines:

- ``hf``: ``model.generate`` (dynamic KV cache). Works everywhere; the reference for correctness.
- ``fast``: :class:`embodied_r1.rollout.fast.FastEngine`, a static-KV decode loop for Qwen2.5-VL captured in CUDA
  graphs (eager on CPU), the vision tower run once per distinct image and each prompt prefilled once for its
  ``n`` samples.

``rollout.engine: auto`` (the default) picks ``fast`` on a GPU and ``hf`` elsewhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Sequence

from embodied_r1.errors import UserError


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one request's completions.

    Args:
        temperature: Softmax temperature; 0 means greedy.
        top_p: Nucleus mass kept (1.0: all).
        top_k: Most likely tokens kept (0: all).
        max_new_tokens: Completion budget.
        min_new_tokens: Stop tokens are masked before this many tokens (fixed-length throughput runs set it to
            ``max_new_tokens``).
        stop_token_ids: Tokens that end a completion (None: the tokenizer's eos and pad).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 128
    min_new_tokens: int = 0
    stop_token_ids: tuple | None = None

    def __post_init__(self):
        if self.temperature < 0:
            raise UserError(f"sampling temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"sampling top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or self.max_new_tokens < 1 or not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise UserError(f"sampling top_k={self.top_k}, max_new_tokens={self.max_new_tokens}, "
                            f"min_new_tokens={self.min_new_tokens} must satisfy top_k >= 0 and "
                            f"0 <= min_new_tokens <= max_new_tokens >= 1")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


GREEDY = SamplingParams(temperature=0.0)


@dataclass
class RolloutRequest:
    """One prompt to answer ``n`` times.

    Args:
        prompt: Conversational messages; image parts may carry their PIL image under ``"image"``.
        images: Images for the ``{"type": "image"}`` placeholders without one, in order (None: none).
        n: Samples to draw.
        sampling: How to draw them.
    """

    prompt: list
    images: list | None = None
    n: int = 1
    sampling: SamplingParams = field(default_factory=SamplingParams)


@dataclass
class RolloutSample:
    """One completion, token level.

    ``completion_ids`` include the stop token when the sample stopped on one (as TRL expects); ``logprobs`` has
    one entry per completion token: log-softmax of the logits divided by the temperature (raw logits when
    greedy), before top-k/top-p filtering, at the chosen token.
    """

    prompt_ids: list
    completion_ids: list
    logprobs: list
    text: str
    stop_reason: str  # "stop" or "length"


class RolloutEngine:
    """Base class of the engines. Subclasses implement :meth:`generate`; the rest has defaults.

    Args:
        model: A Qwen2.5-VL causal VLM (possibly a peft model); its current weights are used.
        processor: Its processor (tokenizer padding side left).
        cfg: The run's :class:`RolloutConfig`.
        dtype: For an FSDP2-sharded ``model``: the dtype of the per-rank full copy the engine decodes on (None:
            the shards' own).

    Under FSDP2 (``model``'s parameters are ``DTensor`` shards) the engine decodes on a per-rank
    :class:`embodied_r1.sharding.FullCopy`, refreshed at the start of every :meth:`generate` (every parameter
    gathered once, on every rank, before any decoding): so callers must call :meth:`generate` the same number of
    times on every rank (GRPO does: one rollout call per generation batch), and generation itself runs no
    collective, however many steps each rank decodes. An unsharded model is read in place, no copy.
    """

    name: ClassVar[str] = ""

    def __init__(self, model, processor, cfg: "RolloutConfig | None" = None, dtype=None):
        from embodied_r1.sharding import FullCopy, is_sharded

        self.full_copy = FullCopy(model, dtype) if is_sharded(model) else None
        self.model = self.full_copy.module if self.full_copy is not None else model
        model = self.model
        self.processor = processor
        self.cfg = cfg or RolloutConfig()
        tok = processor.tokenizer
        self.default_stop_ids = tuple(sorted({i for i in (tok.eos_token_id, tok.pad_token_id) if i is not None}))
        conf = getattr(model, "config", None)
        # never sampled: a completion holding an image/video placeholder would not match the training forward's
        # image features (TRL's own generation suppresses the image token likewise)
        self.suppress_ids = tuple(sorted({i for i in (getattr(conf, "image_token_id", None),
                                                      getattr(conf, "video_token_id", None)) if i is not None}))

    def generate(self, requests: Sequence[RolloutRequest]) -> list[list[RolloutSample]]:
        """``n`` samples per request, in request order."""
        raise NotImplementedError

    def sync_weights(self) -> None:
        """Make the next :meth:`generate` use the model's current weights (engines that read the live model
        in place need nothing; a sharded model's full copy is gathered again: a collective on every rank)."""
        if self.full_copy is not None:
            self.full_copy.refresh()

    def release(self) -> None:
        """Free what the engine holds on the accelerator (caches, graphs); the next call rebuilds it."""

    def answer(self, prompts: Sequence[list], images: Sequence[list | None], *, max_new_tokens: int,
               temperature: float = 0.0) -> list[str]:
        """One answer text per prompt (greedy when ``temperature == 0``): the text-level convenience used by
        eval and closed-loop policies."""
        sampling = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens)
        out = self.generate([RolloutRequest(p, im, 1, sampling) for p, im in zip(prompts, images)])
        return [samples[0].text for samples in out]

    # shared helpers
    def stop_ids(self, sampling: SamplingParams) -> tuple:
        return tuple(sampling.stop_token_ids) if sampling.stop_token_ids is not None else self.default_stop_ids

    def encode(self, requests: Sequence[RolloutRequest]) -> dict:
        """Tokenise requests as TRL does (``apply_chat_template`` with the images; image tokens expanded under
        the processor's min/max pixels), left-padded, on CPU."""
        msgs = [fill_images(r.prompt, r.images) for r in requests]
        return self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                  return_tensors="pt", processor_kwargs={"padding": True})

    def decode(self, ids: list) -> str:
        return self.processor.tokenizer.decode(ids, skip_special_tokens=True)


def fill_images(prompt: list, images: list | None) -> list:
    """Put the row's PIL images into the ``{"type": "image"}`` placeholders of a conversational prompt.

    Args:
        prompt: Messages; user content is a list of ``{"type": ...}`` parts (plain string content is wrapped).
        images: Images in placeholder order for placeholders without an ``"image"`` (None: no images).

    Returns:
        A new message list whose image parts carry ``"image"``; placeholders left without an image are dropped.
    """
    images = list(images or [])
    out = []
    for msg in prompt:
        content = msg.get("content")
        if isinstance(content, str):
            out.append({"role": msg["role"], "content": [{"type": "text", "text": content}]})
            continue
        parts = []
        for part in content or []:
            if part.get("type") == "image":
                if part.get("image") is not None:
                    parts.append({"type": "image", "image": part["image"]})
                elif images:
                    parts.append({"type": "image", "image": images.pop(0)})
            elif part.get("text") is not None:
                parts.append({"type": "text", "text": part["text"]})
        out.append({"role": msg["role"], "content": parts})
    return out


@dataclass
class RolloutConfig:
    """The ``rollout:`` config section: which engine generates, and how much memory it may hold.

    Args:
        engine: ``auto`` (``fast`` on a GPU, ``hf`` elsewhere), ``fast`` or ``hf``.
        max_batch: Most sequences decoded together; larger requests run in chunks. Sets the KV cache size.
        cuda_graphs: Capture the fast engine's decode step in CUDA graphs (GPU only).
        length_bucket: The fast engine attends over the cache in slices of this many positions (the valid
            length rounded up), one graph per slice length.
        release_after_generate: Free the fast engine's cache and graphs after each call (for memory-tight
            runs; the next call rebuilds them).
        batch_size: Prompts per ``model.generate`` call of the ``hf`` engine.
        compile: Fuse the fast engine's elementwise work (norms, rotary, attention softmax, SiLU) with
            ``torch.compile`` (CUDA only; the first call compiles, later calls reuse).
    """

    engine: str = "auto"
    max_batch: int = 256
    cuda_graphs: bool = True
    length_bucket: int = 128
    release_after_generate: bool = False
    batch_size: int = 64
    compile: bool = True

    def __post_init__(self):
        if self.engine not in ("auto", *ENGINES):
            raise UserError(f"rollout.engine '{self.engine}' is not one of auto, {', '.join(ENGINES)}")
        if self.max_batch < 1 or self.length_bucket < 1 or self.batch_size < 1:
            raise UserError(f"rollout.max_batch, length_bucket and batch_size must be >= 1, got "
                            f"{self.max_batch}, {self.length_bucket}, {self.batch_size}")


ENGINES: dict[str, Callable[[], type]] = {}


def register_engine(name: str, loader: Callable[[], type]) -> None:
    """Register an engine class under ``name`` (``loader`` imports it lazily).

    Raises:
        ValueError: ``name`` is taken.
    """
    if name in ENGINES or name == "auto":
        raise ValueError(f"rollout engine '{name}' is already registered")
    ENGINES[name] = loader


def _hf():
    from embodied_r1.rollout.hf import HFEngine
    return HFEngine


def _fast():
    from embodied_r1.rollout.fast import FastEngine
    return FastEngine


register_engine("hf", _hf)
register_engine("fast", _fast)


def engine_name(cfg: RolloutConfig, device=None) -> str:
    """The engine ``cfg`` selects on ``device`` (``auto``: ``fast`` on CUDA, ``hf`` elsewhere)."""
    if cfg.engine != "auto":
        return cfg.engine
    return "fast" if getattr(device, "type", str(device)) == "cuda" else "hf"


def make_rollout(cfg: RolloutConfig | None, model, processor, dtype=None) -> RolloutEngine:
    """The only way the core gets an engine.

    Args:
        cfg: The ``rollout:`` section (None: defaults).
        model: The policy (its device decides ``auto``); FSDP2 shards are decoded on a full per-rank copy.
        processor: Its processor.
        dtype: The copy's dtype for a sharded policy (see :class:`RolloutEngine`).
    """
    cfg = cfg or RolloutConfig()
    device = next(model.parameters()).device
    name = engine_name(cfg, device)
    if name not in ENGINES:
        raise UserError(f"rollout.engine '{name}' is not registered (known: {', '.join(ENGINES)})")
    return ENGINES[name]()(model, processor, dataclasses.replace(cfg, engine=name), dtype=dtype)


__all__ = ["GREEDY", "ENGINES", "RolloutConfig", "RolloutEngine", "RolloutRequest", "RolloutSample",
           "SamplingParams", "engine_name", "fill_images", "make_rollout", "register_engine"]

