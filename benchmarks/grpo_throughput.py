"""GRPO step and rollout throughput of an offline preset on the current device (prints numbers; not a test).

    python benchmarks/grpo_throughput.py --model small --task touch --steps 8
    python benchmarks/grpo_throughput.py --model qwen2.5-vl-7b-arch --mode rollout --batch 32 --new-tokens 128
    python benchmarks/grpo_throughput.py --model tiny --steps 2 --set touch.train_contacts=8   # CPU smoke run

Modes:
  grpo     real TRL GRPO steps (generation + loss + optimizer) on a registered task's data
  rollout  HFGenerator.generate on the task's prompts (the swappable rollout path), tokens/s
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    # Data builds render in spawned processes, which re-import this file: nothing may run at import.
    # ---------------------------------------------------------------- args
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="touch", help="registered task (see `embodied-r1 tasks`)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="task data settings, as in train overrides: touch.train_contacts=64")
    p.add_argument("--model", default="small")
    p.add_argument("--mode", choices=["grpo", "rollout"], default="grpo")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=16, help="grpo: per-device batch (completions); rollout: prompts")
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--lora", action="store_true")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()

    import torch

    from embodied_r1.config import ModelConfig, load_config
    from embodied_r1.data import load_or_build
    from embodied_r1.models.factory import count_parameters, make_model, make_peft_config
    from embodied_r1.registry import REGISTRY

    task = REGISTRY.make(args.task)
    task_cfg = load_config(None, [f"task={args.task}", *args.set], lambda n: REGISTRY.get_class(n).config_cls).task_config
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dev_name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"

    # ---------------------------------------------------------------- data + model
    t0 = time.time()
    data, _ = load_or_build(task, task_cfg, seed=0)
    train = data["train"]
    t_data = time.time() - t0
    t0 = time.time()
    model, proc = make_model(ModelConfig(name=args.model, lora=args.lora), seed=0)
    n_params = count_parameters(model)
    t_model = time.time() - t0
    print(f"device={dev_name} model={args.model} params={n_params / 1e6:.1f}M task={args.task} rows={len(train)} "
          f"data_s={t_data:.1f} model_s={t_model:.1f}", flush=True)
    result = {"device": dev_name, "model": args.model, "params": n_params, "task": args.task, "mode": args.mode}

    if args.mode == "rollout":
        # ------------------------------------------------------------ rollout throughput
        from embodied_r1.rollout import HFGenerator

        model = model.to(device)
        # Random weights stop at arbitrary points; force full-length answers so the token count is known.
        gen = HFGenerator(model, proc, batch_size=args.batch, generate_kwargs={"min_new_tokens": args.new_tokens})
        rows = [train[i] for i in range(args.batch)]
        prompts, images = [r["prompt"] for r in rows], [r["images"] for r in rows]
        gen.generate(prompts[:2], images[:2], max_new_tokens=4)  # warm-up
        times = []
        for _ in range(max(1, args.steps)):
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.time()
            out = gen.generate(prompts, images, max_new_tokens=args.new_tokens, temperature=1.0)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.time() - t)
        ntok = len(out) * args.new_tokens  # min_new_tokens == max_new_tokens: every answer has this many tokens
        best = min(times)
        result.update(batch=args.batch, new_tokens=args.new_tokens, seconds=best, generated_tokens=ntok,
                      tokens_per_s=ntok / best)
        print(f"rollout: batch={args.batch} new_tokens={args.new_tokens} best_of_{len(times)}={best:.2f}s "
              f"generated={ntok} tok -> {ntok / best:.0f} tok/s")
    else:
        # ------------------------------------------------------------ GRPO steps
        from embodied_r1.trainer import make_grpo_trainer

        out_dir = Path(os.environ.get("BENCH_OUT", "/tmp/grpo_bench"))
        section = dict(max_steps=args.steps, per_device_train_batch_size=args.batch, num_generations=args.generations,
                       max_completion_length=args.new_tokens, learning_rate=1e-5, log_completions=False, report_to=[],
                       save_strategy="no", logging_steps=1)
        trainer = make_grpo_trainer(task, task_cfg, model, proc, train, section, out_dir, seed=0,
                                    peft_config=make_peft_config(ModelConfig(name=args.model, lora=args.lora)))
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t = time.time()
        trainer.train()
        wall = time.time() - t
        logs = [h for h in trainer.state.log_history if "step_time" in h]
        step_times = [h["step_time"] for h in logs]
        steady = step_times[1:] or step_times
        toks = [h.get("completions/mean_length", 0) * args.batch for h in logs]
        peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
        result.update(steps=args.steps, batch=args.batch, generations=args.generations, wall_s=wall,
                      mean_step_s=sum(steady) / len(steady), completion_tokens_per_s=sum(toks[1:]) / max(sum(steady), 1e-9),
                      peak_gpu_gib=peak, final_reward=logs[-1].get("reward") if logs else None)
        print(f"grpo: steps={args.steps} batch={args.batch} G={args.generations} wall={wall:.1f}s "
              f"mean_step={result['mean_step_s']:.2f}s completion_tok/s={result['completion_tokens_per_s']:.0f} "
              f"peak_gpu={peak:.1f}GiB")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
