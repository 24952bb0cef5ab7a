"""The ``encoder`` stage (Touch-R1 stage 1): the policy's vision tower learns to predict the next frame's latent.

The task gives frame sequences of one image modality (:meth:`embodied_r1.task.Task.encoder_data`); the tower
trains JEPA-style against its own EMA target (:mod:`embodied_r1.stages.jepa`), fully or through LoRA adapters
that are merged at the end. The stage saves the whole policy model with the trained tower, so the next stage
(SFT) loads it like any model folder. At the end, a linear probe per property on frozen pooled features, fitted
on the training sequences and scored on each held-out set, is logged to ``metrics.jsonl`` (``"kind": "probe"``)
and drawn in ``plots/encoder_probe.png`` next to the same probe on the tower before the stage.

The tower trains with float32 master weights whatever the model's dtype (on a GPU the math still runs in bf16
under the Trainer's autocast) and goes back to the model's dtype at the end. Trained in bf16 itself, Adam's small
steps round away: updates below half a bf16 step (about 4e-3 of a weight's size) are lost, and so is the EMA
target's 1 % move per step (on touch data, nvidia-h200: float32 master weights raised the probe a little for
hardness and bumpiness; roughness was not learned either way, ``docs/results/touch_encoder_v5/``).

Training runs in ``transformers.Trainer`` with :class:`~embodied_r1.checkpoints.CheckpointMixin`, so its
checkpoints (online tower, EMA target, heads, optimizer, data order) are complete or invisible and a resume after
``kill -9`` continues the same run.
"""

from __future__ import annotations

import time

from transformers import Trainer, TrainerCallback

from embodied_r1.checkpoints import CheckpointMixin
from embodied_r1.errors import UserError
from embodied_r1.stages.base import Stage, StageContext

#: LoRA targets in Qwen2.5-VL's vision tower: attention and MLP of every block, and the patch merger's MLP.
VISION_LORA_TARGETS = r".*(blocks\.\d+\.(attn\.(qkv|proj)|mlp\.(gate_proj|up_proj|down_proj))|merger\.mlp\.(0|2))"


def encoder_modality(cfg, task) -> str:
    """The modality the encoder stage trains on: ``encoder.modality``, else the task's first.

    Raises:
        UserError: The task offers no encoder data, or not for that modality.
    """
    offered = tuple(getattr(task, "encoder_modalities", ()) or ())
    if not offered:
        raise UserError(f"stage encoder: task '{task.name}' offers no frame sequences for the encoder stage (it "
                        f"declares no encoder_modalities / encoder_data); drop 'encoder' from stages")
    modality = cfg.encoder.modality or offered[0]
    if modality not in offered:
        raise UserError(f"encoder.modality '{modality}' is not one task '{task.name}' offers: {', '.join(offered)}")
    return modality


def encoder_data_kwargs(cfg, task) -> dict:
    """The optional arguments of the task's ``encoder_data`` it takes: ``events`` (when ``encoder.events`` is
    set) and ``num_workers`` (the run's ``data_workers``).

    Raises:
        UserError: ``encoder.events`` is set but the task's ``encoder_data`` takes no ``events``.
    """
    import inspect

    params = inspect.signature(task.encoder_data).parameters
    takes = lambda name: name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())  # noqa: E731
    kwargs = {}
    if cfg.encoder.events:
        if not takes("events"):
            raise UserError(f"encoder.events is set, but task '{task.name}' renders a fixed set of sequences "
                            f"(its encoder_data takes no events); drop encoder.events")
        kwargs["events"] = cfg.encoder.events
    if takes("num_workers"):
        from embodied_r1.data import available_cores

        kwargs["num_workers"] = cfg.data_workers or available_cores()
    return kwargs


class EMATarget(TrainerCallback):
    """After every optimizer step (before a checkpoint is saved), move the target tower towards the online one."""

    def __init__(self, model, decay: float):
        self.model = model
        self.decay = decay

    def on_step_end(self, args, state, control, **kwargs):
        self.model.update_target(self.decay)


