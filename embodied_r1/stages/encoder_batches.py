"""Batches of the encoder stage: one frame of every view of one event together, with the frame that follows it.

An item is one event at one frame t: each view (sensor) of that event contributes a row with its frame t and,
unless t is the last frame, frame t+1 (the JEPA target). Every frame, the last included, is a row of the
auxiliary heads: the last frame of a press is the deepest one, the frame the task's questions show and the probe
reads, so the property head must see it (with transitions only, it never did, and on touch data roughness, whose
texture shows under full force, stayed at the majority level). Keeping an event's views in one item puts the
contrastive term's positives in the same batch without a special sampler, so ``transformers.Trainer``'s own
sampler, and its exact data order on resume, apply.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from embodied_r1.task import EncoderSequence


class TransitionDataset(torch.utils.data.Dataset):
    """Items ``(event, t)`` over the events of ``sequences`` and every frame t; an item holds every view's frame t
    and its frame t+1 (None at the last frame).

    Args:
        sequences: The task's training sequences (:class:`embodied_r1.task.EncoderSequence`).
        properties: Label names, in the order of the property head's outputs.
        num_levels: Property -> number of levels (labels are scaled to [0, 1] by ``K - 1``).
    """

    def __init__(self, sequences: list[EncoderSequence], properties: list[str], num_levels: dict):
        by_group = defaultdict(list)
        for s in sequences:
            by_group[s.group].append(s)
        self.events = list(by_group.values())
        self.frames = min(len(s.frames) for s in sequences)
        self.properties = list(properties)
        self.num_levels = dict(num_levels)

    @property
    def steps(self) -> int:
        """Transitions per sequence."""
        return self.frames - 1

    def __len__(self) -> int:
        return len(self.events) * self.frames

    def __getitem__(self, i: int) -> list[dict]:
        event, t = divmod(i, self.frames)
        return [{"now": s.frames[t], "next": s.frames[t + 1] if t < self.steps else None, "group": event,
                 **self._levels(s)} for s in self.events[event]]

    def _levels(self, s: EncoderSequence) -> dict:
        levels = [s.labels.get(p, -1) for p in self.properties]
        return {"levels": [max(v, 0) / max(1, self.num_levels.get(p, 2) - 1) for v, p in zip(levels, self.properties)],
                "mask": [float(v >= 0) for v in levels]}


class TransitionCollator:
    """Flatten items into rows and run the processor's image processor on frames t and on the frames t+1 that exist
    (``has_next`` marks their rows, in order).

    Args:
        image_processor: The policy's image processor (Qwen2.5-VL's: patches + ``image_grid_thw``).
        next_frames: Process the frames t+1 (False when the JEPA term is off: nothing reads them, and every row
            then counts as one without a next frame).
    """

    def __init__(self, image_processor, next_frames: bool = True):
        self.image_processor = image_processor
        self.next_frames = next_frames

    def __call__(self, items: list[list[dict]]) -> dict:
        rows = [r for item in items for r in item]
        now = self.image_processor(images=[r["now"] for r in rows], return_tensors="pt")
        has_next = [self.next_frames and r["next"] is not None for r in rows]
        later = [r["next"] for r, h in zip(rows, has_next) if h]
        if later:
            nxt = self.image_processor(images=later, return_tensors="pt")
        else:  # a batch of last frames only (or the JEPA term is off): no target
            nxt = {"pixel_values": now["pixel_values"][:0], "image_grid_thw": now["image_grid_thw"][:0]}
        return {
            "pixel_values": now["pixel_values"], "image_grid_thw": now["image_grid_thw"],
            "next_pixel_values": nxt["pixel_values"], "next_image_grid_thw": nxt["image_grid_thw"],
            "has_next": torch.tensor(has_next, dtype=torch.bool),
            "groups": torch.tensor([r["group"] for r in rows]),
            "levels": torch.tensor([r["levels"] for r in rows], dtype=torch.float32),
            "level_mask": torch.tensor([r["mask"] for r in rows], dtype=torch.float32),
        }


@torch.no_grad()
def pooled_features(tower, image_processor, images: list, batch_size: int = 64) -> torch.Tensor:
    """Mean merged latent of each image under ``tower`` (eval mode, no gradient), on the CPU in float32.

    Args:
        tower: A Qwen2.5-VL vision tower.
        image_processor: Its image processor.
        images: HxWx3 uint8 arrays or PIL images.
        batch_size: Images per forward pass.

    Returns:
        ``(images, latent_dim)`` features.
    """
    from embodied_r1.stages.jepa import image_latents

    device = next(tower.parameters()).device
    was_training = tower.training
    tower.eval()
    out = []
    for i in range(0, len(images), batch_size):
        batch = image_processor(images=images[i:i + batch_size], return_tensors="pt")
        lat = image_latents(tower, batch["pixel_values"].to(device), batch["image_grid_thw"].to(device))
        out += [z.float().mean(0).cpu() for z in lat]
    tower.train(was_training)
    return torch.stack(out)
