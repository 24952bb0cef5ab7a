"""Generation behind one small interface, so the backend can be swapped for a faster one.

Counterfactual answers during training, ``embodied-r1 eval`` and the closed-loop policy all generate through a
:class:`Generator`. :class:`HFGenerator` uses ``model.generate``; a vLLM- or server-backed generator only has to
implement the same ``generate`` method.
"""

from __future__ import annotations

from typing import Protocol, Sequence


class Generator(Protocol):
    """Turns conversational prompts with images into answer texts."""

    def generate(self, prompts: Sequence[list], images: Sequence[list | None], *, max_new_tokens: int,
                 temperature: float = 0.0) -> list[str]:
        """One answer per prompt. ``temperature == 0`` means greedy."""
        ...


def fill_images(prompt: list, images: list | None) -> list:
    """Put the row's PIL images into the ``{"type": "image"}`` placeholders of a conversational prompt.

    Args:
        prompt: Messages; user content is a list of ``{"type": ...}`` parts.
        images: Images in placeholder order (None: no images).

    Returns:
        A new message list whose image parts carry ``"image"``; extra placeholders beyond the images are dropped.
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


class HFGenerator:
    """Batched ``model.generate`` over a Qwen2.5-VL processor.

    Args:
        model: A causal VLM (possibly wrapped by peft).
        processor: Its processor (tokenizer padding side left).
        batch_size: Prompts per ``generate`` call.
        generate_kwargs: Extra ``model.generate`` arguments (e.g. ``min_new_tokens`` for fixed-length
            throughput measurements).
    """

    def __init__(self, model, processor, batch_size: int = 16, generate_kwargs: dict | None = None):
        self.model = model
        self.processor = processor
        self.batch_size = batch_size
        self.generate_kwargs = dict(generate_kwargs or {})

    def generate(self, prompts, images, *, max_new_tokens: int, temperature: float = 0.0) -> list[str]:
        import torch

        out: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            msgs = [fill_images(p, im) for p, im in zip(prompts[start:start + self.batch_size],
                                                       images[start:start + self.batch_size])]
            batch = self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True,
                                                       return_dict=True, return_tensors="pt",
                                                       processor_kwargs={"padding": True})
            device = next(self.model.parameters()).device
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            kwargs = dict(max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                          pad_token_id=self.processor.tokenizer.pad_token_id, **self.generate_kwargs)
            if temperature > 0:
                kwargs["temperature"] = temperature
            was_training = self.model.training
            self.model.eval()
            try:
                with torch.no_grad():
                    ids = self.model.generate(**batch, **kwargs)
            finally:
                self.model.train(was_training)
            new = ids[:, batch["input_ids"].shape[1]:]
            out += self.processor.tokenizer.batch_decode(new, skip_special_tokens=True)
        return out
