"""The encoder stage's model: the VLM's vision tower trained JEPA-style to predict the next frame's latent.

``online`` is the policy's own vision tower (Qwen2.5-VL's ``model.visual``, or it wrapped with LoRA); its latents
are the patch merger's outputs, the very tokens the language model reads. ``target`` is an exponential moving
average of ``online`` that is never trained by gradients (stop-gradient, as in BYOL / I-JEPA): it encodes frame
t+1, and a small predictor maps ``online``'s latent of frame t onto it. Optional heads as Octopi-1.5 trains its
encoder: property regression on the task's ordinal labels, and a contrastive term across views of one event.

Losses, each averaged over the batch:

* ``jepa_loss`` = 2 - 2 cos(predictor(z_t), sg(target(x_{t+1}))), in [0, 4];
* ``property_loss`` = mean squared error of the predicted level / (K - 1) (labelled rows only);
* ``contrastive_loss`` = supervised InfoNCE over the projected pooled latents of frame t: rows of one group
  (one event seen by several sensors) are positives, the other rows of the batch negatives.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


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
    """

    def __init__(self, online, latent_dim: int, predict: str = "pooled", predictor_hidden: int = 0,
                 num_properties: int = 0, property_weight: float = 0.0, contrastive_weight: float = 0.0,
                 temperature: float = 0.1):
        super().__init__()
        self.online = online
        self.target = copy.deepcopy(online).requires_grad_(False)
        hidden = predictor_hidden or 2 * latent_dim
        self.predictor = nn.Sequential(nn.Linear(latent_dim, hidden), nn.GELU(), nn.Linear(hidden, latent_dim))
        self.property_head = nn.Linear(latent_dim, num_properties) if num_properties and property_weight else None
        # The projector batch-normalises first: a random tower's pooled latents share one large component (cosine
        # ~1 between any two images), so without it InfoNCE sits at log(rows - 1) with no gradient (measured).
        self.projector = (nn.Sequential(nn.BatchNorm1d(latent_dim), nn.Linear(latent_dim, latent_dim))
                          if contrastive_weight else None)
        self.predict = predict
        self.property_weight = property_weight
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature

    def forward(self, pixel_values, image_grid_thw, next_pixel_values, next_image_grid_thw, groups, levels,
                level_mask) -> dict:
        """Losses of one batch of transitions (frame t -> frame t+1); ``loss`` is their weighted sum.

        Args:
            pixel_values, image_grid_thw: Frame t of every row.
            next_pixel_values, next_image_grid_thw: Frame t+1 of every row (same view, same size).
            groups: ``(rows,)`` event index of each row.
            levels: ``(rows, properties)`` level / (K - 1) of each label.
            level_mask: ``(rows, properties)`` which labels exist.
        """
        now = image_latents(self.online, pixel_values, image_grid_thw)
        with torch.no_grad():  # stop-gradient: the target only moves by the EMA update
            nxt = image_latents(self.target, next_pixel_values, next_image_grid_thw)
        pooled = torch.stack([z.mean(0) for z in now])
        if self.predict == "pooled":
            pred, goal = self.predictor(pooled), torch.stack([z.mean(0) for z in nxt])
        else:
            pred, goal = self.predictor(torch.cat(now)), torch.cat(nxt)
        out = {"jepa_loss": (2 - 2 * F.cosine_similarity(pred, goal.to(pred.dtype), dim=-1)).mean()}
        loss = out["jepa_loss"]
        if self.property_head is not None and bool(level_mask.any()):
            err = (self.property_head(pooled) - levels.to(pooled.dtype)) ** 2
            out["property_loss"] = (err * level_mask).sum() / level_mask.sum()
            loss = loss + self.property_weight * out["property_loss"]
        if self.projector is not None:
            term = contrastive_loss(self.projector(pooled), groups, self.temperature)
            if term is not None:
                out["contrastive_loss"] = term
                loss = loss + self.contrastive_weight * term
        out["loss"] = loss
        return out

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
