"""The TRL stages: ``sft`` (warm start on the task's gold completions) and ``grpo`` (the task's rewards).

Their settings pass through to ``trl.SFTConfig`` / ``trl.GRPOConfig`` (the ``sft:`` and ``grpo:`` sections);
LoRA on the language model follows ``model.lora``.
"""

from __future__ import annotations

from embodied_r1.stages.base import Stage, StageContext, StageError, preflight_dir


class SFTStage(Stage):
    """Supervised warm start on ``Task.sft_target`` completions."""

    name = "sft"
    section = "sft"

    def check(self, cfg, task, num_processes: int = 1) -> None:
        from embodied_r1.trainer import make_sft_args

        make_sft_args(cfg.sft, preflight_dir(), cfg.seed)

    def build_trainer(self, ctx: StageContext, callbacks: list):
        from embodied_r1.data import available_cores
        from embodied_r1.models.factory import make_peft_config
        from embodied_r1.trainer import make_sft_trainer

        return make_sft_trainer(ctx.task, ctx.model, ctx.processor, ctx.train_dataset, ctx.cfg.sft, ctx.out,
                                ctx.cfg.seed, make_peft_config(ctx.cfg.model), callbacks,
                                prepared_inputs=ctx.cfg.prepared_inputs,
                                data_workers=ctx.cfg.data_workers or available_cores())


class GRPOStage(Stage):
    """GRPO on the task's weighted rewards, with group batches and the no-signal monitor."""

    name = "grpo"
    section = "grpo"

    def check(self, cfg, task, num_processes: int = 1) -> None:
        from embodied_r1.preflight import check_group_packing
        from embodied_r1.trainer import make_grpo_args, reward_weights

        names, weights = reward_weights(task, cfg.task_config)
        args = make_grpo_args(cfg.grpo, preflight_dir(), cfg.seed, weights, names)
        check_group_packing(task, cfg, args, num_processes)

    def callbacks(self, ctx: StageContext) -> list:
        from embodied_r1.monitor import SignalMonitor

        return [SignalMonitor(ctx.log)]

    def build_trainer(self, ctx: StageContext, callbacks: list):
        from embodied_r1.models.factory import make_peft_config
        from embodied_r1.trainer import make_grpo_trainer

        trainer = make_grpo_trainer(ctx.task, ctx.cfg.task_config, ctx.model, ctx.processor, ctx.train_dataset,
                                    ctx.cfg.grpo, ctx.out, ctx.cfg.seed, make_peft_config(ctx.cfg.model), callbacks,
                                    rollout=ctx.cfg.rollout)
        if len(trainer._get_train_sampler()) == 0:
            raise StageError(f"stage grpo: the group sampler formed no batch from {len(ctx.train_dataset)} rows "
                             f"(groups of '{ctx.task.group_column}' do not fill grpo.per_device_train_batch_size / "
                             f"num_generations prompts); use a batch that is a multiple of the group size or more rows")
        return trainer
