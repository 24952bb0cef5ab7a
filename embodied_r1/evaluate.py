"""``embodied-r1 eval``: answer a task's eval split with a model, score it, compare with training-free baselines."""

from __future__ import annotations

import json
import math
from pathlib import Path

from embodied_r1.config import ModelConfig, TrainConfig
from embodied_r1.data import load_or_build
from embodied_r1.models.factory import make_model
from embodied_r1.registry import make_task
from embodied_r1.rollout import RolloutConfig, make_rollout


def load_generator(model_spec: str, model_cfg: ModelConfig | None = None, seed: int = 0, batch_size: int = 16,
                   rollout: RolloutConfig | None = None):
    """A rollout engine (``rollout.engine``; ``auto``: ``fast`` on a GPU) for a preset, hub id, model folder or
    run directory, on this process's device."""
    import dataclasses

    from embodied_r1.device import process_device

    cfg = dataclasses.replace(model_cfg or ModelConfig(), name=model_spec, lora=False)
    model, processor = make_model(cfg, seed=seed)
    model = model.to(process_device())
    model.eval()
    return make_rollout(dataclasses.replace(rollout or RolloutConfig(), batch_size=batch_size), model, processor)


def answer_rows(generator, rows: list[dict], batch_size: int = 16, max_new_tokens: int = 128, progress: bool = False,
                desc: str = "answers") -> list[str]:
    """Greedy answers of ``generator`` to the rows' ``prompt`` and ``images``, ``batch_size`` rows per call.

    Args:
        generator: A rollout engine (its ``answer(prompts, images, max_new_tokens=, temperature=)``).
        rows: Dataset rows.
        batch_size: Rows per generation call.
        max_new_tokens: Generation budget per answer.
        progress: Show a progress bar.
        desc: Its label.

    Returns:
        One completion text per row.
    """
    from tqdm.auto import tqdm

    prompts = [r["prompt"] for r in rows]
    images = [r.get("images") or [] for r in rows]
    completions: list[str] = []
    for start in tqdm(range(0, len(rows), batch_size), desc=desc, disable=not progress, unit="batch"):
        completions += generator.answer(prompts[start:start + batch_size], images[start:start + batch_size],
                                        max_new_tokens=max_new_tokens, temperature=0.0)
    return completions


def _rows(ds, limit: int | None, seed: int, group_column: str | None = None) -> list[dict]:
    """Up to ``limit`` rows, drawn as whole groups when the task has a group column (so group metrics such
    as cross-sensor consistency see every member)."""
    if not limit or len(ds) <= limit:
        return [ds[i] for i in range(len(ds))]
    if group_column and group_column in ds.column_names:
        import numpy as np

        groups: dict = {}
        for i, g in enumerate(ds[group_column]):
            groups.setdefault(g, []).append(i)
        order = np.random.default_rng(seed).permutation(len(groups))
        keys = list(groups)
        picked: list[int] = []
        for j in order:
            members = groups[keys[j]]
            if len(picked) + len(members) > limit:
                continue
            picked += members
        return [ds[i] for i in sorted(picked)]
    ds = ds.shuffle(seed=seed).select(range(limit))
    return [ds[i] for i in range(len(ds))]


def shard_rows(groups: list, rank: int, world: int) -> list[int]:
    """The row indices process ``rank`` of ``world`` answers: whole groups, in contiguous blocks of groups (in
    order of first appearance), with as even row counts as whole groups allow.

    Args:
        groups: Per row, its group id (rows of one id stay on one process).
        rank: This process's index.
        world: Number of processes.

    >>> shard_rows(["a", "a", "b", "c", "c", "d"], 0, 2), shard_rows(["a", "a", "b", "c", "c", "d"], 1, 2)
    ([0, 1, 2], [3, 4, 5])
    """
    members: dict = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    out, done = [], 0
    for block in members.values():  # a group goes to the rank whose share of the rows its middle falls in
        if (2 * done + len(block)) * world // (2 * len(groups)) == rank:
            out += block
        done += len(block)
    return sorted(out)


def _gather_in_order(mine: list[int], values: list, n: int) -> list:
    """Every process's ``values`` (for its rows ``mine``) as one list of ``n`` in row order, on every process."""
    from accelerate.utils import gather_object

    pairs = gather_object(list(zip(mine, values)))
    out = [None] * n
    for i, v in pairs:
        out[i] = v
    return out


def _answer_sharded(gen, rows: list[dict], groups: list, state, cfg: TrainConfig, progress: bool,
                    log=print) -> list[str]:
    """Greedy answers to ``rows``: each process answers its whole groups, then all are gathered in row order."""
    mine = shard_rows(groups, state.process_index, state.num_processes)
    if state.num_processes > 1:
        log(f"eval: process {state.process_index} answers {len(mine)} of {len(rows)} rows "
            f"({len({groups[i] for i in mine})} groups)")
    texts = answer_rows(gen, [rows[i] for i in mine], cfg.eval.batch_size, cfg.eval.max_new_tokens,
                        progress=progress and state.is_main_process, desc=f"eval {cfg.task}")
    return _gather_in_order(mine, texts, len(rows)) if state.num_processes > 1 else texts


