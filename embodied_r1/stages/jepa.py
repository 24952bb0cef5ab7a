"""The encoder stage's model: the VLM's vision tower trained JEPA-style to predict the next frame's latent.

``online`` is the policy's own vision tower (Qwen2.5-VL's ``model.visual``, or it wrapped with LoRA); its latents
are the patch merger's outputs, the very tokens the language model reads. ``target`` is an exponential moving
average of ``online`` that is never trained by gradients (stop-gradient, as in BYOL / I-JEPA): it encodes frame
t+1, and a small predictor maps ``online``'s latent of frame t onto it. Optional heads as Octopi-1.5 trains its
encoder: a property head on the task's ordinal labels, and a contrastive term across views of one event.

Losses, each averaged over the batch:

* ``jepa_loss`` = 2 - 2 cos(predictor(z_t), sg(target(x_{t+1}))), in [0, 4], over the rows that have a frame t+1;
  the auxiliary terms read every row, the last frame of a sequence included;
* ``property_loss``: with ``property_mode="classify"`` (the default), the cross-entropy of a K-way classifier per
  property, averaged over the labelled (row, property) pairs; with ``"regress"``, the mean squared error of the
  predicted level / (K - 1). The classifier gives the tower a much stronger signal: on the touch data the
  regression head stayed at the loss of predicting the mean level (measured, nvidia-h100-x1);
* ``contrastive_loss`` = supervised InfoNCE over the projected pooled latents of frame t: rows of one group
  (one event seen by several sensors) are positives, the other rows of the batch negatives.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from embodied_r1.stages.encoder_config import PROPERTY_LOSSES


def image_latents(tower, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> list[torch.Tensor]:
    """Per-image merged patch latents of a Qwen2.5-VL vision tower.

    Args:
        tower: ``Qwen2_5_VisionTransformerPretrainedModel`` (or a PEFT model wrapping one).
        pixel_values: The image processor's flattened patches of every image.
        grid_thw: ``(images, 3)`` patch grid of each image.

    Returns:
        One ``(tokens, latent_dim)`` tensor per image.
    """
    out = tower(pixel_values.to(_dtype(tower)), grid_thw=grid_thw)
    merged = out.pooler_output
    sizes = (grid_thw.prod(-1) // _merge_size(tower) ** 2).tolist()
    return list(torch.split(merged, sizes))


def _dtype(tower):
    return next(tower.parameters()).dtype


def _merge_size(tower) -> int:
    base = tower.get_base_model() if hasattr(tower, "get_base_model") else tower
    return base.spatial_merge_size


class JEPAEncoder(nn.Module):
    """Online tower, its EMA target, the predictor and the auxiliary heads.

    Args:
        online: The vision tower to train (shared with the policy model, or its LoRA wrapper).
        latent_dim: Width of its latents (``vision_config.out_hidden_size``).
        predict: ``pooled`` (one latent per image, the mean) or ``patch`` (every merged patch).
        predictor_hidden: Hidden width of the predictor (0: ``2 * latent_dim``).
        num_properties: Outputs of the property head (0: no head).
        property_weight, contrastive_weight: Weights of the auxiliary terms.
        temperature: Contrastive temperature.
        property_mode: ``classify`` (a K-way head per property) or ``regress`` (one output per property).
        num_levels: K of each property, in the order of the labels (``classify``; default 3 each).
        jepa_weight: Weight of the next-frame prediction term (0: skipped, no target forward pass).
    """

    def __init__(self, online, latent_dim: int, predict: str = "pooled", predictor_hidden: int = 0,
                 num_properties: int = 0, property_weight: float = 0.0, contrastive_weight: float = 0.0,
                 temperature: float = 0.1, property_mode: str = "classify", num_levels: list | None = None,
                 jepa_weight: float = 1.0):
        super().__init__()
        self.online = online
        self.target = copy.deepcopy(online).requires_grad_(False)
        hidden = predictor_hidden or 2 * latent_dim
        self.predictor = nn.Sequential(nn.Linear(latent_dim, hidden), nn.GELU(), nn.Linear(hidden, latent_dim))
        self.property_mode = property_mode
        self.num_levels = [int(k) for k in (num_levels or [3] * num_properties)]
        if property_mode not in PROPERTY_LOSSES or len(self.num_levels) != num_properties:
            raise ValueError(f"property_mode {property_mode!r} with {num_properties} properties and levels "
                             f"{self.num_levels}")
        outputs = sum(self.num_levels) if property_mode == "classify" else num_properties
        self.property_head = nn.Linear(latent_dim, outputs) if num_properties and property_weight else None
        # The projector batch-normalises first: a random tower's pooled latents share one large component (cosine
        # ~1 between any two images), so without it InfoNCE sits at log(rows - 1) with no gradient (measured).
        self.projector = (nn.Sequential(nn.BatchNorm1d(latent_dim), nn.Linear(latent_dim, latent_dim))
                          if contrastive_weight else None)
        self.predict = predict
        self.jepa_weight = jepa_weight
        self.property_weight = property_weight
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature

    def forward(self, pixel_values, image_grid_thw, next_pixel_values, next_image_grid_thw, groups, levels,
                level_mask, has_next=None) -> dict:
        """Losses of one batch of rows (frame t, and frame t+1 where it exists); ``loss`` is their weighted sum.

        Args:
            pixel_values, image_grid_thw: Frame t of every row.
            next_pixel_values, next_image_grid_thw: Frame t+1 of the rows ``has_next`` marks, in order (same view,
                same size as their frame t).
            groups: ``(rows,)`` event index of each row.
            levels: ``(rows, properties)`` level / (K - 1) of each label.
            level_mask: ``(rows, properties)`` which labels exist.
            has_next: ``(rows,)`` bool, the rows with a frame t+1 (None: every row). The JEPA term reads those
                rows; the property and contrastive terms read every row.
        """
        now = image_latents(self.online, pixel_values, image_grid_thw)
        pooled = torch.stack([z.mean(0) for z in now])
        sel = (torch.ones(len(now), dtype=torch.bool) if has_next is None else has_next.bool().cpu()).tolist()
        out, loss = {}, pooled.new_zeros((), dtype=torch.float32)
        if any(sel) and self.jepa_weight:
            with torch.no_grad():  # stop-gradient: the target only moves by the EMA update
                nxt = image_latents(self.target, next_pixel_values, next_image_grid_thw)
            if self.predict == "pooled":
                pred = self.predictor(pooled[torch.tensor(sel, device=pooled.device)])
                goal = torch.stack([z.mean(0) for z in nxt])
            else:
                pred, goal = self.predictor(torch.cat([z for z, s in zip(now, sel) if s])), torch.cat(nxt)
            out["jepa_loss"] = (2 - 2 * F.cosine_similarity(pred, goal.to(pred.dtype), dim=-1)).mean()
            loss = loss + self.jepa_weight * out["jepa_loss"]
        else:  # no frame t+1 in this batch (or the term is off): the predictor stays in the graph with no gradient
            # (DDP needs every parameter used)
            loss = loss + 0.0 * self.predictor(pooled).sum()
        if self.property_head is not None and bool(level_mask.any()):
            out["property_loss"] = self._property_loss(self.property_head(pooled), levels, level_mask)
            loss = loss + self.property_weight * out["property_loss"]
        if self.projector is not None:
            term = contrastive_loss(self.projector(pooled), groups, self.temperature)
            if term is not None:
                out["contrastive_loss"] = term
                loss = loss + self.contrastive_weight * term
        out["loss"] = loss
        return out

    def _property_loss(self, pred: torch.Tensor, levels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean loss over labelled (row, property) pairs; ``levels`` are level / (K - 1)."""
        if self.property_mode == "regress":
            err = (pred - levels.to(pred.dtype)) ** 2
            return (err * mask).sum() / mask.sum()
        total, count = pred.new_zeros(()), mask.sum()
        for j, logits in enumerate(torch.split(pred, self.num_levels, dim=-1)):
            k = self.num_levels[j]
            target = torch.round(levels[:, j].float() * (k - 1)).long().clamp(0, k - 1)
            ce = F.cross_entropy(logits.float(), target, reduction="none")
            total = total + (ce * mask[:, j]).sum()
        return total / count

    @torch.no_grad()
    def update_target(self, decay: float) -> None:
        """Move the target towards the online tower: ``target = decay * target + (1 - decay) * online``."""
        online = dict(self.online.named_parameters())
        for name, p in self.target.named_parameters():
            p.lerp_(online[name].detach().to(p.dtype), 1.0 - decay)


def contrastive_loss(z: torch.Tensor, groups: torch.Tensor, temperature: float) -> torch.Tensor | None:
    """Supervised InfoNCE: each row's positives are the other rows of its group.

    Args:
        z: ``(rows, dim)`` embeddings.
        groups: ``(rows,)`` group ids.
        temperature: Softmax temperature.

    Returns:
        The mean loss over rows that have a positive, or None when no row has one.

    >>> g = torch.tensor([0, 0, 1, 1])
    >>> close = torch.tensor([[1.0, 0], [1.0, 0.1], [0, 1.0], [0.1, 1.0]])
    >>> bool(contrastive_loss(close, g, 0.1) < contrastive_loss(close[[0, 2, 1, 3]], g, 0.1))
    True
    """
    z = F.normalize(z.float(), dim=-1)
    sim = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    pos = (groups[:, None] == groups[None, :]) & ~self_mask
    has = pos.any(1)
    if not bool(has.any()):
        return None
    log_prob = sim.masked_fill(self_mask, float("-inf")).log_softmax(1)
    per_row = -(log_prob.masked_fill(~pos, 0.0).sum(1) / pos.sum(1).clamp(min=1))
    return per_row[has].mean()
