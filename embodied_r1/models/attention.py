"""Vision attention over all of a batch's windows in a few SDPA calls instead of one per window.

Qwen2.5-VL's vision tower attends within windows (and, in its full-attention blocks, within images). Without the
flash-attn package, transformers runs its SDPA path once per window: a batch of 64 touch rows (118 images) makes
about a thousand small attention calls per step in the `small` preset, and their launch cost, not the GPU, bounded
the SFT step. With flash-attention requested, the same module hands the attention function the windows' packed
offsets (``cu_seq_lens_q``) instead. :func:`grouped_sdpa` is registered through transformers' documented
``AttentionInterface`` under a name holding "flash" (which routes the module to that packed call) and computes
the same attention: consecutive windows are grouped up to :data:`GROUP_TOKENS` tokens and each group is one
SDPA call with a block-diagonal mask, so no token attends outside its window. Only the vision tower uses it
(``set_attn_implementation({"vision_config": ...})``); the language model keeps its own implementation.
"""

from __future__ import annotations

import weakref

import torch

#: The registered name; "flash" in it is what makes Qwen2.5-VL's vision attention pass packed window offsets.
VISION_ATTENTION = "flash_grouped_sdpa"
#: Tokens per grouped call: the block-diagonal mask of a group wastes (group / window) of the attention FLOPs on
#: masked pairs, which at this size costs less than the launches it saves.
GROUP_TOKENS = 1024

_plans: dict[int, tuple] = {}  # id(offsets tensor) -> (weakref to it, plan); an entry leaves with its tensor


def _plan(cu_seqlens: torch.Tensor, device) -> list[tuple[int, int, torch.Tensor]]:
    """``(start, end, mask)`` per group of consecutive windows. The offsets tensor is the same object for every
    block of one forward pass, so the plan (and its one host sync) is made once per pass and window layout."""
    ref, plan = _plans.get(id(cu_seqlens), (None, None))
    if ref is not None and ref() is cu_seqlens:
        return plan
    bounds = cu_seqlens.tolist()
    plan, first = [], 0  # the group is windows bounds[first:i+1]
    for i in range(1, len(bounds)):
        start, end, nxt = bounds[first], bounds[i], bounds[i + 1] if i + 1 < len(bounds) else None
        if nxt is None or nxt - start > GROUP_TOKENS:  # the next window would overfill the group: close it
            edges = torch.tensor(bounds[first:i + 1], device=device) - start
            seg = torch.repeat_interleave(torch.arange(len(edges) - 1, device=device), edges.diff())
            plan.append((start, end, (seg[:, None] == seg[None, :])[None, None]))
            first = i
    key = id(cu_seqlens)
    _plans[key] = (weakref.ref(cu_seqlens, lambda _, key=key: _plans.pop(key, None)), plan)
    return plan


def grouped_sdpa(module, query, key, value, attention_mask=None, scaling=None, dropout: float = 0.0,
                 cu_seq_lens_q=None, is_causal: bool = False, **kwargs):
    """Attention within the windows that ``cu_seq_lens_q`` delimits, in grouped block-diagonal SDPA calls.

    Args:
        module: The attention module (unused; the interface passes it).
        query, key, value: ``(1, heads, tokens, head_dim)``, the windows packed along ``tokens``.
        scaling: Softmax scale.
        dropout: Attention dropout probability.
        cu_seq_lens_q: Window offsets ``[0, ..., tokens]`` (the keys' are the same).

    Returns:
        ``(output (1, tokens, heads, head_dim), None)``, the layout transformers' attention functions return.
    """
    if cu_seq_lens_q is None or is_causal or attention_mask is not None:
        raise ValueError("grouped_sdpa is the vision tower's packed-window attention: it needs cu_seq_lens_q and "
                         "no causal or explicit mask")
    outs = [torch.nn.functional.scaled_dot_product_attention(
        query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], attn_mask=mask, dropout_p=dropout, scale=scaling)
        for a, b, mask in _plan(cu_seq_lens_q, query.device)]
    return torch.cat(outs, dim=2).transpose(1, 2).contiguous(), None


def use_grouped_vision_attention(model) -> None:
    """Route ``model``'s vision tower through :func:`grouped_sdpa` (registered once); the language model keeps
    its implementation."""
    from transformers import AttentionInterface

    AttentionInterface.register(VISION_ATTENTION, grouped_sdpa)
    model.set_attn_implementation({"vision_config": VISION_ATTENTION})
