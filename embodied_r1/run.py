"""``embodied-r1 train``: build data, model and trainer for each stage, in one run directory."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from transformers import TrainerCallback

from embodied_r1.checkpoints import checkpoint_step
from embodied_r1.config import TrainConfig
from embodied_r1.data import load_or_build
from embodied_r1.errors import UserError
from embodied_r1.models.factory import make_model, make_peft_config, save_model_info
from embodied_r1.monitor import CompactProgress, SignalMonitor
from embodied_r1.plots import plot_run
from embodied_r1.preflight import check_run
from embodied_r1.registry import make_task
from embodied_r1.rundir import MetricsCallback, RunDir, write_samples


class PreemptionCallback(TrainerCallback):
    """On SIGTERM/SIGUSR1 (a cluster's preemption notice), save a checkpoint at the end of the step and stop.

    The signal may reach only some ranks of an ``accelerate launch``; the request is reduced (max) across ranks
    at every step end, so every rank saves and stops at the same step. The stage is then left unfinished, and
    ``--resume`` continues from that checkpoint.
    """

    def __init__(self):
        self.requested = False
        self._old = {}

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def uninstall(self):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum, frame):
        self.requested = True

    def _any_rank_requested(self, device) -> bool:
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self.requested
        flag = torch.tensor([1.0 if self.requested else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    def on_step_end(self, args, state, control, **kwargs):
        if self._any_rank_requested(args.device):
            self.requested = True
            control.should_save = True
            control.should_training_stop = True
        return control


class Preempted(Exception):
    """Training stopped on a preemption signal after saving a checkpoint."""


def default_output(task: str) -> Path:
    return Path("runs") / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"


def _save_final(model, processor, path: Path, origin: str) -> None:
    model.save_pretrained(str(path))
    processor.save_pretrained(str(path))
    save_model_info(path, model, origin)


def _unwrap(model, lora: bool):
    if lora and hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def train(cfg: TrainConfig, resume: bool = False, log=print) -> RunDir | None:
    """Run the configured stages; returns the run directory (None on the other ranks of a distributed run).

    Everything that can be checked without work is checked first (:mod:`embodied_r1.preflight`); a new run
    whose start fails before its first stage trains leaves no folder behind.

    Args:
        cfg: Resolved config (on resume: the run's own, checked by the CLI).
        resume: Continue an existing run directory from its last complete checkpoint.
        log: Where progress lines go.

    Raises:
        UserError: Bad config, data or output directory.
        Preempted: A preemption signal stopped training after a checkpoint.
        StageError: A stage trained no step.
    """
    from accelerate import PartialState

    state = PartialState()  # one process, or one of several under `accelerate launch`
    task = make_task(cfg.task)
    check_run(cfg, task, state.num_processes)
    run = RunDir(cfg.output_dir or default_output(cfg.task))
    cfg.output_dir = str(run.path)
    run.check(cfg, resume)  # every rank checks the folder before the main process writes to it
    state.wait_for_everyone()
    created = run.create(cfg) if state.is_main_process else False
    state.wait_for_everyone()
    log(f"run directory: {run.path}")
    started = False
    try:
        with state.main_process_first():  # the main process builds the cache, the others then read it
            data, data_path = load_or_build(task, cfg.task_config, cfg.seed, num_workers=cfg.data_workers)
        log(f"dataset: {data_path} ({', '.join(f'{k}={len(v)}' for k, v in data.items())})")
        train_ds = data["train"]
        if cfg.max_train_samples:
            train_ds = train_ds.shuffle(seed=cfg.seed).select(range(min(cfg.max_train_samples, len(train_ds))))
        model, processor = make_model(cfg.model, seed=cfg.seed)
        started = True
        _run_stages(cfg, task, model, processor, train_ds, run, resume, state, log)
    except BaseException:
        if not started and not resume and state.is_main_process:
            run.remove_new(created)  # a failed start leaves nothing that would block the retry
        raise
    finally:
        run.unlock()
    if not state.is_main_process:
        return None
    write_samples(run)
    plots = plot_run(run.read_metrics(), run.path / "plots")
    for p in plots:
        log(f"plot: {p}")
    return run


def _run_stages(cfg, task, model, processor, train_ds, run, resume, state, log):
    from transformers import Qwen2_5_VLForConditionalGeneration

    peft_config = make_peft_config(cfg.model)
    stages = list(cfg.stages)
    for i, stage in enumerate(stages):
        final = run.path / "final" if i == len(stages) - 1 else run.stage_dir(stage) / "final"
        if run.is_done(stage) and (final / "config.json").exists():
            log(f"stage {stage}: already done, loading {final}")
            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(final), dtype=model.dtype)
            continue
        model = _run_stage(stage, cfg, task, model, processor, train_ds, run, peft_config, resume, log, state)
        model = _unwrap(model, cfg.model.lora)
        if state.is_main_process:
            _save_final(model, processor, final, cfg.model.name)
            run.mark_done(stage)
        state.wait_for_everyone()
        log(f"stage {stage}: done, model saved to {final}")


class StageError(UserError):
    """A stage ended without training (no batch could be formed, or no step ran)."""


def _resume_point(run: RunDir, stage: str, log, main: bool = True) -> str | None:
    """The newest complete checkpoint of ``stage``; the main process reports and removes incomplete newer ones
    and drops from ``metrics.jsonl`` the rows the resumed stage will log again."""
    import shutil

    ckpt, skipped = run.last_checkpoint(stage)
    if not main:
        return ckpt
    for path, why in skipped:
        log(f"stage {stage}: skipping incomplete {Path(path).name} ({why}); removed it")
        shutil.rmtree(path, ignore_errors=True)
    dropped = run.truncate_metrics(stage, checkpoint_step(ckpt) if ckpt else 0)
    if dropped:
        log(f"stage {stage}: dropped {dropped} metrics rows logged after the resume point")
    return ckpt


def _run_stage(stage, cfg, task, model, processor, train_ds, run, peft_config, resume, log, state):
    from embodied_r1.trainer import make_grpo_trainer, make_sft_trainer

    out = run.stage_dir(stage)
    pre = PreemptionCallback().install()
    monitor = SignalMonitor(log) if stage == "grpo" else None
    callbacks = [MetricsCallback(run, stage), pre] + ([monitor] if monitor else [])
    if stage == "sft":
        trainer = make_sft_trainer(task, model, processor, train_ds, cfg.sft, out, cfg.seed, peft_config, callbacks)
    else:
        trainer = make_grpo_trainer(task, cfg.task_config, model, processor, train_ds, cfg.grpo, out, cfg.seed,
                                    peft_config, callbacks, rollout=cfg.rollout)
        if len(trainer._get_train_sampler()) == 0:
            raise StageError(f"stage grpo: the group sampler formed no batch from {len(train_ds)} rows (groups of "
                             f"'{task.group_column}' do not fill grpo.per_device_train_batch_size / num_generations "
                             f"prompts); use a batch that is a multiple of the group size or more rows")
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)  # its full metrics dict every step drowns the console
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(CompactProgress(stage, cfg.log_every))
    ckpt = _resume_point(run, stage, log, state.is_main_process) if resume else None
    if ckpt:
        log(f"stage {stage}: resuming from {ckpt}")
    start = checkpoint_step(ckpt) if ckpt else 0
    log(f"stage {stage}: training ({trainer.args.max_steps} steps)")
    try:
        trainer.train(resume_from_checkpoint=ckpt)
    finally:
        pre.uninstall()
    if state.num_processes > 1:  # each rank says where it stopped: they must agree
        print(f"stage {stage}: rank {state.process_index} stopped at step {trainer.state.global_step}", flush=True)
    if pre.requested:
        raise Preempted(f"stage {stage} preempted at step {trainer.state.global_step}; checkpoint saved in {out}; "
                        f"continue with --resume --output {run.path}")
    if trainer.state.global_step <= start < trainer.args.max_steps:
        raise StageError(f"stage {stage} trained no step (step {trainer.state.global_step} of "
                         f"{trainer.args.max_steps}); check that the data holds enough rows for one batch")
    if monitor is not None and monitor.warning and state.is_main_process:
        run.write_info(warnings=[*run.info().get("warnings", []), monitor.warning])
    return trainer.model
