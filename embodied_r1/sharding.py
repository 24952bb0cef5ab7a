"""Full weights of an FSDP2-sharded policy, for the parts of the project that need whole tensors.

Under FSDP2 (``fully_shard``, what accelerate's ``fsdp_version: 2`` applies) every parameter of the trained model
is a ``DTensor`` holding one shard per rank. Two things need the whole weights:

* the rollout engines, which must generate without collectives (ranks decode different numbers of steps, so a
  collective inside generation would hang) — they decode on a per-rank :class:`FullCopy`;
* the end of a stage, which saves one model folder — :meth:`embodied_r1.stages.Stage.finish` gathers a
  :class:`FullCopy` on every rank, merges LoRA into it and rank 0 saves it as before.

:meth:`FullCopy.refresh` gathers every parameter once, in the model's own parameter order, on every rank: the
only collectives here, the same on all ranks whatever each then does with the copy. A model that is not sharded
(one process, DDP) never reaches this module: the engines read it in place.
"""

from __future__ import annotations

import torch


def is_sharded(model) -> bool:
    """Whether any parameter of ``model`` is a ``DTensor`` (an FSDP2 shard)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def _plain_class(module) -> type:
    """The module's own class: ``fully_shard`` swaps it for a generated ``FSDP<Class>`` subclass."""
    from torch.distributed.fsdp import FSDPModule

    return next(c for c in type(module).__mro__ if not issubclass(c, FSDPModule))


def _empty_like(model):
    """A plain (unsharded) module of ``model``'s structure on the meta device: the transformers model from its
    config, wrapped by peft with the same adapters when ``model`` is a peft model."""
    from embodied_r1.models.attention import VISION_ATTENTION, use_grouped_vision_attention

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    text = base.config.get_text_config()._attn_implementation
    vision = getattr(getattr(base.config, "vision_config", None), "_attn_implementation", None)
    with torch.device("meta"):
        # built with the language model's attention everywhere: a registered vision attention whose name holds
        # "flash" is refused by transformers at construction; it is set again below, as make_model sets it
        copy = _plain_class(base)._from_config(base.config, attn_implementation=text)
        if vision == VISION_ATTENTION:
            use_grouped_vision_attention(copy)
        if hasattr(model, "peft_config"):
            from peft import get_peft_model

            names = list(model.peft_config)
            copy = get_peft_model(copy, model.peft_config[names[0]], adapter_name=names[0])
            for name in names[1:]:
                copy.add_adapter(name, model.peft_config[name])
            copy.set_adapter(model.active_adapter)
    return copy


class FullCopy:
    """A per-rank plain copy of an FSDP2-sharded model, with the same parameter names, refreshed in place.

    Args:
        model: The sharded model (a transformers model, possibly under peft).
        dtype: Floating dtype of the copy (None: each parameter's own). Accelerate keeps trainable shards in fp32
            under mixed precision; the copy holds them in the dtype the model was built in, as an unsharded run
            would.
        device: Where the copy lives (None: the shards' device).

    Raises:
        ValueError: The copy's parameter names do not match the model's (a structure this module cannot rebuild).
    """

    def __init__(self, model, dtype: torch.dtype | None = None, device=None):
        self.source = model
        self.dtype = dtype
        device = torch.device(device) if device is not None else next(model.parameters()).device
        copy = _empty_like(model).to_empty(device=device)
        if dtype is not None:
            for p in copy.parameters():
                if p.is_floating_point():
                    p.data = p.data.to(dtype)
        buffers = dict(model.named_buffers())
        for name, _ in list(copy.named_buffers()):  # replicated under FSDP2 (rotary frequencies): taken as they are
            if name in buffers:
                owner, _, leaf = name.rpartition(".")
                copy.get_submodule(owner)._buffers[leaf] = buffers[name].detach().clone().to(device)
        copy.requires_grad_(False)
        copy.eval()
        if hasattr(model, "generation_config"):
            import copy as _copy

            copy.generation_config = _copy.deepcopy(model.generation_config)
        targets = dict(copy.named_parameters(remove_duplicate=False))
        names = dict(model.named_parameters(remove_duplicate=False))
        unmatched = sorted(set(targets) ^ set(names))
        if unmatched:
            raise ValueError(f"cannot rebuild the sharded model: {len(unmatched)} parameter names differ between it "
                             f"and its plain copy (e.g. {unmatched[0]})")
        # a name that refers to a parameter already listed (tied weights) is copied from it, not gathered again
        first: dict[int, str] = {}
        self._alias = {name: first.setdefault(id(p), name) for name, p in names.items()}
        self._targets = targets
        self.module = copy
        self.refreshes = 0

    @torch.no_grad()
    def refresh(self) -> "FullCopy":
        """Gather every parameter of the sharded model into the copy (collectives: call on every rank)."""
        from torch.distributed.tensor import DTensor

        # the parameters are read anew each time: between a forward and its backward FSDP2 may have put unsharded
        # (plain, full) tensors in some modules' place; every rank is in the same state, so gathers still match
        for name, p in self.source.named_parameters(remove_duplicate=False):
            source = self._alias[name]
            if source != name:
                self._targets[name].copy_(self._targets[source])
                continue
            full = p.full_tensor() if isinstance(p, DTensor) else p.detach()
            self._targets[name].copy_(full)
            del full
        self.refreshes += 1
        return self
