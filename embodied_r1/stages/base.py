"""The stage API: what a training stage (``encoder``, ``sft``, ``grpo``, ...) declares so that the run can chain it.

A run (:mod:`embodied_r1.run`) treats every stage alike:

1. preflight: :meth:`Stage.check` refuses bad settings before any data is built or model loaded;
2. load: the stage's starting model comes from disk, the previous stage's saved folder (the first stage gets the
   run's ``model``); stages never hand live model objects to each other, so resume, ``--stage`` and sharded
   training see the same thing;
3. build: :meth:`Stage.build_trainer` returns a ``transformers.Trainer`` (TRL's are ones) whose checkpoints are
   complete or invisible (:class:`embodied_r1.checkpoints.CheckpointMixin`); the run adds the metrics,
   preemption and progress callbacks and resumes it from the newest complete checkpoint;
4. finish and save: :meth:`Stage.finish` turns the trained trainer into the full policy model and may log
   end-of-stage results; :meth:`Stage.save` writes it as a model folder the next stage loads.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from embodied_r1.errors import UserError


class StageError(UserError):
    """A stage ended without training (no batch could be formed, or no step ran)."""


def preflight_dir() -> Path:
    """Where preflight builds argument objects (TRL's configs only store the path; nothing is written)."""
    return Path(tempfile.gettempdir()) / "embodied-r1-preflight"


@dataclass
class StageContext:
    """What the run hands a stage.

    Args:
        cfg: The run's resolved config (the stage reads its own section, ``getattr(cfg, stage.section)``).
        task: The task instance.
        model: The starting model (loaded from the previous stage's folder, or the run's ``model``).
        processor: Its processor.
        out: The stage's folder (checkpoints, TensorBoard logs).
        run: The run directory (:class:`embodied_r1.rundir.RunDir`).
        train_dataset: The task's training rows, or None when no stage of the run uses them.
        log: Where progress lines go.
        is_main: Whether this is the main process (the one that writes run files).
    """

    cfg: Any
    task: Any
    model: Any
    processor: Any
    out: Path
    run: Any
    train_dataset: Any = None
    log: Callable[[str], None] = print
    is_main: bool = True


class Stage:
    """Base class of a training stage. Subclasses set the class attributes and implement :meth:`build_trainer`."""

    name: ClassVar[str] = ""
    #: The ``TrainConfig`` attribute that holds this stage's settings (its YAML section).
    section: ClassVar[str] = ""
    #: Whether the stage trains on the task's rows (``Task.build_dataset``); a run builds them only if some stage does.
    uses_task_dataset: ClassVar[bool] = True

    def check(self, cfg, task, num_processes: int = 1) -> None:
        """Refuse settings the stage would refuse later, without side effects (no data, model or file).

        Raises:
            UserError: One line naming the setting to change.
        """

    def callbacks(self, ctx: StageContext) -> list:
        """Extra ``TrainerCallback``s of this stage; one with a ``warning`` attribute set by the end of training
        has it kept in ``run.json`` and shown in the final summary."""
        return []

    def build_trainer(self, ctx: StageContext, callbacks: list):
        """A ``transformers.Trainer`` for this stage, with ``callbacks``, writing checkpoints to ``ctx.out``."""
        raise NotImplementedError

    def finish(self, trainer, ctx: StageContext):
        """The full policy model after training (default: the trainer's model, LoRA merged). Called on every rank.

        Under FSDP2 the model is sharded: every rank gathers a plain full copy (on the CPU, in the run's
        ``model.dtype``) and LoRA is merged into it by peft as for an unsharded model; rank 0 saves it. A full
        copy rather than ``accelerator.get_state_dict`` (full weights on rank 0 only): the merge then stays peft's
        own ``merge_and_unload`` on a real module, and the saved folder is written by the same ``save_pretrained``
        call as in a one-process or DDP run.
        """
        model = trainer.model
        from embodied_r1.sharding import FullCopy, is_sharded

        if is_sharded(model):
            from embodied_r1.device import torch_dtype

            model = FullCopy(model, torch_dtype(ctx.cfg.model.dtype), device="cpu").refresh().module
        return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model

    def save(self, model, processor, folder: Path, origin: str) -> None:
        """Write ``model`` and ``processor`` as a model folder that the next stage (or eval) loads."""
        from embodied_r1.models.factory import save_model_info

        model.save_pretrained(str(folder))
        processor.save_pretrained(str(folder))
        save_model_info(folder, model, origin)
