"""GRPO's rollouts through TRL's ``rollout_func``: the step's samples and its counterfactual answers in one call.

TRL 1.16 calls ``rollout_func(prompts, trainer)`` with this process's prompts, each repeated
``num_generations`` times in a row (its repeat sampler and the project's group sampler both yield them so), and
expects ``prompt_ids``, ``completion_ids`` and ``logprobs`` per prompt; other keys reach the reward functions as
per-row columns. Here each distinct prompt becomes one request with ``n = num_generations``, and the
counterfactual variants the rewards declare become greedy requests of the same engine call; their answers
reach the rewards as ``counterfactual_completions`` (one ``{variant: answer}`` per row).
"""

from __future__ import annotations

import json
from typing import Callable, Sequence

from embodied_r1.errors import UserError
from embodied_r1.rollout import RolloutRequest, SamplingParams
from embodied_r1.task import CounterfactualSpec

# GRPOConfig generation settings the rollout engines honour; others must stay at TRL's defaults.
UNSUPPORTED = {"repetition_penalty": 1.0, "min_p": None}


def sampling_from_args(args, mode: str = "train") -> SamplingParams:
    """The sampling parameters of TRL's generation config (``generation_kwargs`` may set ``min_new_tokens``).

    Raises:
        UserError: A setting the engines do not implement is changed from its default.
    """
    for key, default in UNSUPPORTED.items():
        if getattr(args, key, default) != default:
            raise UserError(f"grpo.{key}={getattr(args, key)} is not supported by the project's rollout engines; "
                            f"remove it (or generate with TRL's vLLM path: grpo.use_vllm: true)")
    extra = dict(args.generation_kwargs or {})
    temperature = float(args.temperature)
    return SamplingParams(temperature=temperature, top_p=float(args.top_p if args.top_p is not None else 1.0),
                          top_k=int(args.top_k or 0), max_new_tokens=int(args.max_completion_length),
                          min_new_tokens=int(extra.get("min_new_tokens", 0)))


def _text_key(prompt) -> str:
    """A prompt's messages without image payloads (images of a repeated prompt are copies of one row's)."""
    def part(p):
        return {"type": p.get("type"), "text": p.get("text")} if isinstance(p, dict) else p

    return json.dumps([{"role": m.get("role"), "content": [part(p) for p in m["content"]]
                        if isinstance(m.get("content"), list) else m.get("content")} for m in prompt], default=str)


def prompt_blocks(prompts: Sequence[list], n: int) -> list[tuple[int, int]]:
    """``(start, count)`` of each run of one prompt: blocks of ``n`` when the batch is laid out as TRL repeats
    it, else one per prompt."""
    if n > 1 and len(prompts) % n == 0 and all(
            _text_key(prompts[s + j]) == _text_key(prompts[s]) for s in range(0, len(prompts), n) for j in range(n)):
        return [(s, n) for s in range(0, len(prompts), n)]
    return [(i, 1) for i in range(len(prompts))]


class GRPORollout:
    """The ``rollout_func`` handed to :class:`embodied_r1.trainer.EmbodiedGRPOTrainer`.

    Args:
        engine_factory: ``engine_factory(trainer)`` returns the rollout engine bound to the trained policy.
        counterfactuals: Variants any reward declares (union by name); empty: none generated.
        group_column: Row column of group ids (``swap`` partners come from other groups).
    """

    def __init__(self, engine_factory: Callable, counterfactuals: Sequence[CounterfactualSpec] = (),
                 group_column: str | None = None):
        self.engine_factory = engine_factory
        self.counterfactuals = list({s.name: s for s in counterfactuals}.values())
        self.group_column = group_column
        self.last_counts: dict = {}

    def __call__(self, prompts: list, trainer) -> dict:
        mode = "train" if trainer.model.training else "eval"
        n = trainer.num_generations if mode == "train" else trainer.num_generations_eval
        sampling = sampling_from_args(trainer.args, mode)
        blocks = prompt_blocks(prompts, n)
        requests = [RolloutRequest(prompts[s], None, k, sampling) for s, k in blocks]
        assemble = None
        rows = getattr(trainer, "rollout_rows", None)
        if self.counterfactuals and rows is not None and len(rows) == len(prompts):
            assemble, cf_requests = self._counterfactuals(rows, blocks, trainer)
            requests += cf_requests
        engine = self.engine_factory(trainer)
        results = engine.generate(requests)
        out = {"prompt_ids": [], "completion_ids": [], "logprobs": []}
        for samples in results[:len(blocks)]:
            for smp in samples:
                out["prompt_ids"].append(smp.prompt_ids)
                out["completion_ids"].append(smp.completion_ids)
                out["logprobs"].append(smp.logprobs)
        if assemble is not None:
            from embodied_r1.counterfactual import per_row

            cf = assemble([s[0].text for s in results[len(blocks):]])
            expanded = {name: [a for (s, k), a in zip(blocks, answers) for _ in range(k)] for name, answers in cf.items()}
            out["counterfactual_completions"] = per_row(expanded, len(prompts))
        self.last_counts = {"requests": len(requests), "samples": len(out["completion_ids"]),
                            "counterfactual_requests": len(requests) - len(blocks)}
        return out

    def _counterfactuals(self, rows, blocks, trainer):
        from embodied_r1.counterfactual import counterfactual_requests

        first = [rows[s] for s, _ in blocks]
        n = len(first)
        groups = [r.get(self.group_column) for r in first] if self.group_column else list(range(n))
        requests, assemble = counterfactual_requests(
            [r["prompt"] for r in first], [r.get("images") or [] for r in first],
            [r.get("image_modalities") or [] for r in first], groups, self.counterfactuals,
            int(trainer.args.max_completion_length), seed=int(trainer.state.global_step))
        return assemble, requests
