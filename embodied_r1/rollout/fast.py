"""The ``fast`` engine: Qwen2.5-VL rollouts with a static KV cache and a decode step captured in CUDA graphs.

How one :meth:`FastEngine.generate` call runs (``rollout.max_batch`` sequences at a time):

1. **Encode** each distinct prompt once, as TRL does (the processor's chat template, image tokens expanded).
2. **Vision once per distinct image:** the images' pixel patches are hashed; the vision tower runs on the
   distinct ones and their features are scattered into every prompt that shows them.
3. **Prefill once per distinct prompt** with the model's own forward (its M-RoPE positions, sdpa attention); the
   prompt's keys and values are copied into the static cache for each of its ``n`` samples (left-padded, so every
   row writes the same cache slot at each step).
4. **Decode** one token per step for all rows: a hand-written step over the model's own modules (so LoRA
   adapters stay live and in-place optimizer updates keep captured graphs valid). Text positions continue from
   the prompt's rope delta (for text tokens the three M-RoPE components are equal). Attention reads the cache
   only up to the valid length rounded up to ``rollout.length_bucket``; sampling (temperature, top-k, top-p,
   greedy rows, stop tokens masked before ``min_new_tokens``) runs on the device.
5. **Graphs:** on CUDA the step is captured once per (batch bucket, length bucket, sampling mode) and replayed;
   every 16 steps finished rows are compacted into the next smaller power-of-two batch bucket, and the loop
   ends when all rows are done.

On CPU the same step runs eagerly (the correctness tests compare it with ``model.generate``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from embodied_r1.errors import UserError
from embodied_r1.rollout import RolloutEngine, RolloutRequest, RolloutSample

CHECK_EVERY = 16  # decode steps between host checks for finished rows


def _base(model):
    """The ``Qwen2_5_VLForConditionalGeneration`` under a peft wrapper (adapters stay injected and live)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _bucket(n: int, cap: int) -> int:
    """The smallest power of two >= n, at most ``cap``."""
    return min(cap, 1 << max(0, math.ceil(math.log2(max(1, n)))))


@dataclass
class _Chunk:
    """Requests decoded together: per distinct prompt its sample count and per-row sampling values."""

    requests: list
    counts: list