def _counterfactuals_sharded(gen, rows: list[dict], groups: list, specs, state, cfg: TrainConfig) -> dict:
    """Greedy answers to each counterfactual variant of ``rows``. The variants are built from all rows on every
    process (swap partners and noise as in a one-process eval), then the requests are split and gathered."""
    from embodied_r1.counterfactual import counterfactual_requests

    requests, assemble = counterfactual_requests(
        [r["prompt"] for r in rows], [r.get("images") or [] for r in rows],
        [r.get("image_modalities") or [] for r in rows], groups, specs, cfg.eval.max_new_tokens, seed=cfg.seed)
    mine = shard_rows(list(range(len(requests))), state.process_index, state.num_processes)
    texts = [s[0].text for s in gen.generate([requests[i] for i in mine])] if mine else []  # one engine call
    return assemble(_gather_in_order(mine, texts, len(requests)) if state.num_processes > 1 else texts)


def evaluate(cfg: TrainConfig, model_spec: str, out_dir: Path, log=print, progress: bool = True) -> dict | None:
    """Evaluate ``model_spec`` on ``cfg.task``'s eval split and write ``eval.json`` and plots to ``out_dir``.

    Under ``accelerate launch`` each process answers its share of the rows (whole groups of
    ``task.group_column``); the answers are gathered in row order and the main process scores and writes them,
    with the same results as one process.

    Returns:
        ``{"model": metrics, "baselines": {name: metrics}, "n": rows, ...}`` (None on the other processes).
    """
    import torch  # noqa: F401  (before any task renders with EGL: a first torch/triton import after EGL can crash)
    from embodied_r1.device import process_state

    state = process_state()
    task = make_task(cfg.task)
    with state.main_process_first():  # the main process builds the cache, the others read it
        data, _ = load_or_build(task, cfg.task_config, cfg.seed, num_workers=cfg.data_workers)
    split = cfg.eval.split if cfg.eval.split in data else ("test" if "test" in data else "train")
    rows = _rows(data[split], cfg.eval.max_samples, cfg.seed, task.group_column)
    groups = [r.get(task.group_column, i) if task.group_column else i for i, r in enumerate(rows)]
    gen = load_generator(model_spec, cfg.model, cfg.seed, cfg.eval.batch_size, cfg.rollout)
    completions = _answer_sharded(gen, rows, groups, state, cfg, progress, log)
    cf = None
    specs = task.eval_counterfactuals(cfg.task_config) if cfg.eval.counterfactual else []
    if specs:
        if state.is_main_process:
            log(f"counterfactual answers: {', '.join(s.name for s in specs)}")
        cf = _counterfactuals_sharded(gen, rows, groups, specs, state, cfg)
    if not state.is_main_process:
        return None
    result = {
        "task": cfg.task, "model": model_spec, "split": split, "n": len(rows),
        "metrics": task.metrics(completions, rows, counterfactual=cf, cfg=cfg.task_config),
        "baselines": {name: task.metrics(c, rows, cfg=cfg.task_config)
                      for name, c in _baselines(task, rows, data, cfg.seed).items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(result, indent=2, default=_finite))
    with (out_dir / "predictions.jsonl").open("w") as f:
        for r, c in zip(rows, completions):
            f.write(json.dumps({k: v for k, v in r.items() if k not in ("images", "prompt")} | {"completion": c},
                               default=str) + "\n")
    result["artifacts"] = [str(p) for p in task.write_report(result, rows, completions, out_dir)]
    return result


def _baselines(task, rows, data, seed) -> dict:
    """The task's baselines, given the train split's label columns (no images) for priors learned from them."""
    if "train" not in data:
        return task.baselines(rows, seed)
    train = data["train"]
    drop = [c for c in ("images", "prompt") if c in train.column_names]
    return task.baselines(rows, seed, train_rows=train.remove_columns(drop).to_list())


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)


def metrics_table(result: dict) -> "rich.table.Table":  # noqa: F821
    """A rich table: one row per metric, one column for the model and each baseline."""
    from rich.table import Table

    cols = {"model": result["metrics"], **result.get("baselines", {})}
    keys = list(result["metrics"])
    for m in result.get("baselines", {}).values():
        keys += [k for k in m if k not in keys]
    table = Table(title=f"{result['task']} · {result['split']} · n={result['n']}")
    table.add_column("metric")
    for name in cols:
        table.add_column(name, justify="right")
    for k in keys:
        table.add_row(k, *[_fmt(c.get(k)) for c in cols.values()])
    return table


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.3f}"
    return str(v)
