"""SFT steps/s and the data-wait share of the step: TRL's collator (images processed every batch) against prepared
inputs (processed once, cached with the rows; :mod:`embodied_r1.inputs`). Prints numbers, writes a JSON.

    # the issue's case: the `small` preset at batch 64 on touch rows, one GPU, as configs/touch_small_gpu.yaml
    python benchmarks/sft_input.py --model small --batch 64 --steps 40 --arms prepared \
        --sft gradient_checkpointing=false dataloader_num_workers=2 --json sft_input.json
    # CPU smoke run
    python benchmarks/sft_input.py --model tiny --batch 4 --steps 3 --set touch.train_contacts=8 touch.test_contacts=2

Arms (same model, rows, seed and SFT settings): ``trl`` and ``trl_w8`` (TRL's collator with 0 and 8 dataloader
workers), ``prepared`` (prepared inputs, no worker). Each step is timed from ``on_step_begin`` to ``on_step_end``
with the GPU synchronised at its end, so the gap between one step's end and the next step's begin is the time
the loop waited for its batch (fetch + collate; logging is off). The first ``--warmup`` steps are left out.
The one-off preparation time of the ``prepared`` arm (cold, then cached) is reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _arm(name, args, task, train, out_dir):
    import torch
    from transformers import TrainerCallback

    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model
    from embodied_r1.trainer import make_sft_trainer

    class Clock(TrainerCallback):
        def __init__(self):
            self.begin, self.end = [], []

        def on_step_begin(self, a, state, control, **kw):
            self.begin.append(time.perf_counter())

        def on_step_end(self, a, state, control, **kw):
            _sync()
            self.end.append(time.perf_counter())

    model, processor = make_model(ModelConfig(name=args.model, vision_attention=args.vision_attention,
                                               cudnn_attention=args.cudnn_attention), seed=0)
    clock = Clock()
    section = {"max_steps": args.steps, "per_device_train_batch_size": args.batch, "logging_steps": 10 ** 6,
               "save_strategy": "no", "report_to": [], "learning_rate": 1e-4, "dataloader_num_workers": 0}
    for item in args.sft:
        key, _, value = item.partition("=")
        section[key] = yaml.safe_load(value)
    if name == "trl_w8":
        section["dataloader_num_workers"] = 8
    t = time.perf_counter()
    trainer = make_sft_trainer(task, model, processor, train, section, out_dir / name, seed=0,
                               callbacks=[clock], prepared_inputs=name == "prepared")
    build_s = time.perf_counter() - t
    _sync()
    t = time.perf_counter()
    trainer.train()
    _sync()
    wall = time.perf_counter() - t
    w = args.warmup
    steps = [e - b for b, e in zip(clock.begin[w:], clock.end[w:])]
    waits = [b - e for e, b in zip(clock.end[w:-1], clock.begin[w + 1:])]
    total = sum(steps) + sum(waits)
    res = dict(steps_per_s=(len(waits)) / (sum(steps[:-1]) + sum(waits)) if waits else 0.0,
               step_compute_s=sum(steps) / len(steps), data_wait_s=sum(waits) / max(1, len(waits)),
               data_wait_share=sum(waits) / total if total else 0.0, wall_s=wall, trainer_build_s=build_s,
               timed_steps=len(steps), dataloader_num_workers=section["dataloader_num_workers"])
    if args.profile and name == "prepared":
        res["profile"] = _profile(trainer)
    if torch.cuda.is_available():
        res["peak_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
        torch.cuda.reset_peak_memory_stats()
    print(f"[{name}] {res['steps_per_s']:.2f} steps/s  step {1000 * res['step_compute_s']:.1f} ms  data wait "
          f"{1000 * res['data_wait_s']:.1f} ms ({100 * res['data_wait_share']:.1f}% of the step)  "
          f"trainer build {build_s:.1f} s", flush=True)
    return res


def _profile(trainer, steps: int = 3) -> str:
    """torch.profiler table (top ops by self device time, then by self CPU time) of a few forward+backward
    passes of the trained model on one collated batch."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    batch = next(iter(trainer.get_train_dataloader()))
    batch = {k: v.to(trainer.args.device) for k, v in batch.items()}
    model = trainer.model
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if torch.cuda.is_available() else torch.autocast("cpu", enabled=False)
    with profile(activities=acts) as prof:
        for _ in range(steps):
            with ctx:
                loss = model(**batch).loss
            loss.backward()
            _sync()
    key = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=key, row_limit=25)
    cpu = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    print(table + "\n" + cpu, flush=True)
    return table + "\n" + cpu