class FastEngine(RolloutEngine):
    """Static-KV, CUDA-graph decoding for Qwen2.5-VL (see the module docstring)."""

    name = "fast"

    def __init__(self, model, processor, cfg=None):
        super().__init__(model, processor, cfg)
        base = _base(model)
        if not hasattr(base, "model") or not hasattr(base.model, "language_model"):
            raise UserError(f"rollout.engine 'fast' supports Qwen2.5-VL models; {type(base).__name__} is not one "
                            f"(use rollout.engine: hf)")
        text_cfg = base.model.language_model.config
        if getattr(text_cfg, "use_sliding_window", False):
            raise UserError("rollout.engine 'fast' has no sliding-window attention; use rollout.engine: hf")
        self.base = base
        self.vlm = base.model
        self.lm = base.model.language_model
        self.n_heads = text_cfg.num_attention_heads
        self.n_kv = text_cfg.num_key_value_heads
        self.head_dim = getattr(text_cfg, "head_dim", None) or text_cfg.hidden_size // self.n_heads
        self.scale = self.head_dim ** -0.5
        self.pad_id = processor.tokenizer.pad_token_id
        self._state = None  # buffers, allocated on first use
        self._graphs: dict = {}
        self._pool = None
        self._weights_key = None
        self._stops: dict = {}
        self.stats = {"graph_captures": 0, "graph_replays": 0, "eager_steps": 0, "vision_images": 0,
                      "vision_distinct": 0, "prefill_prompts": 0, "compactions": 0}

    # ------------------------------------------------------------------ public
    def generate(self, requests: Sequence[RolloutRequest]) -> list[list[RolloutSample]]:
        out: list = [[] for _ in requests]
        for key, idx in self._compatible(requests).items():
            for chunk_idx, counts in self._chunks(idx, requests):
                chunk = _Chunk([requests[i] for i in chunk_idx], counts)
                for i, samples in zip(chunk_idx, self._run(chunk, key)):
                    out[i].extend(samples)
        if self.cfg.release_after_generate:
            self.release()
        return out

    def sync_weights(self) -> None:
        """Nothing to copy: the step reads the live modules. Graphs are dropped only if a parameter's storage
        moved (checked on every call anyway)."""
        self._check_weights()

    def release(self) -> None:
        self._graphs.clear()
        self._state = None
        self._pool = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ planning
    def _compatible(self, requests) -> dict:
        """Requests that can share decode steps: equal top-k, top-p and stop tokens (temperature, budgets and
        min lengths are per row)."""
        groups: dict = {}
        for i, r in enumerate(requests):
            s = r.sampling
            groups.setdefault((s.top_k, s.top_p, self.stop_ids(s)), []).append(i)
        return groups

    def _chunks(self, idx, requests):
        """Split requests into chunks of at most ``max_batch`` rows (a request with more samples is split)."""
        cap = self.cfg.max_batch
        chunk, counts, rows = [], [], 0
        for i in idx:
            left = requests[i].n
            while left > 0:
                take = min(left, cap - rows)
                chunk.append(i)
                counts.append(take)
                rows += take
                left -= take
                if rows == cap:
                    yield chunk, counts
                    chunk, counts, rows = [], [], 0
        if chunk:
            yield chunk, counts

    # ------------------------------------------------------------------ one chunk
    @torch.no_grad()
    def _run(self, chunk: _Chunk, key) -> list[list[RolloutSample]]:
        top_k, top_p, stop = key
        was_training = self.model.training
        self.model.eval()
        try:
            enc = self.encode(chunk.requests)
            prompt_ids = [ids[m.bool()].tolist() for ids, m in zip(enc["input_ids"], enc["attention_mask"])]
            logits0, kv, next_pos, mask = self._prefill(enc)
            rows = torch.repeat_interleave(torch.arange(len(chunk.requests)), torch.tensor(chunk.counts))
            toks, lps, lengths, reasons = self._decode(chunk, rows, logits0, kv, next_pos, mask, top_k, top_p, stop)
        finally:
            self.model.train(was_training)
        out, r = [], 0
        for i, req in enumerate(chunk.requests):
            samples = []
            for _ in range(chunk.counts[i]):
                ids = toks[r][:lengths[r]]
                samples.append(RolloutSample(prompt_ids[i], ids, lps[r][:lengths[r]], self.decode(ids), reasons[r]))
                r += 1
            out.append(samples)
        return out

    def _device(self):
        return next(self.model.parameters()).device

    def _image_embeds(self, enc, device):
        """Vision features for the chunk's images, computing each distinct image once."""
        pixels, grid = enc["pixel_values"], enc["image_grid_thw"]
        sizes = grid.prod(-1).tolist()
        parts = torch.split(pixels, sizes)
        keys = [hashlib.blake2b(p.contiguous().numpy().tobytes() + bytes(str(g.tolist()), "ascii"),
                                digest_size=16).digest() for p, g in zip(parts, grid)]
        first: dict = {}
        for j, k in enumerate(keys):
            first.setdefault(k, j)
        uniq = list(first.values())
        self.stats["vision_images"] += len(keys)
        self.stats["vision_distinct"] += len(uniq)
        feats = self.vlm.get_image_features(torch.cat([parts[j] for j in uniq]).to(device),
                                            grid[uniq].to(device))
        feats = getattr(feats, "pooler_output", feats)
        by_key = {keys[j]: f for j, f in zip(uniq, feats)}
        return torch.cat([by_key[k] for k in keys])

    def _prefill(self, enc):
        """The distinct prompts' KV (per layer), last-position logits, next text position and padding mask."""
        from transformers import DynamicCache

        device = self._device()
        ids = enc["input_ids"].to(device)
        mask = enc["attention_mask"].to(device)
        embeds = self.lm.embed_tokens(ids)
        kwargs = {}
        if "pixel_values" in enc:
            img = self._image_embeds(enc, device).to(embeds.dtype)
            slots = (ids == self.vlm.config.image_token_id).unsqueeze(-1).expand_as(embeds)
            embeds = embeds.masked_scatter(slots, img)
            kwargs["image_grid_thw"] = enc["image_grid_thw"].to(device)
            if "mm_token_type_ids" in enc:
                kwargs["mm_token_type_ids"] = enc["mm_token_type_ids"].to(device)
        else:  # text only: positions count valid tokens (left padding)
            pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
            kwargs["position_ids"] = pos.unsqueeze(0).expand(3, -1, -1)
        self.stats["prefill_prompts"] += ids.shape[0]
        self.vlm.rope_deltas = None
        cache = DynamicCache(config=self.base.config)
        out = self.vlm(input_ids=ids, inputs_embeds=embeds, attention_mask=mask, past_key_values=cache,
                       use_cache=True, **kwargs)
        deltas = self.vlm.rope_deltas if "pixel_values" in enc else None
        self.vlm.rope_deltas = None  # the training forward recomputes its own
        valid = mask.long().sum(-1)
        next_pos = valid + (deltas.view(-1).to(device) if deltas is not None else 0)
        logits = self.base.lm_head(out.last_hidden_state[:, -1]).float()
        kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        return logits, kv, next_pos, mask.bool()

    # ------------------------------------------------------------------ buffers
    def _alloc(self, rows_cap: int, length: int, dtype, device):
        """(Re)allocate the static cache and row buffers when a call needs more than they hold."""
        st = self._state
        if st is not None and st["length"] >= length and st["dtype"] == dtype and st["device"] == device:
            return st
        self._graphs.clear()
        length = self.cfg.length_bucket * max(1, 2 ** math.ceil(math.log2(math.ceil(length / self.cfg.length_bucket))))
        B = rows_cap
        kv_shape = (B, self.n_kv, length, self.head_dim)
        st = dict(
            length=length, dtype=dtype, device=device, rows=B,
            k=[torch.zeros(kv_shape, dtype=dtype, device=device) for _ in self.lm.layers],
            v=[torch.zeros(kv_shape, dtype=dtype, device=device) for _ in self.lm.layers],
            mask=torch.zeros(B, length, dtype=torch.bool, device=device),
            tokens=torch.zeros(B, dtype=torch.long, device=device),
            pos=torch.zeros(B, dtype=torch.long, device=device),
            slot=torch.zeros((), dtype=torch.long, device=device),
            temp=torch.ones(B, dtype=torch.float32, device=device),
            greedy=torch.zeros(B, dtype=torch.bool, device=device),
            allow_stop=torch.ones(B, dtype=torch.bool, device=device),
        )
        self._state = st
        return st

    def _stop_tensor(self, stop: tuple, device):
        """Stop ids as a tensor that lives as long as the engine (captured graphs read it by address)."""
        key = (stop, str(device))
        if key not in self._stops:
            self._stops[key] = torch.tensor(stop, dtype=torch.long, device=device)
        return self._stops[key]

    def _check_weights(self):
        key = tuple(p.data_ptr() for p in self.model.parameters())
        if key != self._weights_key:
            self._graphs.clear()
            self._weights_key = key

    # ------------------------------------------------------------------ decode
    def _decode(self, chunk, rows, logits0, kv, next_pos, pmask, top_k, top_p, stop):
        device = logits0.device
        R = len(rows)
        P = pmask.shape[1]
        reqs = [chunk.requests[i] for i in rows.tolist()]
        max_new = torch.tensor([r.sampling.max_new_tokens for r in reqs], device=device)
        min_new = torch.tensor([r.sampling.min_new_tokens for r in reqs], device=device)
        temps = torch.tensor([r.sampling.temperature for r in reqs], dtype=torch.float32, device=device)
        T = int(max_new.max())
        st = self._alloc(self.cfg.max_batch, P + T, kv[0][0].dtype, device)
        self._check_weights()
        rows_d = rows.to(device)
        for layer, (k, v) in enumerate(kv):
            st["k"][layer][:R, :, :P] = k.index_select(0, rows_d)
            st["v"][layer][:R, :, :P] = v.index_select(0, rows_d)
        st["mask"].zero_()
        st["mask"][:R, :P] = pmask.index_select(0, rows_d)
        st["temp"][:R] = temps.clamp(min=1e-6)
        st["greedy"][:R] = temps == 0
        stop_t = self._stop_tensor(stop, device)
        self._suppress = self._stop_tensor(self.suppress_ids, device)
        sample_mode = "greedy" if bool((temps == 0).all()) else ("filter" if (top_k or top_p < 1) else "sample")

        out_tok = torch.full((R, T), self.pad_id, dtype=torch.long, device=device)
        out_lp = torch.zeros((R, T), dtype=torch.float32, device=device)
        # first token from the prefill logits
        tok, lp = _sample(logits0.index_select(0, rows_d), st["temp"][:R], st["greedy"][:R], min_new <= 0, stop_t,
                          top_k, top_p, sample_mode, self._suppress)
        out_tok[:, 0], out_lp[:, 0] = tok, lp
        done = torch.isin(tok, stop_t) | (max_new <= 1)
        lengths = torch.full((R,), T, dtype=torch.long, device=device)
        lengths = torch.where(done, torch.ones_like(lengths), lengths)
        st["tokens"][:R] = tok
        st["pos"][:R] = next_pos.index_select(0, rows_d)
        st["slot"].fill_(P)
        order = torch.arange(R, device=device)  # buffer row -> chunk row
        active = R
        for t in range(1, T):
            if t == 1 or (t - 1) % CHECK_EVERY == 0:  # a host check: stop when all are done, compact when few run
                alive = (~done).nonzero().view(-1)
                if alive.numel() == 0:
                    break
                if _bucket(alive.numel(), self.cfg.max_batch) < _bucket(active, self.cfg.max_batch):
                    self._compact(st, alive)
                    order, done = order.index_select(0, alive), done.index_select(0, alive)
                    max_new, min_new = max_new.index_select(0, alive), min_new.index_select(0, alive)
                    active = alive.numel()
                    self.stats["compactions"] += 1
            B = _bucket(active, self.cfg.max_batch)
            st["allow_stop"][:active] = min_new <= t
            if B > active:  # padding rows of the bucket: masked out, results ignored
                st["mask"][active:B] = False
                st["greedy"][active:B] = True
            L = min(st["length"], self.cfg.length_bucket * math.ceil((P + t) / self.cfg.length_bucket))
            tok_b, lp_b = self._step(st, B, L, stop_t, top_k, top_p, sample_mode)
            tok, lp = tok_b[:active], lp_b[:active]
            tok = torch.where(done, torch.full_like(tok, self.pad_id), tok)
            lp = torch.where(done, torch.zeros_like(lp), lp)
            out_tok[order, t] = tok
            out_lp[order, t] = lp
            finished = ~done & (torch.isin(tok, stop_t) | (t + 1 >= max_new))
            lengths[order] = torch.where(finished, torch.full_like(tok, t + 1), lengths[order])
            done = done | finished
            st["tokens"][:active] = tok
            st["pos"][:active] += 1
            st["slot"] += 1
        lengths_l = lengths.tolist()
        toks, lps = out_tok.tolist(), out_lp.tolist()
        reasons = ["stop" if lengths_l[r] > 0 and toks[r][lengths_l[r] - 1] in stop else "length" for r in range(R)]
        return toks, lps, lengths_l, reasons

    def _compact(self, st, alive):
        """Move the rows still decoding to the front of every row buffer."""
        n = alive.numel()
        for layer in range(len(st["k"])):
            st["k"][layer][:n] = st["k"][layer].index_select(0, alive)
            st["v"][layer][:n] = st["v"][layer].index_select(0, alive)
        for name in ("mask", "tokens", "pos", "temp", "greedy"):
            st[name][:n] = st[name].index_select(0, alive)

    def _step(self, st, B, L, stop_t, top_k, top_p, mode):
        """One decode step for the first ``B`` buffer rows attending over ``L`` cache positions."""
        def body():
            return self._forward_step(st, B, L, stop_t, top_k, top_p, mode)

        if not (self.cfg.cuda_graphs and st["device"].type == "cuda"):
            self.stats["eager_steps"] += 1
            return body()
        key = (B, L, mode, top_k, top_p, tuple(stop_t.tolist()))
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._capture(body)
            self._graphs[key] = graph
        g, outs = graph
        g.replay()
        self.stats["graph_replays"] += 1
        return outs

    def _capture(self, body):
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            body()  # warm-up: lazy initialisation outside the capture (writes are idempotent)
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, pool=self._pool):
            outs = body()
        self.stats["graph_captures"] += 1
        return g, outs

    def _forward_step(self, st, B, L, stop_t, top_k, top_p, mode):
        """Embed the rows' last tokens, run every layer against the cache, sample the next tokens."""
        slot = st["slot"]
        st["mask"][:B].index_fill_(1, slot.view(1), True)
        mask = st["mask"][:B, :L].view(B, 1, 1, L)
        h = self.lm.embed_tokens(st["tokens"][:B]).unsqueeze(1)  # (B, 1, hidden)
        pos = st["pos"][:B].view(1, B, 1).expand(3, B, 1)
        cos, sin = self.lm.rotary_emb(h, pos)  # (B, 1, head_dim)
        for i, layer in enumerate(self.lm.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(h)
            q = attn.q_proj(x).view(B, self.n_heads, self.head_dim)
            k = attn.k_proj(x).view(B, self.n_kv, self.head_dim)
            v = attn.v_proj(x).view(B, self.n_kv, self.head_dim)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            kc, vc = st["k"][i][:B], st["v"][i][:B]
            kc.index_copy_(2, slot.view(1), k.unsqueeze(2))
            vc.index_copy_(2, slot.view(1), v.unsqueeze(2))
            qg = q.view(B, self.n_kv, self.n_heads // self.n_kv, self.head_dim)
            scores = torch.matmul(qg, kc[:, :, :L].transpose(-1, -2)).float() * self.scale
            scores = scores.masked_fill(~mask, float("-inf"))
            probs = torch.softmax(scores, dim=-1).to(vc.dtype)
            o = torch.matmul(probs, vc[:, :, :L]).reshape(B, 1, self.n_heads * self.head_dim)
            h = h + attn.o_proj(o)
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        logits = self.base.lm_head(self.lm.norm(h[:, 0])).float()
        return _sample(logits, st["temp"][:B], st["greedy"][:B], st["allow_stop"][:B], stop_t, top_k, top_p, mode,
                       self._suppress)


def _sample(logits, temp, greedy, allow_stop, stop_t, top_k: int, top_p: float, mode: str, suppress):
    """Next tokens and their logprobs (log-softmax of logits / temperature before filtering; raw for greedy rows).

    ``suppress`` ids are never drawn; stop tokens are masked for rows not yet allowed to stop; greedy rows take
    the argmax.
    """
    scaled = logits / torch.where(greedy, torch.ones_like(temp), temp).unsqueeze(1)
    logp = torch.log_softmax(scaled, dim=-1)
    masked = scaled.clone()
    if suppress.numel():
        masked.index_fill_(1, suppress, -math.inf)
    if stop_t.numel():
        blocked = torch.where(allow_stop.unsqueeze(1), masked[:, stop_t], torch.full_like(masked[:, stop_t], -math.inf))
        masked[:, stop_t] = blocked
    best = masked.argmax(-1)
    if mode == "greedy":
        tok = best
    else:
        if mode == "filter":
            masked = _filter(masked, top_k, top_p)
        u = torch.rand_like(masked).clamp_(min=1e-20)
        sampled = (masked - torch.log(-torch.log(u))).argmax(-1)  # Gumbel-max: a draw from softmax(masked)
        tok = torch.where(greedy, best, sampled)
    return tok, logp.gather(1, tok.unsqueeze(1)).squeeze(1)


def _filter(logits, top_k: int, top_p: float):
    """Top-k then nucleus filtering (tokens outside get -inf), as transformers' logits warpers do."""
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p < 1:
        sorted_logits, idx = torch.sort(logits, descending=False, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        remove = cum <= (1 - top_p)
        remove[:, -1] = False
        logits = logits.masked_fill(remove.scatter(1, idx, remove), -math.inf)
    return logits
