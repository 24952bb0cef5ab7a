"""How much of each touch property a preset's own vision tower can learn, trained supervised on single images.

The VLM reads tactile images through its vision tower only; if that tower cannot learn a property even with a
classifier head trained on the labels directly, neither SFT nor GRPO will. This trains the preset's tower
(random init, as the offline presets start) plus one K-way head per property on the mean of its merged patch
latents (the tokens the language model reads), on the same images as ``benchmarks/touch_ceiling.py`` (the touch
task's own contacts, one frame, level labels), and reports accuracy per property on held-out objects and each
held-out sensor, to read against the CNN ceiling.

This is how the raw-frame problem of touch data version 3 was found: on raw frames the ``small`` tower's
cross-entropy stayed at ln 3 (nothing learned) while on difference views it falls (``--tactile-view``).

Usage:
    python benchmarks/touch_tower.py --tactile-view raw --steps 300          # ~8 min on 2 CPU cores
    python benchmarks/touch_tower.py --tactile-view difference --steps 300
    python benchmarks/touch_tower.py --lr 3e-4 --trainer-like --press-frames 4  # the encoder stage's optimisation
                                                            # and frames (docs/results/touch_encoder_v5/)
    python benchmarks/touch_tower.py --smoke                                 # seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import touch_ceiling as tc  # noqa: E402  (the same data functions)

from envs.tactile.views import VIEWS  # noqa: E402


POOLS = ("mean", "max", "meanmax", "attention")


class Pool:
    """One vector per image from its ``(tokens, dim)`` latents (see ``--pool``)."""

    def __init__(self, kind: str, dim: int, device):
        import torch

        self.kind = kind
        self.query = (torch.nn.Parameter(torch.zeros(dim, device=device)) if kind == "attention" else None)
        self.out_dim = 2 * dim if kind == "meanmax" else dim

    def parameters(self) -> list:
        return [self.query] if self.query is not None else []

    def __call__(self, z):
        import torch

        if self.kind == "mean":
            return z.mean(0)
        if self.kind == "max":
            return z.max(0).values
        if self.kind == "meanmax":
            return torch.cat([z.mean(0), z.max(0).values])
        w = torch.softmax(z.float() @ self.query / z.shape[-1] ** 0.5, 0).to(z.dtype)
        return (w[:, None] * z).sum(0)


#: The settings a cached image set depends on; a cache rendered with others is refused.
CACHE_KEYS = ("train_contacts", "test_contacts", "image_size", "press_frames", "tactile_view", "seed")


def load_or_render(cargs, cfg, cache: str | None) -> tuple[dict, float]:
    """The rendered groups (``touch_ceiling.build_data``), from ``cache`` when it holds them; seconds spent.

    Raises:
        SystemExit: ``cache`` exists but was rendered with other settings (one line naming them).
    """
    import os

    t0 = time.perf_counter()
    meta = json.dumps({k: getattr(cargs, k) for k in CACHE_KEYS}, sort_keys=True)
    if cache and Path(cache).exists():
        with np.load(cache) as f:
            had = str(f["meta"]) if "meta" in f.files else "unknown settings"
            if had != meta:
                raise SystemExit(f"touch_tower: the image cache {cache} was rendered with {had}, not {meta}: delete "
                                 f"it or pass another --data-cache")
            names = [k[:-2] for k in f.files if k.endswith("_x")]
            return {n: (f[n + "_x"], f[n + "_y"]) for n in names}, time.perf_counter() - t0
    data = tc.build_data(cargs, cfg)
    if cache:
        tmp = Path(cache).with_suffix(f".{os.getpid()}.tmp.npz")  # one per process: runs rendering at once
        np.savez(tmp, meta=np.array(meta), **{f"{n}_{s}": v for n, (x, y) in data.items()
                                               for s, v in (("x", x), ("y", y))})
        tmp.replace(cache)  # whole or absent: a parallel run never reads half a file
    return data, time.perf_counter() - t0


def trainer_like_settings() -> dict:
    """``--trainer-like``: the optimisation the encoder stage of ``configs/touch_encoder_small_gpu.yaml`` gets from
    ``transformers.Trainer`` on a GPU, read from that config and the Trainer's defaults (so it follows them)."""
    import dataclasses

    import yaml
    from transformers import TrainingArguments

    from embodied_r1.stages.encoder_config import EncoderConfig

    config = Path(__file__).resolve().parents[1] / "configs" / "touch_encoder_small_gpu.yaml"
    ecfg = EncoderConfig(**yaml.safe_load(config.read_text())["encoder"])
    trainer = {f.name: f.default for f in dataclasses.fields(TrainingArguments)}
    return {"schedule": str(trainer["lr_scheduler_type"]), "warmup": ecfg.warmup_steps,
            "weight_decay": ecfg.weight_decay, "max_grad_norm": trainer["max_grad_norm"], "bf16_autocast": True}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="small", help="offline preset whose tower is trained (tiny, small, ...)")
    p.add_argument("--tactile-view", choices=VIEWS, default="difference")
    p.add_argument("--train-contacts", type=int, default=1500)
    p.add_argument("--test-contacts", type=int, default=150)
    p.add_argument("--image-size", type=int, default=112, help="rendered longest side (the processor resizes)")
    p.add_argument("--press-frames", type=int, default=1,
                   help="frames per press, force rising (the encoder stage renders 4): each frame of a train "
                        "reading is a training image; evaluation reads the last (full-force) frame, as the probe does")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    p.add_argument("--schedule", choices=("constant", "linear"), default="constant",
                   help="learning rate over the steps: constant, or transformers' linear warm-up then decay to 0")
    p.add_argument("--warmup", type=int, default=0, help="warm-up steps (both schedules)")
    p.add_argument("--max-grad-norm", type=float, default=0.0, help="clip the gradient norm to this (0: no clipping)")
    p.add_argument("--bf16-autocast", action="store_true",
                   help="run the forward pass under bf16 autocast on float32 weights (the Trainer's bf16=True)")
    p.add_argument("--trainer-like", action="store_true",
                   help="the encoder stage's optimisation on a GPU (configs/touch_encoder_small_gpu.yaml under the "
                        "Trainer, read from both; today --schedule linear --warmup 50 --weight-decay 0.05 "
                        "--max-grad-norm 1 --bf16-autocast), replacing those flags (bf16 autocast also on a CPU, "
                        "where the Trainer would not use it)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes rendering the data")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto")
    p.add_argument("--pool", choices=POOLS, default="mean",
                   help="how the head reads an image's merged patch latents: their mean (what the encoder stage's "
                        "probe reads), their per-dimension max, both concatenated, or a learned attention query")
    p.add_argument("--max-pixels", type=int, default=0,
                   help="the processor's pixel budget per image (0: the preset's; small: 112*112 = 16 tokens)")
    p.add_argument("--data-cache", default=None,
                   help="an .npz of the rendered images: read when it exists, written otherwise (runs of other "
                        "model settings then train on the very same images)")
    p.add_argument("--render-only", action="store_true",
                   help="render the images into --data-cache and stop (the sweep renders each cache once, before "
                        "its variants train side by side)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: runs in seconds on a CPU")
    a = p.parse_args()
    if a.trainer_like:
        vars(a).update(trainer_like_settings())
    if a.smoke:
        a.model, a.train_contacts, a.test_contacts, a.image_size = "tiny", 16, 4, 32
        a.steps, a.batch_size, a.eval_every, a.threads = 3, 8, 2, 1
    return a


