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

import contextlib
import hashlib
import math
import time
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


def _pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << max(0, math.ceil(math.log2(max(1, n))))


def _bucket(n: int, cap: int) -> int:
    """The smallest power of two >= n, at most ``cap``."""
    return min(cap, _pow2(n))


@dataclass
class _Chunk:
    """Requests decoded together, with how many samples of each this chunk draws (a request with more than
    ``max_batch`` samples spans chunks)."""

    requests: list
    counts: list


class FastEngine(RolloutEngine):
    """Static-KV, CUDA-graph decoding for Qwen2.5-VL (see the module docstring)."""

    name = "fast"

    def __init__(self, model, processor, cfg=None, dtype=None):
        super().__init__(model, processor, cfg, dtype)
        base = _base(self.model)
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
        self._weights = None
        self._merged: list = []
        self._ops = None
        self._stops: dict = {}
        self.stats = {"graph_captures": 0, "graph_replays": 0, "eager_steps": 0, "vision_images": 0,
                      "vision_distinct": 0, "prefill_prompts": 0, "compactions": 0}

    # ------------------------------------------------------------------ public
    def generate(self, requests: Sequence[RolloutRequest]) -> list[list[RolloutSample]]:
        self.sync_weights()  # a sharded policy's copy, gathered before any rank decodes
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
        """Nothing to copy for an unsharded policy: the step reads the live modules. A sharded policy's full copy
        is gathered in place (its storage stays put, so captured graphs stay valid). Graphs are dropped only if
        a parameter's storage moved (checked on every call anyway)."""
        super().sync_weights()
        self._check_weights()

    def release(self) -> None:
        self._drop_graphs()
        self._state = None
        self._weights = None  # merged LoRA copies too
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
            with self._timed("encode_s"):  # the processor on CPU: chat template, image resize and patches
                enc = self.encode(chunk.requests)
            prompt_ids = [ids[m.bool()].tolist() for ids, m in zip(enc["input_ids"], enc["attention_mask"])]
            with self._timed("prefill_s"):  # vision tower and prompt prefill
                logits0, kv, next_pos, mask = self._prefill(enc)
            rows = torch.repeat_interleave(torch.arange(len(chunk.requests)), torch.tensor(chunk.counts))
            with self._timed("decode_s"):
                toks, lps, lengths, reasons = self._decode(chunk, rows, logits0, kv, next_pos, mask, top_k, top_p,
                                                           stop)
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

    @contextlib.contextmanager
    def _timed(self, key: str):
        """Add the wall time of the block to ``stats[key]`` (device work included: synchronised at both ends)."""
        sync = torch.cuda.synchronize if self._device().type == "cuda" else (lambda: None)
        sync()
        t = time.perf_counter()
        try:
            yield
        finally:
            sync()
            self.stats[key] = self.stats.get(key, 0.0) + time.perf_counter() - t

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

    # ------------------------------------------------------------------ weights
    def _layer_weights(self):
        """Per layer the tensors the decode step reads: live parameters, or for LoRA layers a merged copy
        (base + the active adapters' delta, from peft's ``get_delta_weight``) refreshed in place on every call,
        so captured graphs stay valid and the step runs plain GEMMs."""
        if self._weights is not None:
            return self._weights
        self._merged = []

        def linear(mod):
            if hasattr(mod, "base_layer") and hasattr(mod, "get_delta_weight") and not getattr(mod, "merged", False):
                buf = mod.base_layer.weight.detach().clone()
                self._merged.append((mod, buf))
                return buf, mod.base_layer.bias
            return mod.weight, mod.bias

        layers = []
        for layer in self.lm.layers:
            a, m = layer.self_attn, layer.mlp
            w = {name: linear(getattr(a, name)) for name in ("q_proj", "k_proj", "v_proj", "o_proj")}
            w.update({name: linear(getattr(m, name)) for name in ("gate_proj", "up_proj", "down_proj")})
            w["ln1"] = (layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon)
            w["ln2"] = (layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon)
            layers.append(w)
        self._weights = layers
        self._lm_head = linear(self.base.lm_head)
        self._norm = (self.lm.norm.weight, self.lm.norm.variance_epsilon)
        return layers

    @torch.no_grad()
    def _refresh_merged(self):
        for mod, buf in self._merged:
            buf.copy_(mod.base_layer.weight)
            for name in mod.active_adapters:
                if name in mod.lora_A:
                    buf.add_(mod.get_delta_weight(name).to(buf.dtype))

    def _kernels(self, device):
        """The step's elementwise pieces; fused by ``torch.compile`` on CUDA when ``rollout.compile`` is on."""
        if self._ops is None:
            ops = dict(rms=_rms, add_rms=_add_rms, rope=_rope, attend=_attend, silu_mul=_silu_mul)
            if self.cfg.compile and device.type == "cuda":
                ops = {k: torch.compile(f, dynamic=True, fullgraph=True) for k, f in ops.items()}
            self._ops = ops
        return self._ops

    # ------------------------------------------------------------------ buffers
    def _alloc(self, rows_cap: int, length: int, dtype, device):
        """(Re)allocate the static cache and row buffers when a call needs more rows or positions than they hold
        (rows: a power of two up to ``rollout.max_batch``; positions: a power-of-two multiple of the length
        bucket), so memory follows the largest call so far."""
        st = self._state
        if (st is not None and st["length"] >= length and st["rows"] >= rows_cap and st["dtype"] == dtype
                and st["device"] == device):
            return st
        self._drop_graphs()
        length = self.cfg.length_bucket * _pow2(math.ceil(length / self.cfg.length_bucket))
        B = rows_cap
        kv_shape = (B, self.n_kv, length, self.head_dim)
        zeros = lambda *shape, dtype=torch.long: torch.zeros(shape, dtype=dtype, device=device)  # noqa: E731
        st = dict(
            length=length, dtype=dtype, device=device, rows=B,
            k=[torch.zeros(kv_shape, dtype=dtype, device=device) for _ in self.lm.layers],
            v=[torch.zeros(kv_shape, dtype=dtype, device=device) for _ in self.lm.layers],
            mask=zeros(B, length, dtype=torch.bool), slot=zeros(), step=zeros(),
            tokens=zeros(B), pos=zeros(B), temp=torch.ones(B, device=device), greedy=zeros(B, dtype=torch.bool),
            done=zeros(B, dtype=torch.bool), max_new=zeros(B), min_new=zeros(B), lengths=zeros(B),
            out_tok=zeros(B, length), out_lp=zeros(B, length, dtype=torch.float32),
        )
        self._state = st
        return st

    ROW_STATE = ("tokens", "pos", "temp", "greedy", "done", "max_new", "min_new", "lengths", "out_tok", "out_lp",
                 "mask")
    STEP_STATE = ("tokens", "pos", "slot", "step", "done", "lengths")

    def _drop_graphs(self):
        """Forget every captured graph and their memory pool: a pool whose graphs are all gone is freed, and
        capturing into its stale handle trips the CUDA caching allocator (seen when the cache grew between
        two calls)."""
        self._graphs.clear()
        self._pool = None

    def _stop_tensor(self, stop: tuple, device):
        """Ids as a tensor that lives as long as the engine (captured graphs read it by address)."""
        key = (stop, str(device))
        if key not in self._stops:
            self._stops[key] = torch.tensor(stop, dtype=torch.long, device=device)
        return self._stops[key]

    def _check_weights(self):
        key = tuple(p.data_ptr() for p in self.model.parameters())
        if key != self._weights_key:
            self._drop_graphs()
            self._weights = None
            self._weights_key = key

    # ------------------------------------------------------------------ decode
    def _decode(self, chunk, rows, logits0, kv, next_pos, pmask, top_k, top_p, stop):
        device = logits0.device
        R, P = len(rows), pmask.shape[1]
        reqs = [chunk.requests[i] for i in rows.tolist()]
        T = max(r.sampling.max_new_tokens for r in reqs)
        st = self._alloc(_bucket(R, self.cfg.max_batch), P + T, kv[0][0].dtype, device)  # grows when needed
        self._check_weights()
        self._layer_weights()
        self._refresh_merged()
        rows_d = rows.to(device)
        for layer, (k, v) in enumerate(kv):
            st["k"][layer][:R, :, :P] = k.index_select(0, rows_d)
            st["v"][layer][:R, :, :P] = v.index_select(0, rows_d)
        st["mask"].zero_()
        st["mask"][:R, :P] = pmask.index_select(0, rows_d)
        temps = torch.tensor([r.sampling.temperature for r in reqs], dtype=torch.float32, device=device)
        st["temp"][:R] = temps.clamp(min=1e-6)
        st["greedy"].fill_(True)
        st["greedy"][:R] = temps == 0
        st["max_new"][:R] = torch.tensor([r.sampling.max_new_tokens for r in reqs], device=device)
        st["min_new"][:R] = torch.tensor([r.sampling.min_new_tokens for r in reqs], device=device)
        stop_t = self._stop_tensor(stop, device)
        self._suppress = self._stop_tensor(self.suppress_ids, device)
        mode = "greedy" if bool((temps == 0).all()) else ("filter" if (top_k or top_p < 1) else "sample")

        # the first token, from the prefill logits
        tok, lp = _sample(logits0.index_select(0, rows_d), st["temp"][:R], st["greedy"][:R], st["min_new"][:R] <= 0,
                          stop_t, top_k, top_p, mode, self._suppress)
        st["out_tok"][:R, 0], st["out_lp"][:R, 0] = tok, lp
        st["done"].fill_(True)
        st["done"][:R] = _is_stop(tok, stop_t) | (st["max_new"][:R] <= 1)
        st["lengths"][:R] = torch.where(st["done"][:R], 1, T)
        st["tokens"][:R], st["pos"][:R] = tok, next_pos.index_select(0, rows_d)
        st["slot"].fill_(P)
        st["step"].fill_(1)
        res_tok = torch.full((R, T), self.pad_id, dtype=torch.long, device=device)
        res_lp = torch.zeros((R, T), dtype=torch.float32, device=device)
        res_len = torch.zeros(R, dtype=torch.long, device=device)
        order = torch.arange(R, device=device)  # buffer row -> chunk row
        active = R
        for t in range(1, T):
            if t == 1 or (t - 1) % CHECK_EVERY == 0:  # a host check: stop when all are done, compact when few run
                alive = (~st["done"][:active]).nonzero().view(-1)
                if alive.numel() == 0:
                    break
                if _bucket(alive.numel(), self.cfg.max_batch) < _bucket(active, self.cfg.max_batch):
                    self._collect(st, order, active, T, res_tok, res_lp, res_len)
                    self._compact(st, alive)
                    order, active = order.index_select(0, alive), alive.numel()
                    self.stats["compactions"] += 1
            B = _bucket(active, self.cfg.max_batch)
            L = min(st["length"], self.cfg.length_bucket * math.ceil((P + t) / self.cfg.length_bucket))
            self._step(st, B, L, stop_t, top_k, top_p, mode)
        self._collect(st, order, active, T, res_tok, res_lp, res_len)
        lengths = res_len.tolist()
        toks, lps = res_tok.tolist(), res_lp.tolist()
        reasons = ["stop" if lengths[r] > 0 and toks[r][lengths[r] - 1] in stop else "length" for r in range(R)]
        return toks, lps, lengths, reasons

    @staticmethod
    def _collect(st, order, active, T, res_tok, res_lp, res_len):
        """Copy the buffer rows' outputs to their chunk rows."""
        res_tok[order] = st["out_tok"][:active, :T]
        res_lp[order] = st["out_lp"][:active, :T]
        res_len[order] = st["lengths"][:active]

    def _compact(self, st, alive):
        """Move the rows still decoding to the front of every row buffer; the rest of the bucket is done."""
        n = alive.numel()
        for layer in range(len(st["k"])):
            st["k"][layer][:n] = st["k"][layer].index_select(0, alive)
            st["v"][layer][:n] = st["v"][layer].index_select(0, alive)
        for name in self.ROW_STATE:
            st[name][:n] = st[name].index_select(0, alive)
        st["done"][n:] = True
        st["greedy"][n:] = True

    def _step(self, st, B, L, stop_t, top_k, top_p, mode):
        """One decode step for the first ``B`` buffer rows attending over ``L`` cache positions (a graph replay
        on CUDA: the step also advances its own state, so the host only replays)."""
        def body():
            self._forward_step(st, B, L, stop_t, top_k, top_p, mode)

        if not (self.cfg.cuda_graphs and st["device"].type == "cuda"):
            self.stats["eager_steps"] += 1
            return body()
        key = (B, L, mode, top_k, top_p, tuple(stop_t.tolist()))
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._graphs[key] = self._capture(st, body)
        graph.replay()
        self.stats["graph_replays"] += 1

    def _capture(self, st, body):
        """Capture ``body`` in a CUDA graph; the warm-up run's state changes are undone (its cache writes are
        repeated by the replay)."""
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        saved = {k: st[k].clone() for k in self.STEP_STATE}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            body()  # warm-up: lazy initialisation and compilation outside the capture
        torch.cuda.current_stream().wait_stream(side)
        for k, v in saved.items():
            st[k].copy_(v)
        g = torch.cuda.CUDAGraph()
        inner: list = []
        try:
            with torch.cuda.graph(g, pool=self._pool):
                try:
                    body()
                except BaseException as exc:  # the capture's own error would hide this one
                    inner.append(exc)
                    raise
        except BaseException as exc:
            raise RuntimeError(f"fast engine: CUDA graph capture failed: {inner[0] if inner else exc!r}") from (
                inner[0] if inner else exc)
        self.stats["graph_captures"] += 1
        return g

    def _forward_step(self, st, B, L, stop_t, top_k, top_p, mode):
        """Embed the rows' last tokens, run every layer against the cache, sample, and advance the state."""
        ops = self._kernels(st["device"])
        slot, step = st["slot"], st["step"]
        st["mask"][:B].index_fill_(1, slot.view(1), True)
        mask = st["mask"][:B, :L].view(B, 1, 1, L)
        h = self.lm.embed_tokens(st["tokens"][:B])  # (B, hidden)
        cos, sin = self.lm.rotary_emb(h, st["pos"][:B].view(1, B, 1).expand(3, B, 1))
        cos, sin = cos[:, 0], sin[:, 0]  # (B, head_dim)
        x = ops["rms"](h, *self._weights[0]["ln1"])
        for i, w in enumerate(self._weights):
            q = F.linear(x, *w["q_proj"]).view(B, self.n_heads, self.head_dim)
            k = F.linear(x, *w["k_proj"]).view(B, self.n_kv, self.head_dim)
            v = F.linear(x, *w["v_proj"]).view(B, self.n_kv, self.head_dim)
            q, k = ops["rope"](q, k, cos, sin)
            kc, vc = st["k"][i][:B], st["v"][i][:B]
            kc.index_copy_(2, slot.view(1), k.unsqueeze(2))
            vc.index_copy_(2, slot.view(1), v.unsqueeze(2))
            o = ops["attend"](q.view(B, self.n_kv, self.n_heads // self.n_kv, self.head_dim), kc[:, :, :L],
                              vc[:, :, :L], mask, self.scale)
            h, x = ops["add_rms"](h, F.linear(o.reshape(B, -1), *w["o_proj"]), *w["ln2"])
            mlp = F.linear(ops["silu_mul"](F.linear(x, *w["gate_proj"]), F.linear(x, *w["up_proj"])), *w["down_proj"])
            nxt = self._weights[i + 1]["ln1"] if i + 1 < len(self._weights) else self._norm
            h, x = ops["add_rms"](h, mlp, *nxt)
        logits = F.linear(x, *self._lm_head).float()
        done = st["done"][:B]
        tok, lp = _sample(logits, st["temp"][:B], st["greedy"][:B], st["min_new"][:B] <= step, stop_t, top_k, top_p,
                          mode, self._suppress)
        tok = torch.where(done, self.pad_id, tok)
        lp = torch.where(done, 0.0, lp)
        st["out_tok"][:B].index_copy_(1, step.view(1), tok.unsqueeze(1))
        st["out_lp"][:B].index_copy_(1, step.view(1), lp.unsqueeze(1))
        finished = ~done & (_is_stop(tok, stop_t) | (step + 1 >= st["max_new"][:B]))
        st["lengths"][:B] = torch.where(finished, step + 1, st["lengths"][:B])
        done.logical_or_(finished)
        st["tokens"][:B] = tok
        st["pos"][:B] += 1
        slot += 1
        step += 1


def _is_stop(tok, stop_t):
    """Whether each token is a stop id (a comparison against the few ids: ``torch.isin`` may sort and
    synchronise, which a CUDA graph capture forbids)."""
    return (tok.unsqueeze(1) == stop_t.unsqueeze(0)).any(1)


def _rms(x, weight, eps: float):
    """Qwen2.5-VL's RMSNorm (in float32, weight applied in the input dtype)."""
    xf = x.float()
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _add_rms(h, delta, weight, eps: float):
    """Residual add, then RMSNorm of the sum: ``(h + delta, rms(h + delta))``."""
    h = h + delta
    return h, _rms(h, weight, eps)


def _rope(q, k, cos, sin):
    """Rotary embedding of one position per row (for text tokens the three M-RoPE sections coincide)."""
    c, s = cos.unsqueeze(1), sin.unsqueeze(1)
    return q * c + _rotate_half(q) * s, k * c + _rotate_half(k) * s


def _attend(q, k, v, mask, scale: float):
    """Decode attention with grouped query heads: q (B, kv, group, d) against the cache (B, kv, L, d), each key
    and value read once; masked positions (padding, not yet written) get no weight."""
    scores = torch.matmul(q, k.transpose(-1, -2)).float() * scale
    probs = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1).to(v.dtype)
    return torch.matmul(probs, v)


def _silu_mul(gate, up):
    return F.silu(gate) * up


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
