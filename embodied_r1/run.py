"""``embodied-r1 train``: build data, model and trainer for each stage, in one run directory."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from transformers import TrainerCallback

from embodied_r1.config import TrainConfig
from embodied_r1.data import load_or_build
from embodied_r1.errors import UserError
from embodied_r1.models.factory import make_model, make_peft_config, save_model_info
from embodied_r1.plots import plot_run
from embodied_r1.registry import make_task
from embodied_r1.rundir import MetricsCallback, RunDir, write_samples


class PreemptionCallback(TrainerCallback):
    """On SIGTERM/SIGUSR1 (a cluster's preemption notice), save a checkpoint at the end of the step and stop.

    The stage is then left unfinished, and ``--resume`` continues from that checkpoint.
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

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested:
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


def train(cfg: TrainConfig, resume: bool = False, log=print) -> RunDir:
    """Run the configured stages; returns the run directory.

    Args:
        cfg: Resolved config.
        resume: Continue an existing run directory from its last checkpoint.
        log: Where progress lines go.

    Raises:
        UserError: Bad config, data or output directory.
        Preempted: A preemption signal stopped training after a checkpoint.
    """
    from accelerate import PartialState

    state = PartialState()  # one process, or one of several under `accelerate launch`
    task = make_task(cfg.task)
    run = RunDir(cfg.output_dir or default_output(cfg.task))
    cfg.output_dir = str(run.path)
    run.prepare(cfg, resume, write=state.is_main_process)
    state.wait_for_everyone()
    log(f"run directory: {run.path}")
    with state.main_process_first():  # the main process builds the cache, the others then read it
        data, data_path = load_or_build(task, cfg.task_config, cfg.seed)
    log(f"dataset: {data_path} ({', '.join(f'{k}={len(v)}' for k, v in data.items())})")
    train_ds = data["train"]
    if cfg.max_train_samples:
        train_ds = train_ds.shuffle(seed=cfg.seed).select(range(min(cfg.max_train_samples, len(train_ds))))
    model, processor = make_model(cfg.model, seed=cfg.seed)
    peft_config = make_peft_config(cfg.model)
    stages = list(cfg.stages)
    for i, stage in enumerate(stages):
        final = run.path / "final" if i == len(stages) - 1 else run.stage_dir(stage) / "final"
        if run.is_done(stage) and (final / "config.json").exists():
            log(f"stage {stage}: already done, loading {final}")
            from transformers import Qwen2_5_VLForConditionalGeneration

            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(final), dtype=model.dtype)
            continue
        model = _run_stage(stage, cfg, task, model, processor, train_ds, run, peft_config, resume, log)
        model = _unwrap(model, cfg.model.lora)
        if state.is_main_process:
            _save_final(model, processor, final, cfg.model.name)
            run.mark_done(stage)
        state.wait_for_everyone()
        log(f"stage {stage}: done, model saved to {final}")
    if not state.is_main_process:
        return run
    write_samples(run)
    plots = plot_run(run.read_metrics(), run.path / "plots")
    for p in plots:
        log(f"plot: {p}")
    return run


def _run_stage(stage, cfg, task, model, processor, train_ds, run, peft_config, resume, log):
    from embodied_r1.trainer import make_grpo_trainer, make_sft_trainer

    out = run.stage_dir(stage)
    pre = PreemptionCallback().install()
    callbacks = [MetricsCallback(run, stage), pre]
    if stage == "sft":
        trainer = make_sft_trainer(task, model, processor, train_ds, cfg.sft, out, cfg.seed, peft_config, callbacks)
    else:
        trainer = make_grpo_trainer(task, cfg.task_config, model, processor, train_ds, cfg.grpo, out, cfg.seed,
                                    peft_config, callbacks)
    ckpt = run.last_checkpoint(stage) if resume else None
    if ckpt:
        log(f"stage {stage}: resuming from {ckpt}")
    log(f"stage {stage}: training ({trainer.args.max_steps} steps)")
    try:
        trainer.train(resume_from_checkpoint=ckpt)
    finally:
        pre.uninstall()
    if pre.requested:
        raise Preempted(f"stage {stage} preempted at step {trainer.state.global_step}; checkpoint saved in {out}; "
                        f"continue with --resume --output {run.path}")
    return trainer.model