def task_arguments(doc: str) -> argparse.ArgumentParser:
    """A parser with the options every SFT-input benchmark shares: ``--task``, ``--set`` and ``--model``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="touch")
    p.add_argument("--set", nargs="*", default=["touch.train_contacts=1000", "touch.test_contacts=10"],
                   metavar="KEY=VALUE", help="task data settings, as in train overrides")
    p.add_argument("--model", default="small")
    return p


def task_train_rows(args):
    """The task and its train split for ``--task`` and ``--set`` (built, or read from the data cache)."""
    from embodied_r1.config import load_config
    from embodied_r1.data import load_or_build
    from embodied_r1.registry import REGISTRY

    task = REGISTRY.make(args.task)
    task_cfg = load_config(None, [f"task={args.task}", *args.set],
                           lambda n: REGISTRY.get_class(n).config_cls).task_config
    data, _ = load_or_build(task, task_cfg, seed=0)
    return task, data["train"]


def main() -> None:
    p = task_arguments(__doc__)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5, help="first steps left out of the means")
    p.add_argument("--arms", nargs="+", default=["trl", "trl_w8", "prepared"], choices=["trl", "trl_w8", "prepared"])
    p.add_argument("--sft", nargs="*", default=[], metavar="KEY=VALUE",
                   help="extra trl.SFTConfig settings for every arm: gradient_checkpointing=false")
    p.add_argument("--vision-attention", default="grouped", choices=["grouped", "per_window"],
                   help="model.vision_attention of every arm")
    p.add_argument("--cudnn-attention", action="store_true",
                   help="model.cudnn_attention=true: let SDPA use its cuDNN backend (off by default)")
    p.add_argument("--profile", action="store_true", help="profile a few steps of the prepared arm's model")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()
    args.warmup = min(args.warmup, max(0, args.steps - 2))

    import tempfile

    import torch

    task, train = task_train_rows(args)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"device={device} model={args.model} batch={args.batch} rows={len(train)}", flush=True)
    result = {"device": device, "model": args.model, "task": args.task, "batch": args.batch,
              "settings": {k: v for k, v in vars(args).items() if k != "json"}, "arms": {}}
    if "prepared" in args.arms:  # the one-off preparation, cold, so that the arm below reads the cache
        from embodied_r1.inputs import prepare_sft_inputs
        from embodied_r1.models.factory import make_processor
        from embodied_r1.trainer import sft_dataset

        t = time.perf_counter()
        prepare_sft_inputs(sft_dataset(task, train), make_processor(args.model))
        result["prepare_once_s"] = time.perf_counter() - t
        print(f"preparing {len(train)} rows once: {result['prepare_once_s']:.1f} s (then cached)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for arm in args.arms:
            result["arms"][arm] = _arm(arm, args, task, train, Path(tmp))
    if "trl" in result["arms"] and "prepared" in result["arms"]:
        result["speedup"] = result["arms"]["prepared"]["steps_per_s"] / max(1e-9, result["arms"]["trl"]["steps_per_s"])
        print(f"prepared/trl steps/s = {result['speedup']:.1f}x")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "settings"}))


if __name__ == "__main__":  # data builds spawn workers that re-import this file
    main()
