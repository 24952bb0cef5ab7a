"""GRPO and SFT on TRL, with what embodied tasks add: weighted rewards, the counterfactual hook, group batches.

``EmbodiedGRPOTrainer`` subclasses ``trl.GRPOTrainer`` narrowly: it overrides ``_get_train_sampler`` (to batch
rows of one group together) and lets the rollout see the batch's rows (``rollout_rows``). Rollouts come from the
project's rollout engine through TRL's documented ``rollout_func`` hook (:mod:`embodied_r1.rollout.grpo`), which
also answers the counterfactual variants in the same engine call. Reward weights and per-reward logging are
TRL's own (``reward_weights``, ``rewards/<name>/mean``), so nothing of TRL is pasted here.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from embodied_r1.checkpoints import CheckpointMixin
from embodied_r1.counterfactual import CounterfactualReward
from embodied_r1.device import trainer_precision
from embodied_r1.errors import UserError
from embodied_r1.rollout import RolloutConfig, make_rollout
from embodied_r1.rollout.grpo import GRPORollout, sampling_from_args
from embodied_r1.sampler import GroupRepeatSampler

# Defaults that suit a first CPU run; every one can be overridden in the config's grpo/sft section.
GRPO_DEFAULTS = dict(
    learning_rate=1e-5, per_device_train_batch_size=8, num_generations=4, max_completion_length=128,
    max_steps=100, logging_steps=1, save_steps=50, save_total_limit=3, temperature=1.0,
    log_completions=True, num_completions_to_print=2, report_to=["tensorboard"], beta=0.0,
)
SFT_DEFAULTS = dict(
    learning_rate=1e-4, per_device_train_batch_size=8, max_steps=100, logging_steps=1, save_steps=50,
    save_total_limit=2, report_to=["tensorboard"], max_length=None,
)


class EmbodiedSFTTrainer(CheckpointMixin, SFTTrainer):
    """``SFTTrainer`` whose checkpoints are complete or invisible and whose full weights resume strictly."""


class EmbodiedGRPOTrainer(CheckpointMixin, GRPOTrainer):
    """``GRPOTrainer`` whose sampler keeps rows of one ``group_column`` value in one generation batch.

    Its checkpoints are complete or invisible and full weights resume strictly (:mod:`embodied_r1.checkpoints`).

    Args:
        group_column: Dataset column of group ids, or None for TRL's own sampler.
        *args, **kwargs: Passed to ``trl.GRPOTrainer``.
    """

    def __init__(self, *args, group_column: str | None = None, **kwargs):
        self.group_column = group_column
        super().__init__(*args, **kwargs)

    def _generate_and_score_completions(self, inputs):
        self.rollout_rows = inputs  # the rollout reads the rows' images, modalities and groups for counterfactuals
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self.rollout_rows = None

    def _get_train_sampler(self, dataset=None):
        dataset = self.train_dataset if dataset is None else dataset
        if not self.group_column or self.group_column not in getattr(dataset, "column_names", []):
            return super()._get_train_sampler(dataset)
        return GroupRepeatSampler(
            data_source=dataset,
            groups=dataset[self.group_column],
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            num_processes=self.accelerator.num_processes,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset,
            seed=self.args.seed,
        )


@contextlib.contextmanager
def _quiet_deprecations():
    """TRL's configs default ``gradient_checkpointing``, which transformers 5 reports as deprecated on every
    construction, whatever the user set; that line would otherwise stand in front of every config error."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
        yield


def make_grpo_args(section: dict, out_dir: Path, seed: int, reward_weights: list[float],
                   reward_names: list[str] | None = None) -> GRPOConfig:
    """``GRPOConfig`` from project defaults, the config's ``grpo`` section and the run's paths.

    TensorBoard logs go to ``<out_dir>/runs/`` (transformers 5 has no ``logging_dir`` argument).

    Raises:
        UserError: TRL refuses the section, or a ``grpo.reward_weights`` given there does not have one weight
            per reward in ``reward_names``.
    """
    kwargs = {**GRPO_DEFAULTS, **trainer_precision(), **section}
    kwargs.setdefault("reward_weights", reward_weights)
    try:
        with _quiet_deprecations():
            args = GRPOConfig(output_dir=str(out_dir), seed=seed, **kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"config section 'grpo' is not accepted by trl.GRPOConfig: {str(exc).splitlines()[0]}") from exc
    if reward_names is not None and len(args.reward_weights or []) != len(reward_names):
        raise UserError(f"grpo.reward_weights has {len(args.reward_weights or [])} entries for {len(reward_names)} "
                        f"rewards ({', '.join(reward_names)}); set weights in the task section instead")
    if not args.use_vllm:
        sampling_from_args(args)  # settings the project's engines cannot honour fail here, before any work
    return args


def make_sft_args(section: dict, out_dir: Path, seed: int) -> SFTConfig:
    """``SFTConfig`` from project defaults, the config's ``sft`` section and the run's paths."""
    kwargs = {**SFT_DEFAULTS, **trainer_precision(), **section}
    try:
        with _quiet_deprecations():
            return SFTConfig(output_dir=str(out_dir), seed=seed, **kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"config section 'sft' is not accepted by trl.SFTConfig: {str(exc).splitlines()[0]}") from exc