class EncoderTrainer(CheckpointMixin, Trainer):
    """``Trainer`` of the JEPA module; logs each loss term next to ``loss``.

    Attributes:
        encoder_data: The task's :class:`~embodied_r1.task.EncoderData` (the probe reads its held-out sets).
        probe_before: Probe accuracies of the tower before the stage, or None.
    """

    def __init__(self, *args, encoder_data=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.encoder_data = encoder_data
        self.probe_before = None
        self._terms: dict[str, list[float]] = {}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = model(**inputs)
        for k, v in out.items():
            if k != "loss":
                self._terms.setdefault(k, []).append(float(v.detach()))
        return (out["loss"], out) if return_outputs else out["loss"]

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs and self._terms:
            logs.update({k: sum(v) / len(v) for k, v in self._terms.items()})
            self._terms = {}
        super().log(logs, *args, **kwargs)


class EncoderStage(Stage):
    """JEPA-style next-frame latent prediction on the task's frame sequences (settings: ``encoder:``)."""

    name = "encoder"
    section = "encoder"
    uses_task_dataset = False

    def check(self, cfg, task, num_processes: int = 1) -> None:
        encoder_modality(cfg, task)
        encoder_data_kwargs(cfg, task)

    def build_trainer(self, ctx: StageContext, callbacks: list):
        import torch

        from embodied_r1.models.factory import vision_tower
        from embodied_r1.stages.encoder_batches import TransitionCollator, TransitionDataset
        from embodied_r1.stages.jepa import JEPAEncoder

        ecfg, task = ctx.cfg.encoder, ctx.task
        modality = encoder_modality(ctx.cfg, task)
        ctx.log(f"stage encoder: rendering {modality} sequences of {ecfg.frames} frames")
        data = task.encoder_data(ctx.cfg.task_config, ctx.cfg.seed, modality, ecfg.frames,
                                 **encoder_data_kwargs(ctx.cfg, task))
        if data is None or not data.train:
            raise UserError(f"stage encoder: task '{task.name}' gave no {modality} sequences for these settings")
        properties = list(data.num_levels)
        tower = vision_tower(ctx.model).requires_grad_(True)  # this stage trains the tower, frozen later or not
        before = self._probe(ctx, tower, data) if ecfg.probe and ctx.is_main else None
        model_dtype = next(tower.parameters()).dtype
        tower.float()  # float32 master weights (module docstring); finish() casts back
        with torch.random.fork_rng(devices=[]):  # adapters and heads start from weights the run's seed fixes
            torch.manual_seed(ctx.cfg.seed)
            online = _with_lora(tower, ecfg) if ecfg.lora else tower
            model = JEPAEncoder(online, tower.config.out_hidden_size, ecfg.predict, ecfg.predictor_hidden,
                                len(properties), ecfg.property_weight, ecfg.contrastive_weight, ecfg.temperature,
                                property_mode=ecfg.property_loss,
                                num_levels=[data.num_levels[p] for p in properties], jepa_weight=ecfg.jepa_weight)
        dataset = TransitionDataset(data.train, properties, data.num_levels)
        ctx.log(f"stage encoder: {len(dataset.events)} events x {dataset.frames} frames ({dataset.steps} transitions), "
                f"{sum(len(e) for e in dataset.events) // len(dataset.events)} views each; probe sets "
                f"{', '.join(f'{k}={len(v)}' for k, v in data.eval.items()) or 'none'}")
        trainer = EncoderTrainer(model=model, args=_training_args(ecfg, ctx), train_dataset=dataset,
                                 data_collator=TransitionCollator(ctx.processor.image_processor,
                                                                 next_frames=ecfg.jepa_weight > 0),
                                 callbacks=[*callbacks, EMATarget(model, ecfg.ema_decay)], encoder_data=data)
        trainer.probe_before = before
        trainer.model_dtype = model_dtype
        return trainer

    def finish(self, trainer, ctx: StageContext):
        from embodied_r1.models.factory import set_vision_tower

        online = trainer.model.online
        tower = online.merge_and_unload() if ctx.cfg.encoder.lora else online
        tower.to(trainer.model_dtype)
        set_vision_tower(ctx.model, tower)
        if ctx.cfg.encoder.probe and ctx.is_main:
            after = self._probe(ctx, tower, trainer.encoder_data)
            _log_probe(ctx, trainer.state.global_step, after, trainer.probe_before)
        return ctx.model

    def _probe(self, ctx: StageContext, tower, data) -> dict:
        """``{"probe/<set>/<property>": accuracy, "probe_majority/...": ...}`` of the tower's frozen features."""
        import torch

        from embodied_r1.device import process_device
        from embodied_r1.stages.encoder_batches import pooled_features
        from embodied_r1.stages.probe import majority_accuracy, probe_accuracy

        ecfg, ip = ctx.cfg.encoder, ctx.processor.image_processor
        home = next(tower.parameters()).device
        tower.to(process_device())  # before the stage the tower is still on the CPU: the features of tens of
        try:                        # thousands of images took minutes there, and seconds on the GPU
            feats = {name: pooled_features(tower, ip, [s.frames[-1] for s in seqs])
                     for name, seqs in {"train": data.train, **data.eval}.items() if seqs}
        finally:
            tower.to(home)
        out = {}
        for prop, k in data.num_levels.items():
            sets = {name: (feats[name], torch.tensor([s.labels.get(prop, -1) for s in seqs]))
                    for name, seqs in {"train": data.train, **data.eval}.items() if seqs}
            sets = {n: (x[y >= 0], y[y >= 0]) for n, (x, y) in sets.items()}
            train = sets.pop("train")
            if len(train[1]) == 0 or not sets:
                continue
            for name, acc in probe_accuracy(train, sets, k, ecfg.probe_l2, ecfg.probe_iterations).items():
                out[f"probe/{name}/{prop}"] = acc
            for name, acc in majority_accuracy(train[1], sets).items():
                out[f"probe_majority/{name}/{prop}"] = acc
            out.update({f"probe_n/{name}": len(y) for name, (_, y) in sets.items()})
        return out


def _with_lora(tower, ecfg):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=ecfg.lora_r, lora_alpha=ecfg.lora_alpha, lora_dropout=0.0, target_modules=VISION_LORA_TARGETS)
    return get_peft_model(tower, config)


