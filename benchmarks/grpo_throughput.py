"""GRPO and generation throughput: vanilla TRL against the project's core with the ``fast`` engine (prints numbers).

    # GRPO, three arms in one process on one GPU (same model, data shape and GRPO settings):
    #   trl      vanilla trl.GRPOTrainer with its defaults (HF generate), the task's rewards minus counterfactual ones
    #   fast     the project's core (EmbodiedGRPOTrainer) with rollout.engine=fast, the same rewards
    #   fast_cf  the same with the task's counterfactual rewards and their variants answered in the rollout call
    python benchmarks/grpo_throughput.py --model qwen2.5-vl-3b-arch --lora --steps 6 --json docs/results/perf/grpo_3b.json
    # two GPUs of one node, the core with the fast engine only (each rank's tokens/s, their sum; JSON from rank 0):
    #   NCCL_NVLS_ENABLE=0 accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 \
    #       benchmarks/grpo_throughput.py --arms fast --model qwen2.5-vl-7b-arch --lora --json docs/results/perf/x.json
    #   (configs/accelerate/fsdp.yaml for FSDP2: the engine decodes on a per-rank full copy of the weights)
    # generation only: HF generate against the fast engine at 64 and 256 sequences
    python benchmarks/grpo_throughput.py --mode generate --model qwen2.5-vl-3b-arch --seqs 64 256 --new-tokens 128
    # CPU smoke run
    python benchmarks/grpo_throughput.py --model tiny --steps 2 --batch 8 --generations 4 --new-tokens 4 \\
        --set touch.train_contacts=8 touch.test_contacts=2

Completions have a fixed length (random weights never stop: min = max new tokens), so token counts are known.
tokens/s/GPU counts this process's prompt + completion tokens over step time, as EasyR1 does (TRL's
``num_tokens`` of one process); under ``accelerate launch`` each rank reports its own and the JSON adds the sum.
The step-time breakdown times TRL's own phases: generation (``_generate``: the rollout, and in ``fast_cf`` the
counterfactual answers of the same engine call), logprobs (``_get_per_token_logps_and_entropies`` outside the
loss) and the rest of the step (loss forward, backward, optimizer). The first step (graph capture) is reported
apart and left out of the means.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


class _Timer:
    """Wraps a bound method of ``obj`` and adds up its wall time (only calls without autograd when
    ``no_grad_only``: the logprob passes, not the loss forward). With ``count_tokens`` (TRL's ``_generate``, whose
    first two results are this process's prompt and completion ids) it also adds up their tokens."""

    def __init__(self, obj, name, no_grad_only=False, count_tokens=False):
        import torch

        self.total, self.tokens, self.obj, self.name = 0.0, 0, obj, name
        fn = getattr(obj, name)

        def timed(*a, **kw):
            if no_grad_only and torch.is_grad_enabled():
                return fn(*a, **kw)
            _sync()
            t = time.perf_counter()
            try:
                out = fn(*a, **kw)
                if count_tokens:
                    self.tokens += sum(len(x) for x in out[0]) + sum(len(x) for x in out[1])
                return out
            finally:
                _sync()
                self.total += time.perf_counter() - t

        setattr(obj, name, timed)


def _free():
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _grpo_arm(arm, args, task, task_cfg, train, device):
    """Train ``args.steps`` GRPO steps in one arm; returns its figures."""
    import torch
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model, make_peft_config
    from embodied_r1.rollout import RolloutConfig
    from embodied_r1.trainer import build_reward_funcs, make_grpo_args, make_grpo_trainer

    _free()
    mcfg = ModelConfig(name=args.model, lora=args.lora)
    model, proc = make_model(mcfg, seed=0)
    out_dir = Path(os.environ.get("BENCH_OUT", "/tmp/grpo_bench")) / arm
    section = dict(max_steps=args.steps, per_device_train_batch_size=args.batch, num_generations=args.generations,
                   max_completion_length=args.new_tokens, learning_rate=1e-5, log_completions=False, report_to=[],
                   save_strategy="no", logging_steps=1, generation_kwargs={"min_new_tokens": args.new_tokens})
    task.__dict__.pop("reward_specs", None)  # the task's own rewards (an earlier arm may have narrowed them)
    specs = task.reward_specs(task_cfg)
    has_cf = any(s.counterfactuals for s in specs)
    if arm == "fast_cf" and not has_cf:
        return None
    if arm in ("trl", "fast"):  # the same rewards in both, none that needs counterfactual answers
        keep = [s for s in specs if not s.counterfactuals]
        task.reward_specs = lambda cfg, _keep=keep: _keep
    peft = make_peft_config(mcfg)
    if arm == "trl":
        funcs, weights = build_reward_funcs(task, task_cfg)
        grpo_args = make_grpo_args(section, out_dir, 0, weights, [f.__name__ for f in funcs])
        trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=grpo_args, train_dataset=train,
                              processing_class=proc, peft_config=peft)
    else:
        trainer = make_grpo_trainer(task, task_cfg, model, proc, train, section, out_dir, seed=0, peft_config=peft,
                                    rollout=RolloutConfig(engine="fast", max_batch=args.max_batch))
    gen_t = _Timer(trainer, "_generate", count_tokens=True)
    lp_t = _Timer(trainer, "_get_per_token_logps_and_entropies", no_grad_only=True)
    steps: list[dict] = []

    class Record(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            _sync()
            self.t = time.perf_counter()
            self.g, self.l, self.tok = gen_t.total, lp_t.total, gen_t.tokens

        def on_step_end(self, a, state, control, **kw):
            _sync()
            steps.append(dict(step_s=time.perf_counter() - self.t, gen_s=gen_t.total - self.g,
                              logp_s=lp_t.total - self.l, tokens=gen_t.tokens - self.tok))

    trainer.add_callback(Record())
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    steady = steps[1:] or steps
    n = len(steady)
    mean = {k: sum(s[k] for s in steady) / n for k in steady[0]}
    completions = args.batch  # per device per step
    res = dict(arm=arm, steps=len(steps), first_step_s=steps[0]["step_s"], mean_step_s=mean["step_s"],
               tokens_per_s_per_gpu=mean["tokens"] / mean["step_s"],
               rollouts_per_s=completions / mean["step_s"],
               generation_new_tok_per_s=completions * args.new_tokens / max(mean["gen_s"], 1e-9),
               breakdown_s=dict(generation=mean["gen_s"], logprobs=mean["logp_s"],
                                loss_backward_optimizer=mean["step_s"] - mean["gen_s"] - mean["logp_s"]),
               tokens_per_step=mean["tokens"],
               peak_gpu_gib=torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
               rewards=[r.__name__ for r in trainer.reward_funcs],
               final_reward=next((h["reward"] for h in reversed(trainer.state.log_history) if "reward" in h), None))
    if arm != "trl":
        engine = trainer.rollout_engine(trainer)
        res["engine_stats"] = dict(getattr(engine, "stats", {}))
    rank = f" rank {trainer.accelerator.process_index}" if trainer.accelerator.num_processes > 1 else ""
    print(f"[{arm}{rank}] step {res['mean_step_s']:.3f}s (first {res['first_step_s']:.1f}s)  "
          f"{res['tokens_per_s_per_gpu']:.0f} tok/s/GPU  {res['rollouts_per_s']:.1f} rollouts/s  "
          f"gen {res['generation_new_tok_per_s']:.0f} new tok/s  breakdown "
          + " ".join(f"{k}={v:.3f}s" for k, v in res["breakdown_s"].items())
          + (f"  peak {res['peak_gpu_gib']:.1f} GiB" if res["peak_gpu_gib"] else ""), flush=True)
    del trainer, model
    _free()
    return res


def _profile(model, proc, reqs, args):
    """Where a fast-engine call's time goes: GPU kernel time per decode step against wall time per step, and the
    kernels that take most of it (torch.profiler)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from embodied_r1.rollout import RolloutConfig, make_rollout

    engine = make_rollout(RolloutConfig(engine="fast", max_batch=len(reqs)), model, proc)
    engine.generate(reqs)  # capture and compile outside the profile
    _sync()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t = time.perf_counter()
        engine.generate(reqs)
        _sync()
        wall = time.perf_counter() - t
    events = [e for e in prof.key_averages() if e.device_type.name == "CUDA"]
    total = sum(e.self_device_time_total for e in events) / 1e6
    top = sorted(events, key=lambda e: -e.self_device_time_total)[:8]
    steps = args.new_tokens
    out = dict(seqs=len(reqs), wall_s=wall, gpu_kernel_s=total, wall_ms_per_step=1000 * wall / steps,
               gpu_ms_per_step=1000 * total / steps,
               top_kernels=[dict(name=e.key[:90], ms_per_step=e.self_device_time_total / 1e3 / steps, calls=e.count)
                            for e in top])
    print(f"[profile fast] seqs={len(reqs)} wall {out['wall_ms_per_step']:.2f} ms/step, GPU kernels "
          f"{out['gpu_ms_per_step']:.2f} ms/step", flush=True)
    for k in out["top_kernels"]:
        print(f"    {k['ms_per_step']:.3f} ms/step  x{k['calls']}  {k['name']}", flush=True)
    engine.release()
    return out


def _generate_mode(args, train, device):
    """HF generate against the fast engine on the task's prompts, fixed-length answers."""
    import torch

    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model
    from embodied_r1.rollout import RolloutConfig, RolloutRequest, SamplingParams, make_rollout

    model, proc = make_model(ModelConfig(name=args.model), seed=0)
    model.eval()
    rows = [train[i % len(train)] for i in range(max(args.seqs))]
    sampling = SamplingParams(temperature=1.0, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
    out = []
    for seqs in args.seqs:
        reqs = [RolloutRequest(r["prompt"], r["images"], 1, sampling) for r in rows[:seqs]]
        res = dict(seqs=seqs, new_tokens=args.new_tokens)
        for name in args.engines:
            engine = make_rollout(RolloutConfig(engine=name, max_batch=max(args.seqs), batch_size=seqs), model, proc)
            _sync()
            t = time.perf_counter()
            first = engine.generate(reqs)  # warm-up (graph capture for fast)
            _sync()
            warm = time.perf_counter() - t
            for k in [k for k in getattr(engine, "stats", {}) if k.endswith("_s")]:
                engine.stats[k] = 0.0  # phases of the timed calls only
            times = []
            for _ in range(args.repeats):
                _sync()
                t = time.perf_counter()
                got = engine.generate(reqs)
                _sync()
                times.append(time.perf_counter() - t)
            ntok = sum(len(s[0].completion_ids) for s in got)
            best = min(times)
            stats = {k: v / args.repeats for k, v in getattr(engine, "stats", {}).items() if k.endswith("_s")}
            res[name] = dict(seconds=best, warmup_s=warm, new_tok_per_s=ntok / best, new_tokens_total=ntok,
                             phases_s_per_call=stats,
                             ms_per_step=1000 * best / args.new_tokens,
                             prompt_tokens_mean=sum(len(s[0].prompt_ids) for s in first) / len(first))
            print(f"[generate {name}] seqs={seqs} {ntok / best:.0f} new tok/s ({1000 * best / args.new_tokens:.1f} "
                  f"ms/token step, warm-up {warm:.1f}s, prompt {res[name]['prompt_tokens_mean']:.0f} tok)"
                  + ("  phases per call: " + " ".join(f"{k}={v:.3f}" for k, v in stats.items())
                     if stats else ""), flush=True)
            engine.release()
            del engine
            _free()
        if args.profile and "fast" in args.engines:
            res["profile"] = _profile(model, proc, reqs, args)
        if "hf" in res and "fast" in res:
            res["speedup"] = res["fast"]["new_tok_per_s"] / res["hf"]["new_tok_per_s"]
            print(f"[generate] seqs={seqs} fast/hf = {res['speedup']:.1f}x", flush=True)
        out.append(res)
    if device == "cuda":
        print(f"peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return out


def main() -> None:
    # Data builds render in spawned processes, which re-import this file: nothing may run at import.
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="touch", help="registered task (see `embodied-r1 tasks`)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="task data settings, as in train overrides: touch.train_contacts=64")
    p.add_argument("--model", default="small")
    p.add_argument("--mode", choices=["grpo", "generate"], default="grpo")
    p.add_argument("--arms", nargs="+", default=["trl", "fast", "fast_cf"], choices=["trl", "fast", "fast_cf"])
    p.add_argument("--engines", nargs="+", default=["hf", "fast"], choices=["hf", "fast"],
                   help="generate mode: engines to time")
    p.add_argument("--steps", type=int, default=6, help="grpo: steps per arm (the first is left out of the means)")
    p.add_argument("--batch", type=int, default=16, help="grpo: completions per device per step")
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--seqs", type=int, nargs="+", default=[64, 256], help="generate: sequences per call")
    p.add_argument("--repeats", type=int, default=2, help="generate: timed calls per engine (best is kept)")
    p.add_argument("--max-batch", type=int, default=256, help="fast engine: rows decoded together")
    p.add_argument("--profile", action="store_true", help="generate: profile one fast-engine call (GPU kernels)")
    p.add_argument("--lora", action="store_true", help="LoRA on the language model (r16)")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()

    import torch

    from embodied_r1.config import load_config
    from embodied_r1.data import load_or_build
    from embodied_r1.device import process_state
    from embodied_r1.registry import REGISTRY

    state = process_state()  # one process, or one rank of `accelerate launch` (its GPU selected)
    if state.num_processes > 1 and args.mode == "generate":
        raise SystemExit("error: --mode generate runs in one process; run it without accelerate launch")
    task = REGISTRY.make(args.task)
    task_cfg = load_config(None, [f"task={args.task}", *args.set], lambda n: REGISTRY.get_class(n).config_cls).task_config
    device = state.device.type
    dev_name = torch.cuda.get_device_name(state.device) if device == "cuda" else "cpu"
    with state.main_process_first():  # the main process builds the dataset cache, the others read it
        data, _ = load_or_build(task, task_cfg, seed=0)
    train = data["train"]
    result = {"device": dev_name, "model": args.model, "task": args.task, "mode": args.mode, "lora": args.lora,
              "torch": torch.__version__, "settings": {k: v for k, v in vars(args).items() if k != "json"},
              "command": _command_line(), "num_processes": state.num_processes}
    if state.is_main_process:
        print(f"device={dev_name} model={args.model} task={args.task} rows={len(train)} mode={args.mode} "
              f"processes={state.num_processes}", flush=True)
    if args.mode == "generate":
        result["generate"] = _generate_mode(args, train, device)
    else:
        arms = {}
        for arm in args.arms:
            res = _grpo_arm(arm, args, task, task_cfg, train, device)
            if res is not None:
                arms[arm] = _across_ranks(res, state) if state.num_processes > 1 else res
        result["arms"] = arms
        result["accelerate"] = _accelerate_config()
        if "trl" in arms and "fast" in arms:
            result["speedup_tokens_per_s"] = arms["fast"]["tokens_per_s_per_gpu"] / arms["trl"]["tokens_per_s_per_gpu"]
            print(f"fast/trl tokens/s/GPU = {result['speedup_tokens_per_s']:.1f}x")
        if "fast" in arms and "fast_cf" in arms:
            result["counterfactual_step_ratio"] = arms["fast_cf"]["mean_step_s"] / arms["fast"]["mean_step_s"]
            print(f"step with counterfactual variants / without = {result['counterfactual_step_ratio']:.2f}x")
    if not state.is_main_process:
        return
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "settings"}))