def _reward_specs(task, task_cfg):
    """The task's reward specs; at least one, else the run has nothing to optimise."""
    specs = task.reward_specs(task_cfg)
    if not specs:
        raise UserError(f"task '{task.name}' declares no rewards with non-zero weight; set weights in its config")
    return specs


def reward_weights(task, task_cfg) -> tuple[list[str], list[float]]:
    """Names and weights of the task's GRPO rewards (no model needed).

    Raises:
        UserError: The task declares no reward with a non-zero weight.
    """
    specs = _reward_specs(task, task_cfg)
    return [s.name for s in specs], [float(s.weight) for s in specs]


def build_reward_funcs(task, task_cfg, engine_factory=None, max_new_tokens: int = 128):
    """The task's rewards as TRL callables plus their weights.

    With ``engine_factory`` (runs where TRL generates the rollouts itself, i.e. ``grpo.use_vllm``), rewards that
    declare counterfactuals are wrapped so they generate their own answers; otherwise they are returned as they
    are and the rollout hands them ``counterfactual_completions``.

    Returns:
        ``(funcs, weights)``.
    """
    funcs, weights = [], []
    for spec in _reward_specs(task, task_cfg):
        fn = spec.fn
        if spec.counterfactuals and engine_factory is not None:
            fn = CounterfactualReward(fn, spec.counterfactuals, engine_factory, task.group_column, max_new_tokens)
        funcs.append(fn)
        weights.append(float(spec.weight))
    return funcs, weights


def make_grpo_trainer(task, task_cfg, model, processor, train_ds, args_section: dict, out_dir: Path,
                      seed: int, peft_config=None, callbacks=(), rollout: RolloutConfig | None = None):
    """Assemble an :class:`EmbodiedGRPOTrainer` for ``task`` on ``train_ds``.

    Rollouts and counterfactual answers come from the engine ``rollout`` selects (one engine per trainer, bound
    to the trained policy); with ``grpo.use_vllm`` TRL generates the rollouts itself (not exercised here).
    """
    holder: dict = {}
    # the dtype the policy is built in: under FSDP2 the engine decodes on a full copy in it (accelerate keeps
    # trainable shards in fp32 under mixed precision), as an unsharded run decodes on the model itself
    built_dtype = next(model.parameters()).dtype

    def engine_factory(trainer=None):
        if "engine" not in holder:
            trainer = trainer or holder["trainer"]
            holder["engine"] = make_rollout(rollout, trainer.accelerator.unwrap_model(trainer.model), processor,
                                            dtype=built_dtype)
        return holder["engine"]

    section = dict(args_section)
    use_vllm = bool(section.get("use_vllm", False))
    max_new = int(section.get("max_completion_length", GRPO_DEFAULTS["max_completion_length"]))
    funcs, weights = build_reward_funcs(task, task_cfg, engine_factory if use_vllm else None, max_new)
    args = make_grpo_args(section, out_dir, seed, weights, [f.__name__ for f in funcs])
    rollout_func = None
    if not use_vllm:
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is TRL's documented hook
        specs = [cf for spec in _reward_specs(task, task_cfg) for cf in spec.counterfactuals]
        rollout_func = GRPORollout(engine_factory, specs, task.group_column)
    trainer = EmbodiedGRPOTrainer(
        model=model, reward_funcs=funcs, args=args, train_dataset=train_ds, processing_class=processor,
        peft_config=peft_config, callbacks=list(callbacks), group_column=task.group_column,
        rollout_func=rollout_func,
    )
    holder["trainer"] = trainer
    trainer.rollout_engine = engine_factory
    return trainer


def sft_dataset(task, ds):
    """Prompt-completion rows for SFT: the task's gold completion for each row."""
    def add(row):
        return {"completion": [{"role": "assistant", "content": [{"type": "text", "text": task.sft_target(row)}]}]}

    return ds.map(add, desc="SFT targets")


def make_sft_trainer(task, model, processor, train_ds, args_section: dict, out_dir: Path,
                     seed: int, peft_config=None, callbacks=(), prepared_inputs: bool = True,
                     data_workers: int | None = None):
    """Assemble a ``trl.SFTTrainer`` warm start on the task's gold completions.

    Args:
        prepared_inputs: Train on token ids and pixel values computed once per dataset and processor
            (:mod:`embodied_r1.inputs`; the batches equal TRL's); False: TRL's collator processes every batch.
        data_workers: Processes that may prepare those inputs (None: this one).
    """
    from accelerate import PartialState

    args = make_sft_args(args_section, out_dir, seed)
    rows = sft_dataset(task, train_ds)
    collator = None
    if prepared_inputs and "images" in rows.column_names:
        from embodied_r1.inputs import PreparedCollator, prepare_sft_inputs

        with PartialState().main_process_first():  # the main process fills the cache, the others read it
            rows = prepare_sft_inputs(rows, processor, model, num_proc=data_workers)
        collator = PreparedCollator(processor.tokenizer.pad_token_id, args.max_length)
        args.remove_unused_columns = False  # the prepared columns are the model's inputs once collated
        args.dataset_kwargs = {**(args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    return EmbodiedSFTTrainer(model=model, args=args, train_dataset=rows, processing_class=processor,
                              data_collator=collator, peft_config=peft_config, callbacks=list(callbacks))