def _training_args(ecfg, ctx: StageContext):
    from transformers import TrainingArguments

    from embodied_r1.device import trainer_precision

    return TrainingArguments(
        output_dir=str(ctx.out), seed=ctx.cfg.seed, max_steps=ecfg.max_steps, learning_rate=ecfg.learning_rate,
        weight_decay=ecfg.weight_decay, warmup_steps=ecfg.warmup_steps, per_device_train_batch_size=ecfg.batch_size,
        logging_steps=ecfg.logging_steps, save_steps=ecfg.save_steps, save_total_limit=ecfg.save_total_limit,
        remove_unused_columns=False, report_to=["tensorboard"], dataloader_num_workers=ecfg.dataloader_num_workers,
        **trainer_precision())


def _log_probe(ctx: StageContext, step: int, after: dict, before: dict | None) -> None:
    """Append the probe row to ``metrics.jsonl``, print one line per property and set, and draw the plot."""
    from embodied_r1.plots import plot_probe

    row = {"stage": "encoder", "kind": "probe", "step": step, "time": round(time.time(), 3), **after}
    row.update({k.replace("probe/", "probe_before/", 1): v for k, v in (before or {}).items() if k.startswith("probe/")})
    ctx.run.append_metrics(row)
    for key, acc in after.items():
        if key.startswith("probe/"):
            _, name, prop = key.split("/")
            was = (before or {}).get(key)
            ctx.log(f"stage encoder: probe {prop} on {name}: {acc:.3f}"
                    + (f" (before the stage {was:.3f}" if was is not None else " (")
                    + f"{', ' if was is not None else ''}majority {after.get(f'probe_majority/{name}/{prop}', 0):.3f})")
    for p in plot_probe([row], ctx.run.path / "plots"):
        ctx.log(f"plot: {p}")