def _across_ranks(res: dict, state) -> dict:
    """Rank 0's figures of one arm, with every rank's under ``ranks`` and their tokens/s summed (every rank
    gets the gathered list: a collective, called on all)."""
    from accelerate.utils import gather_object

    ranks = gather_object([dict(res, rank=state.process_index)])
    total = sum(r["tokens_per_s_per_gpu"] for r in ranks)
    if state.is_main_process:
        each = ", ".join(f"{r['tokens_per_s_per_gpu']:.0f}" for r in ranks)
        print(f"[{res['arm']}] {len(ranks)} processes: {total:.0f} tok/s in all ({each} per rank)", flush=True)
    return dict(res, ranks=ranks, tokens_per_s_sum=total)


def _command_line() -> dict:
    """This script's arguments and, under ``accelerate launch``, the launcher's own command line (the parent
    process: its --config_file and --num_processes)."""
    import sys

    out = {"script": sys.argv}
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        parent = []
    if any("accelerate" in a for a in parent[:3]):
        out["launcher"] = [a for a in parent if a]
    return out


def _accelerate_config() -> dict:
    """The distributed settings this process ran under, as accelerate resolved them (its launcher passes the
    config file's settings on as ACCELERATE_* / FSDP_* environment variables)."""
    from accelerate.state import AcceleratorState

    st = AcceleratorState()
    out = {"distributed_type": str(st.distributed_type), "mixed_precision": str(st.mixed_precision),
           "num_processes": st.num_processes,
           "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(("ACCELERATE_", "FSDP_", "NCCL_"))}}
    plugin = getattr(st, "fsdp_plugin", None)
    if plugin is not None:
        out["fsdp"] = {k: str(getattr(plugin, k, None)) for k in (
            "fsdp_version", "reshard_after_forward", "state_dict_type", "transformer_cls_names_to_wrap",
            "cpu_ram_efficient_loading", "activation_checkpointing", "mixed_precision_policy")}
    return out


if __name__ == "__main__":
    from embodied_r1.device import end_process_group

    try:
        main()
    except BaseException:
        end_process_group()
        raise
    end_process_group(synchronise=True)