def main() -> None:
    import dataclasses

    import torch
    from transformers import get_scheduler

    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model, vision_tower
    from embodied_r1.stages.jepa import image_latents

    a = parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = tc.pick_device(a.device)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    cargs = tc.Args(train_contacts=a.train_contacts, test_contacts=a.test_contacts, image_size=a.image_size,
                    workers=a.workers, seed=a.seed, tactile_view=a.tactile_view,
                    press_frames=a.press_frames)
    cfg = tc.data_config(cargs)
    if a.render_only and not a.data_cache:
        raise SystemExit("touch_tower: --render-only needs --data-cache (where to write the images)")
    data, render_s = load_or_render(cargs, cfg, a.data_cache)
    if a.render_only:
        print(f"images in {a.data_cache} ({render_s:.0f} s)")
        return
    model, processor = make_model(ModelConfig(name=a.model, dtype="float32", max_pixels=a.max_pixels or None),
                                  seed=a.seed)
    tower = vision_tower(model).float().to(device).train()
    del model
    k = cfg.num_levels
    pool = Pool(a.pool, tower.config.out_hidden_size, device)
    head = torch.nn.Linear(pool.out_dim, len(tc.PROPS) * k).to(device)
    params = list(tower.parameters()) + list(head.parameters()) + pool.parameters()
    # As the Trainer: no weight decay on biases and norm weights (every 1-d parameter here).
    opt = torch.optim.AdamW([{"params": [q for q in params if q.ndim >= 2], "weight_decay": a.weight_decay},
                             {"params": [q for q in params if q.ndim < 2], "weight_decay": 0.0}], lr=a.lr)
    name = a.schedule if a.schedule == "linear" else ("constant_with_warmup" if a.warmup else "constant")
    sched = get_scheduler(name, opt, num_warmup_steps=a.warmup, num_training_steps=a.steps)
    ip = processor.image_processor
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=a.bf16_autocast)

    def logits(images: np.ndarray):
        batch = ip(images=list(images.transpose(0, 2, 3, 1)), return_tensors="pt")
        with autocast:
            lat = image_latents(tower, batch["pixel_values"].to(device), batch["image_grid_thw"].to(device))
            out = head(torch.stack([pool(z) for z in lat]))
        return out.float().view(-1, len(tc.PROPS), k)

    @torch.no_grad()
    def evaluate() -> dict:
        tower.eval()
        out = {}
        for name, (x, y) in data.items():
            x, y = (x[:300], y[:300]) if name == "train" else (x, y)
            pred = torch.cat([logits(x[i:i + 100]).argmax(-1).cpu() for i in range(0, len(x), 100)])
            acc = (pred == torch.as_tensor(y)).float().mean(0)
            out[name] = {p: round(float(acc[j]), 4) for j, p in enumerate(tc.PROPS)}
        tower.train()
        return out

    x_train, y_train = data["train"]
    y_train = torch.as_tensor(y_train).long()
    history, losses, norms = [], [], []
    t0 = time.perf_counter()
    for step in range(1, a.steps + 1):
        idx = np.random.randint(0, len(x_train), a.batch_size)
        loss = torch.nn.functional.cross_entropy(logits(x_train[idx]).reshape(-1, k),
                                                 y_train[idx].reshape(-1).to(device))
        opt.zero_grad()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm or float("inf"))))
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % a.eval_every == 0 or step == a.steps:
            row = {"step": step, "loss": float(np.mean(losses[-a.eval_every:])),
                   "grad_norm_median": float(np.median(norms[-a.eval_every:])), "lr": sched.get_last_lr()[0],
                   "acc": evaluate()}
            history.append(row)
            print(f"step {step:5d}  loss {row['loss']:.3f}  " + "  ".join(
                f"{g}: " + "/".join(f"{row['acc'][g][p]:.2f}" for p in tc.PROPS) for g in row["acc"]), flush=True)
    final = history[-1]
    tokens = int(batch_tokens(processor, data["train"][0][:1]))
    print(f"\n{a.model} tower, {a.tactile_view} view, {a.pool} pool, {tokens} tokens per image, {a.steps} steps: "
          "accuracy hardness / roughness / bumpiness")
    for g, acc in final["acc"].items():
        print(f"  {g:16s} " + " / ".join(f"{acc[p]:.3f}" for p in tc.PROPS))
    result = {"args": vars(a), "device": device, "torch": torch.__version__, "render_s": render_s,
              "train_s": time.perf_counter() - t0, "train_images": len(x_train), "tokens_per_image": tokens,
              "ln_k": float(np.log(k)), "history": history,
              "final": final["acc"]}
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1))
        print(f"wrote {a.out}")


def batch_tokens(processor, images: np.ndarray) -> int:
    """Merged tokens the language model would read per image (the first image of ``images``)."""
    grid = processor.image_processor(images=list(images.transpose(0, 2, 3, 1)), return_tensors="pt")["image_grid_thw"]
    return int(grid[0].prod()) // processor.image_processor.merge_size ** 2


if __name__ == "__main__":
    main()
