"""The counterfactual hook: the policy's answers on altered inputs, handed to rewards that ask for them.

A reward declares variants (:class:`embodied_r1.task.CounterfactualSpec`); before it is called, the core
regenerates greedy answers on the same prompts with the images of one modality removed, swapped with another
group's, or replaced by noise. The rollout (:mod:`embodied_r1.rollout.grpo`) answers them in the same engine call
as the step's samples and rewards receive ``counterfactual_completions``: one ``{variant: answer}`` per row.
It works for any modality named in the rows' ``image_modalities`` column.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable, Sequence

import numpy as np

from embodied_r1.task import CounterfactualSpec

REMOVED_NOTE = "[{modality} image unavailable]"


def _user_parts(prompt: list) -> tuple[int, list]:
    for i, msg in enumerate(prompt):
        if msg.get("role") == "user" and isinstance(msg.get("content"), list):
            return i, msg["content"]
    return -1, []


def strip_images(prompt: list) -> list:
    """Copy of ``prompt`` with image payloads dropped from image parts (placeholders kept)."""
    out = []
    for msg in prompt:
        content = msg.get("content")
        if isinstance(content, list):
            content = [{"type": "image"} if p.get("type") == "image" else {"type": "text", "text": p.get("text") or ""}
                       for p in content]
        out.append({"role": msg["role"], "content": content})
    return out


def _noise_like(img, rng: np.random.Generator):
    from PIL import Image

    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    mean, std = a.mean(axis=(0, 1)), a.std(axis=(0, 1)) + 1e-3
    noise = rng.normal(mean, std, size=a.shape)
    return Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))


def make_counterfactual(prompts: Sequence[list], images: Sequence[list], modalities: Sequence[list],
                        groups: Sequence, spec: CounterfactualSpec, seed: int = 0) -> tuple[list, list]:
    """Build the counterfactual version of a batch.

    Args:
        prompts: Conversational prompts with ``{"type": "image"}`` placeholders (payloads are ignored).
        images: Per row, the images in placeholder order.
        modalities: Per row, the modality of each image (the ``image_modalities`` column).
        groups: Per row, a group id; ``swap`` takes images only from rows of another group.
        spec: The variant.
        seed: Seed for the swap partner choice and the noise.

    Returns:
        ``(prompts, images)`` of the counterfactual batch. Rows without an image of ``spec.modality`` are
        returned unchanged; ``swap`` leaves a row unchanged when no other group has that modality.
    """
    rng = np.random.default_rng(seed)
    new_prompts, new_images = [], []
    donors = [[k for k, m in enumerate(mods or []) if m == spec.modality] for mods in modalities]
    for i, (prompt, imgs, mods) in enumerate(zip(prompts, images, modalities)):
        prompt = strip_images(prompt)
        imgs = list(imgs or [])
        mods = list(mods or [])
        ui, parts = _user_parts(prompt)
        image_slots = [j for j, p in enumerate(parts) if p.get("type") == "image"]
        keep_parts = list(parts)
        keep_images = []
        for k, img in enumerate(imgs):
            m = mods[k] if k < len(mods) else None
            if m != spec.modality:
                keep_images.append(img)
                continue
            if spec.mode == "remove":
                if k < len(image_slots):
                    keep_parts[image_slots[k]] = {"type": "text", "text": REMOVED_NOTE.format(modality=spec.modality)}
                continue
            if spec.mode == "noise":
                keep_images.append(_noise_like(img, rng))
                continue
            partners = [r for r in range(len(prompts)) if groups[r] != groups[i] and donors[r]]
            if not partners:
                keep_images.append(img)
                continue
            r = partners[int(rng.integers(len(partners)))]
            keep_images.append(images[r][donors[r][int(rng.integers(len(donors[r])))]])
        if ui >= 0:
            prompt[ui] = {"role": prompt[ui]["role"], "content": keep_parts}
        new_prompts.append(prompt)
        new_images.append(keep_images)
    return new_prompts, new_images


def _row_key(prompt: list, imgs: list) -> str:
    h = hashlib.sha1(json.dumps(strip_images(prompt), sort_keys=True, default=str).encode())
    for img in imgs or []:
        h.update(img.tobytes() if hasattr(img, "tobytes") else repr(img).encode())
    return h.hexdigest()


def counterfactual_requests(prompts, images, modalities, groups, specs: Sequence[CounterfactualSpec],
                            max_new_tokens: int, seed: int = 0):
    """Greedy rollout requests for every variant of every distinct row, and how to read their answers back.

    Args:
        prompts, images, modalities, groups: Per row, as for :func:`make_counterfactual`.
        specs: The variants.
        max_new_tokens: Budget of each answer.
        seed: Seed of the swap partners and the noise.

    Returns:
        ``(requests, assemble)``: ``assemble(texts)`` maps the answers of ``requests`` (in order) to
        ``{variant name: [answer per row]}``; duplicated rows share one request.
    """
    from embodied_r1.rollout import RolloutRequest, SamplingParams

    keys = [_row_key(p, im) for p, im in zip(prompts, images)]
    first: dict = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    uniq = sorted(first.values())
    sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    requests = []
    for spec in specs:
        cp, ci = make_counterfactual([prompts[i] for i in uniq], [images[i] for i in uniq],
                                     [modalities[i] for i in uniq], [groups[i] for i in uniq], spec, seed)
        requests += [RolloutRequest(p, im, 1, sampling) for p, im in zip(cp, ci)]

    def assemble(texts: Sequence[str]) -> dict[str, list[str]]:
        out = {}
        for j, spec in enumerate(specs):
            by_key = {keys[i]: a for i, a in zip(uniq, texts[j * len(uniq):(j + 1) * len(uniq)])}
            out[spec.name] = [by_key[k] for k in keys]
        return out

    return requests, assemble


def counterfactual_answers(engine, prompts, images, modalities, groups, specs: Sequence[CounterfactualSpec],
                           max_new_tokens: int, seed: int = 0) -> dict[str, list[str]]:
    """Greedy answers of a rollout engine on each variant, one per row, all variants in one engine call.

    Returns:
        ``{variant name: [answer per row]}``.
    """
    requests, assemble = counterfactual_requests(prompts, images, modalities, groups, specs, max_new_tokens, seed)
    return assemble([samples[0].text for samples in engine.generate(requests)])


def per_row(counterfactual: dict[str, list[str]], n: int) -> list[dict[str, str]]:
    """``{variant: [answer per row]}`` as one ``{variant: answer}`` per row (the shape of a rollout extra field)."""
    return [{name: answers[i] for name, answers in counterfactual.items()} for i in range(n)]


class CounterfactualReward:
    """Wraps a reward so it receives ``counterfactual_completions`` generated by the current policy inside TRL's
    reward loop. Only for runs where TRL generates the rollouts itself (``grpo.use_vllm``); otherwise the
    project's ``rollout_func`` answers the variants in the rollout's own engine call.

    Args:
        fn: The reward (TRL signature, accepting ``counterfactual_completions``).
        specs: Variants to generate.
        engine_factory: Returns a rollout engine bound to the current policy.
        group_column: Row column of group ids (``swap`` partners come from other groups).
        max_new_tokens: Generation budget of the counterfactual answers.
    """

    def __init__(self, fn: Callable, specs: Sequence[CounterfactualSpec], engine_factory: Callable,
                 group_column: str | None, max_new_tokens: int = 128):
        self.fn = fn
        self.specs = list(specs)
        self.engine_factory = engine_factory
        self.group_column = group_column
        self.max_new_tokens = max_new_tokens
        self.__name__ = getattr(fn, "__name__", "counterfactual_reward")

    def __call__(self, prompts, completions, **kwargs):
        n = len(prompts)
        images = kwargs.get("images") or [[] for _ in range(n)]
        modalities = kwargs.get("image_modalities") or [[] for _ in range(n)]
        groups = kwargs.get(self.group_column) if self.group_column else None
        groups = groups if groups is not None else list(range(n))
        step = getattr(kwargs.get("trainer_state"), "global_step", 0) or 0
        cf = counterfactual_answers(self.engine_factory(), prompts, images, modalities, groups, self.specs,
                                    self.max_new_tokens, seed=step)
        return self.fn(prompts=prompts, completions=completions, counterfactual_completions=per_row(cf, n), **kwargs)
