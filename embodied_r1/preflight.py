"""Checks that run before any data is built, any model is loaded or any file is written.

Everything a run's stages will refuse later (TRL's argument checks, reward weights, whether the group sampler
can fill a batch with whole groups, whether the model reference exists) is tried here first, so a bad setting
costs a second and leaves nothing behind, instead of failing after a long SFT stage.
"""

from __future__ import annotations

import os
from pathlib import Path

from embodied_r1.config import TrainConfig
from embodied_r1.errors import UserError
from embodied_r1.sampler import pack_groups


def check_run(cfg: TrainConfig, task, num_processes: int = 1) -> None:
    """Validate every stage of ``cfg`` for ``task`` without side effects.

    Args:
        cfg: The resolved run config.
        task: The task instance.
        num_processes: Processes that will share a generation batch (``accelerate launch``).

    Raises:
        UserError: One line naming the setting to change.
    """
    from embodied_r1.stages import get_stage

    for stage in cfg.stages:  # each stage checks its own section (embodied_r1.stages.Stage.check)
        get_stage(stage).check(cfg, task, num_processes)
    check_model_reference(cfg.model.name)
    check_visible_gpus(num_processes)


def check_visible_gpus(num_processes: int, visible: int | None = None) -> None:
    """Refuse one process that sees several GPUs: transformers' Trainer would wrap the model in
    ``nn.DataParallel`` (TRL's GRPO refuses that only after the data and model are built; SFT would run on it,
    slowly, with a batch split the config does not say).

    Args:
        num_processes: Processes of this run (``accelerate launch``).
        visible: GPUs this process sees (None: ``torch.cuda.device_count()``).

    Raises:
        UserError: More than one GPU visible to a single process.
    """
    if num_processes > 1:
        return
    if visible is None:
        import torch

        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible > 1:
        raise UserError(f"this one process sees {visible} GPUs; train on all of them with `accelerate launch "
                        f"--config_file configs/accelerate/ddp.yaml --num_processes {visible} -m embodied_r1.cli "
                        f"train ...`, or on one with CUDA_VISIBLE_DEVICES=0")


def check_group_packing(task, cfg: TrainConfig, args, num_processes: int) -> None:
    """Refuse a GRPO batch that whole groups of ``task.group_column`` can never fill.

    The group sampler packs groups into bins of ``generation_batch_size / num_generations / processes`` prompts
    and drops bins it cannot fill; with groups of 3 and bins of 4, every bin is dropped and GRPO would train
    zero steps.
    """
    size = task.group_size(cfg.task_config) if task.group_column else None
    if not size or size <= 1:
        return
    prompts = args.generation_batch_size // args.num_generations
    bin_size = max(1, prompts // max(1, num_processes))
    bins = pack_groups([g for g in range(64) for _ in range(size)], bin_size, None)
    if bins:
        return
    # prompts per process = per_device * steps_per_generation / num_generations; find the smallest whole multiple
    steps, gens = args.steps_per_generation, args.num_generations
    fits = [k * size * gens // steps for k in range(1, 9) if (k * size * gens) % steps == 0]
    raise UserError(
        f"GRPO cannot form a batch: each generation batch holds {bin_size} prompts per process "
        f"(per_device_train_batch_size x steps_per_generation / num_generations / processes), which whole groups "
        f"of {size} rows ({task.name}'s {task.group_column}) never fill; use a multiple of {size} prompts, e.g. "
        f"grpo.per_device_train_batch_size={fits[0] if fits else size * gens}")


def check_model_reference(name: str) -> None:
    """Refuse a model name that is neither a preset, a model folder, a finished run, nor a hub id.

    A hub id is only checked for shape here (offline, nothing can be fetched); its download fails in
    :func:`embodied_r1.models.factory.make_model`, and a new run folder is then removed again.
    """
    from embodied_r1.models.factory import _not_found, resolve_model_path
    from embodied_r1.models.presets import PRESETS

    resolved = resolve_model_path(name)  # a run directory without a final model raises here
    if resolved in PRESETS:
        return
    p = Path(resolved)
    if p.exists():
        if not (p / "config.json").is_file():
            raise _not_found(name, f"folder {p} has no config.json")
        return
    if "/" not in name or name.startswith((".", "/")) or name.count("/") > 1:
        raise _not_found(name, "it is not a preset, a local folder or a hub id")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise _not_found(name, "HF_HUB_OFFLINE=1 and it is not a local folder")
