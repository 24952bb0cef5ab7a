"""``embodied-r1 train``: build data, model and trainer for each stage, in one run directory."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from transformers import TrainerCallback

from embodied_r1.checkpoints import checkpoint_step
from embodied_r1.config import TrainConfig
from embodied_r1.errors import UserError
from embodied_r1.data import available_cores, load_or_build
from embodied_r1.models.factory import make_model
from embodied_r1.monitor import CompactProgress
from embodied_r1.plots import plot_run
from embodied_r1.preflight import check_run
from embodied_r1.registry import make_task
from embodied_r1.rundir import MetricsCallback, RunDir, write_samples
from embodied_r1.stages import StageContext, StageError, get_stage

__all__ = ["Preempted", "PreemptionCallback", "StageError", "train"]


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


def train(cfg: TrainConfig, resume: bool = False, log=print, config_changed: bool = False) -> RunDir | None:
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
    from embodied_r1.device import process_state

    state = process_state()  # one process, or one of several under `accelerate launch`
    task = make_task(cfg.task)
    check_run(cfg, task, state.num_processes)
    run = RunDir(cfg.output_dir or default_output(cfg.task))
    cfg.output_dir = str(run.path)
    run.check(cfg, resume)  # every rank checks the folder before the main process writes to it
    data_key = _check_same_data(cfg, task, run, resume, config_changed)
    state.wait_for_everyone()
    created = run.create(cfg) if state.is_main_process else False
    if state.is_main_process and data_key and (not resume or config_changed or not run.info().get("dataset_key")):
        run.write_info(dataset_key=data_key)
    state.wait_for_everyone()
    log(f"run directory: {run.path}")
    hint = thread_hint(state.num_processes, os.environ.get("OMP_NUM_THREADS"), available_cores())
    if hint and state.is_main_process:
        log(hint)
    started = False
    try:
        train_ds = _task_rows(cfg, task, state, log) if _uses_task_rows(cfg.stages) else None
        initial = make_model(cfg.model, seed=cfg.seed)
        started = True
        _run_stages(cfg, task, initial, train_ds, run, resume, state, log)
    except BaseException:
        if not started and not resume and state.is_main_process:
            run.remove_new(created)  # a failed start leaves nothing that would block the retry
        raise
    finally:
        run.unlock()
    if not state.is_main_process:
        return None
    write_samples(run)
    plots = plot_run(run.read_metrics(kind=None), run.path / "plots")
    for p in plots:
        log(f"plot: {p}")
    return run


def thread_hint(num_processes: int, omp_threads: str | None, cores: int) -> str | None:
    """One line when every rank of a launch runs its CPU work on one thread (accelerate and torchrun set
    ``OMP_NUM_THREADS=1`` when it is unset): the processor, image hashing and TRL's image processing then
    run single-threaded. Measured on nvidia-h200-x4, GRPO 7B DDP on 4 GPUs: 66% of linear with 1 thread, 86% with 16.

    >>> thread_hint(4, "1", 64)
    'note: OMP_NUM_THREADS=1 in each of the 4 processes (the launcher sets it when unset); on this machine set OMP_NUM_THREADS=16 before `accelerate launch` so their CPU work (processor, image hashing) is not single-threaded'
    >>> thread_hint(4, "16", 64) is None and thread_hint(1, "1", 64) is None and thread_hint(4, "1", 4) is None
    True
    """
    per = cores // max(1, num_processes)
    if num_processes <= 1 or omp_threads != "1" or per < 2:
        return None
    return (f"note: OMP_NUM_THREADS=1 in each of the {num_processes} processes (the launcher sets it when unset); on "
            f"this machine set OMP_NUM_THREADS={per} before `accelerate launch` so their CPU work (processor, image "
            f"hashing) is not single-threaded")


def _check_same_data(cfg: TrainConfig, task, run: RunDir, resume: bool, config_changed: bool) -> str | None:
    """The key of the rows this run trains on; a resume whose unchanged config would now build other rows (the
    task's data code or its defaults changed since the run started) is refused before any work.

    Raises:
        UserError: The recorded and the current dataset keys differ and the config was not changed on purpose.
    """
    from embodied_r1.data import task_dataset_key

    if not _uses_task_rows(cfg.stages):
        return None
    key = task_dataset_key(task, cfg.task_config, cfg.seed)
    recorded = run.info().get("dataset_key") if resume else None
    if recorded and recorded != key and not config_changed:
        raise UserError(f"--resume: this run trained on dataset {recorded}, but its config now builds {key} "
                        f"(task '{task.name}' data version {getattr(task, 'data_version', '1')}: its data code or "
                        f"defaults changed since the run started); pin the old data settings in {run.path}/config.yaml "
                        f"or start a new run")
    return key


def _uses_task_rows(stages) -> bool:
    return any(get_stage(s).uses_task_dataset for s in stages)


def _task_rows(cfg: TrainConfig, task, state, log):
    """The task's training rows (built once into the cache by the main process, read by the others)."""
    with state.main_process_first():
        data, data_path = load_or_build(task, cfg.task_config, cfg.seed, num_workers=cfg.data_workers)
    log(f"dataset: {data_path} ({', '.join(f'{k}={len(v)}' for k, v in data.items())})")
    train_ds = data["train"]
    if cfg.max_train_samples:
        train_ds = train_ds.shuffle(seed=cfg.seed).select(range(min(cfg.max_train_samples, len(train_ds))))
    return train_ds


def _stage_model(cfg: TrainConfig, folder: Path):
    """A stage's starting model and processor, loaded from the folder the previous stage saved."""
    import dataclasses

    return make_model(dataclasses.replace(cfg.model, name=str(folder)), seed=cfg.seed)


def _run_stages(cfg, task, initial, train_ds, run, resume, state, log):
    """Run each stage in turn; each starts from the model the previous one saved to disk.

    Args:
        initial: ``(model, processor)`` of the run's ``model`` setting, the first stage's start.
    """
    source = None  # the folder the previous stage saved its model to
    stages = list(cfg.stages)
    for i, name in enumerate(stages):
        stage = get_stage(name)
        final = run.path / "final" if i == len(stages) - 1 else run.stage_dir(name) / "final"
        if run.is_done(name) and (final / "config.json").exists():
            log(f"stage {name}: already done, its model is {final}")
            source, initial = final, None
            continue
        if source is not None:
            log(f"stage {name}: loading the model of the previous stage from {source}")
        model, processor = initial if source is None else _stage_model(cfg, source)
        initial = None
        ctx = StageContext(cfg=cfg, task=task, model=model, processor=processor, out=run.stage_dir(name), run=run,
                           train_dataset=train_ds, log=log, is_main=state.is_main_process)
        model = _run_stage(stage, ctx, resume, state)
        if state.is_main_process:
            stage.save(model, processor, final, cfg.model.name)
            run.mark_done(name)
        state.wait_for_everyone()
        log(f"stage {name}: done, model saved to {final}")
        source = final
        del model, ctx


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


class WorkerQuietCollator:
    """A trainer's collator that, inside a DataLoader worker, leaves SIGTERM/SIGUSR1 to the main process.

    Clusters (SLURM's preemption notice) and ``timeout`` signal every process of the job, and PyTorch's workers die
    of a SIGTERM that does not come from their parent; the main process then stops with "DataLoader worker ... is
    killed by signal: Terminated" before :class:`PreemptionCallback` can save, and a resume loses every step since
    the last periodic checkpoint. From its first batch, a worker ignores both signals; it still stops when the main
    process shuts the loader down or dies. At the main process's exit, daemon children are killed outright (an exit
    hook), since multiprocessing would SIGTERM them and then wait for them without a timeout: a crashed run would
    never end.
    """

    def __init__(self, collate):
        self.collate = collate
        _register_exit_hook()

    def __call__(self, *args, **kwargs):
        _quiet_in_worker()
        return self.collate(*args, **kwargs)

    def __getattr__(self, name):  # the trainer may read attributes of its collator
        if name == "collate":
            raise AttributeError(name)
        return getattr(self.collate, name)


_quiet_pid: int | None = None
_exit_hook_registered = False


def _register_exit_hook() -> None:
    """Once per process: at exit, kill daemon children (workers that ignore SIGTERM) before multiprocessing's own
    exit handler, registered earlier and so run later, terminates and joins them."""
    global _exit_hook_registered
    if not _exit_hook_registered:
        import atexit

        atexit.register(_kill_daemon_children)
        _exit_hook_registered = True


def _kill_daemon_children() -> None:
    import multiprocessing

    for child in multiprocessing.active_children():
        if child.daemon:
            child.kill()


def _quiet_in_worker() -> None:
    """Ignore SIGTERM and SIGUSR1 in this process if it is a DataLoader worker (once per process)."""
    global _quiet_pid
    if _quiet_pid == os.getpid():
        return
    from torch.utils.data import get_worker_info

    if get_worker_info() is None:
        return
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    _quiet_pid = os.getpid()


def _run_stage(stage, ctx: StageContext, resume: bool, state):
    """Build the stage's trainer, resume it from its newest complete checkpoint, train, and finish it.

    Returns:
        The full policy model to save (:meth:`embodied_r1.stages.Stage.finish`).
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    name, run, log, cfg = stage.name, ctx.run, ctx.log, ctx.cfg
    pre = PreemptionCallback().install()
    extra = stage.callbacks(ctx)
    trainer = stage.build_trainer(ctx, [MetricsCallback(run, name), pre, *extra])
    if getattr(trainer, "data_collator", None) is not None and trainer.args.dataloader_num_workers > 0:
        trainer.data_collator = WorkerQuietCollator(trainer.data_collator)
    trainer.remove_callback(ProgressCallback)  # its full metrics dict every step drowns the console
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(CompactProgress(name, cfg.log_every))
    ckpt = _resume_point(run, name, log, state.is_main_process) if resume else None
    if ckpt:
        log(f"stage {name}: resuming from {ckpt}")
    start = checkpoint_step(ckpt) if ckpt else 0
    log(f"stage {name}: training ({trainer.args.max_steps} steps)")
    try:
        trainer.train(resume_from_checkpoint=ckpt)
    finally:
        pre.uninstall()
    if state.num_processes > 1:  # each rank says where it stopped: they must agree
        print(f"stage {name}: rank {state.process_index} stopped at step {trainer.state.global_step}", flush=True)
    if pre.requested:
        raise Preempted(f"stage {name} preempted at step {trainer.state.global_step}; checkpoint saved in {ctx.out}; "
                        f"continue with --resume --output {run.path}")
    if trainer.state.global_step <= start < trainer.args.max_steps:
        raise StageError(f"stage {name} trained no step (step {trainer.state.global_step} of "
                         f"{trainer.args.max_steps}); check that the data holds enough rows for one batch")
    warnings = [cb.warning for cb in extra if getattr(cb, "warning", None)]
    if warnings and state.is_main_process:
        run.write_info(warnings=[*run.info().get("warnings", []), *warnings])
    return stage.finish(trainer, ctx)
