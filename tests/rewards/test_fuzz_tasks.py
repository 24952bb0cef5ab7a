"""Rewards survive anything, at volume: every reward of every registered task, on >= 10,000 generated completions.

Each task's rewards come from ``task.reward_specs`` with every reward weight switched on, so a task or reward
added later is fuzzed without touching this file. Label columns start as real rows of the task
(:mod:`tests.fixtures.task_rows`), repeated G times per prompt as TRL does, then get corrupted: wrong types,
``None``, NaN/inf, huge ints, strings where numbers belong, lists of the wrong length, rows of another task,
missing and wrongly shaped columns. Completions come in both shapes TRL passes (plain strings and
conversational message lists) and are assembled in bulk by a seeded numpy generator from a hypothesis-drawn
plan, so that hypothesis draws a few dozen choices per batch, not one per character.

Checked for every call: no exception, one value per completion, each ``None`` or a finite float inside the
reward's declared ``reward_range``. ``task.parse`` must not raise on the same texts.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embodied_r1.registry import REGISTRY
from tests.fixtures.fuzz_inputs import (ATOMS, BAD_VALUES, COLUMN_FAULTS, EDGE_COMPLETIONS, NOISE,
                                        column_fault, make_columns, make_completions,
                                        make_counterfactuals, mutate)
from tests.fixtures.task_rows import fuzz_config, task_rows

TASKS = REGISTRY.names()
MIN_COMPLETIONS = 10_000
EXAMPLES, BATCH = 40, (256, 400)  # 40 batches of >= 256 completions: >= 10,240 per reward before the edge cases

# ------------------------------------------------------------------------------------------ the checks
_SETUP: dict[str, tuple] = {}


def setup(name: str):
    """``(task, reward specs, rows, rows of the other tasks)`` of a registered task, built once per session."""
    for other in TASKS:
        if other not in _SETUP:
            task = REGISTRY.make(other)
            cfg = fuzz_config(task)
            _SETUP[other] = (task, task.reward_specs(cfg), task_rows(other, task, cfg))
    task, specs, rows = _SETUP[name]
    return task, specs, rows, [r for other in TASKS if other != name for r in _SETUP[other][2]]


def golds_of(task, picked: list[dict]) -> list[str]:
    """The task's gold completion of each row ("" where it has none, e.g. for another task's row)."""
    cache: dict[int, str] = {}
    for r in picked:
        if id(r) not in cache:
            try:
                cache[id(r)] = task.sft_target(r)
            except Exception:  # noqa: BLE001 - a row of another task: no gold, plain fuzz instead
                cache[id(r)] = ""
    return [cache[id(r)] for r in picked]


def check_reward(spec, prompts, completions, cols, cf, seen: Counter) -> None:
    """Call one reward as TRL would and check every value against its declared ``reward_range``."""
    fn = spec.fn
    assert hasattr(fn, "reward_range"), f"{spec.name} declares no reward_range = (lo, hi)"
    lo, hi = fn.reward_range
    kwargs = dict(cols)
    if cf is not None:
        kwargs["counterfactual_completions"] = cf
    out = fn(prompts=prompts, completions=completions, **kwargs)
    assert isinstance(out, list) and len(out) == len(completions), (spec.name, type(out))
    for i, v in enumerate(out):
        ok = v is None or (isinstance(v, float) and math.isfinite(v) and lo <= v <= hi)
        assert ok, (spec.name, i, v, repr(completions[i])[:200],
                    {k: repr(c[i])[:80] for k, c in cols.items() if isinstance(c, list) and len(c) == len(out)})
    seen[spec.name] += len(completions)


def check_parse(task, completions, seen: Counter) -> None:
    """``task.parse`` on every completion: it must not raise, whatever the shape."""
    for c in completions:
        task.parse(c)
    seen["parse"] += len(completions)


def run_edge_batches(task, specs, rows, seen: Counter) -> None:
    """Each hand-picked edge completion against one clean and one damaged row of every question type."""
    by_type = {}
    for r in rows:
        by_type.setdefault(r.get("question_type"), r)
    comps = EDGE_COMPLETIONS * len(by_type)
    picked = [r for r in by_type.values() for _ in EDGE_COMPLETIONS]
    clean = {k: [r.get(k) for r in picked] for k in sorted({k for r in rows for k in r})}
    damaged = {k: column_fault(v, "cells", np.random.default_rng(i)) for i, (k, v) in enumerate(clean.items())}
    cf = {c.name: comps[::-1] for s in specs for c in s.counterfactuals} or None
    for cols in (clean, damaged):
        for spec in specs:
            check_reward(spec, [None] * len(comps), comps, cols, cf, seen)
        check_parse(task, comps, seen)


@st.composite
def plans(draw):
    """A batch plan: hypothesis draws the structure, a seeded numpy generator expands it in bulk."""
    return dict(
        seed=draw(st.integers(0, 2 ** 32 - 1)),
        group=draw(st.sampled_from([1, 2, 4, 8])),
        size=draw(st.integers(*BATCH)),
        pieces=draw(st.lists(st.text(max_size=24) | st.sampled_from(NOISE + ATOMS), max_size=6)),
        shapes=draw(st.tuples(*[st.integers(0, 4)] * 3, st.integers(0, 1)).filter(lambda s: sum(s) > 0)),
        foreign_rate=draw(st.sampled_from([0.0, 0.0, 0.1, 0.5])),
        # column by position in the task's sorted column names (any task's), so no name is hard-coded here
        faults=draw(st.lists(st.tuples(st.integers(0, 63), st.sampled_from(COLUMN_FAULTS)), max_size=3)),
        counterfactual=draw(st.sampled_from(["ok", "ok", "ok", "absent", "empty", "not_a_dict", "short",
                                             "none_values", "odd_items", "extra"])),
        prompts=draw(st.sampled_from(["list", "none"])),
        extras=draw(st.booleans()),
    )


class _State:
    global_step = 3


EXTRAS = dict(trainer_state=_State(), log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None)


@pytest.mark.parametrize("name", TASKS)
def test_every_reward_survives_anything_at_volume(name):
    task, specs, rows, foreign = setup(name)
    assert specs, f"task {name} declares no rewards"
    seen: Counter = Counter()
    run_edge_batches(task, specs, rows, seen)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(plans())
    def fuzzed_batch(plan):
        rng = np.random.default_rng(plan["seed"])
        n_groups = max(1, plan["size"] // plan["group"])
        cols, picked = make_columns(rng, rows, foreign, n_groups, plan["group"], plan["foreign_rate"], plan["faults"])
        n, golds = len(picked), golds_of(task, picked)
        comps = make_completions(rng, n, plan["pieces"], plan["shapes"], golds)
        cf = make_counterfactuals(rng, specs, n, plan["counterfactual"], plan["pieces"], golds)
        prompts = [[{"role": "user", "content": "?"}]] * n if plan["prompts"] == "list" else None
        if plan["extras"]:
            cols = {**cols, **EXTRAS, "completion_ids": [[1, 2]] * n}
        for spec in specs:
            check_reward(spec, prompts, comps, cols, cf, seen)
        check_parse(task, comps, seen)

    fuzzed_batch()
    for key in [s.name for s in specs] + ["parse"]:
        assert seen[key] >= MIN_COMPLETIONS, (name, key, seen[key])


@pytest.mark.parametrize("name", TASKS)
def test_rewards_declare_their_range(name):
    """Every reward carries ``reward_range = (lo, hi)``, and its docstring's first line names that range."""
    task = REGISTRY.make(name)
    cfg = fuzz_config(task)
    specs = task.reward_specs(cfg)
    assert {s.name for s in specs} >= set(getattr(cfg, "rewards", {})), "a reward of the table was not built"
    for spec in specs:
        lo, hi = spec.fn.reward_range
        assert math.isfinite(lo) and math.isfinite(hi) and lo < hi, spec.name
        first = (spec.fn.__doc__ or "").strip().splitlines()[0]
        assert re.search(rf"[\[{{]{lo:g},.*{hi:g}[\]}}]", first), (spec.name, first)


@pytest.mark.parametrize("name", TASKS)
def test_damage_stays_in_its_row(name):
    """Damaging some rows (their completion, label cells or counterfactual answers) leaves the scores of every
    other row as they were, except rows of the same ``task.group_column`` group, which share a consensus."""
    task, specs, rows, _ = setup(name)
    group_col = task.group_column

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(seed=st.integers(0, 2 ** 32 - 1), group=st.sampled_from([1, 2, 4]), size=st.integers(8, 96),
           damaged_share=st.sampled_from([0.05, 0.2, 0.5]))
    def damaged_batch(seed, group, size, damaged_share):
        rng = np.random.default_rng(seed)
        n_groups = max(1, size // group)
        cols, picked = make_columns(rng, rows, [], n_groups, group, 0.0, [])
        n, golds = len(picked), golds_of(task, picked)
        comps = make_completions(rng, n, [], (4, 2, 1, 0), golds)
        cf = make_counterfactuals(rng, specs, n, "ok", [], golds)
        hit = sorted({int(i) for i in rng.integers(n, size=max(1, int(damaged_share * n)))})
        bad_comps, bad_cols = list(comps), {k: list(v) for k, v in cols.items()}
        bad_cf = {k: list(v) for k, v in cf.items()}
        for i in hit:
            what = int(rng.integers(3))  # 0: the texts, 1: the label cells, 2: both
            if what != 1:
                bad_comps[i] = EDGE_COMPLETIONS[int(rng.integers(len(EDGE_COMPLETIONS)))]
                for v in bad_cf:
                    bad_cf[v][i] = EDGE_COMPLETIONS[int(rng.integers(len(EDGE_COMPLETIONS)))]
            if what != 0:
                for k in bad_cols:
                    if rng.random() < 0.3:
                        bad_cols[k][i] = BAD_VALUES[int(rng.integers(len(BAD_VALUES)))]
        shared = {repr(cols[group_col][i]) for i in hit} if group_col in cols else set()
        keep = [i for i in range(n)
                if i not in hit and (group_col not in cols or repr(cols[group_col][i]) not in shared)]
        for spec in specs:
            before = spec.fn(prompts=None, completions=comps, counterfactual_completions=cf, **cols)
            after = spec.fn(prompts=None, completions=bad_comps, counterfactual_completions=bad_cf, **bad_cols)
            changed = [(i, before[i], after[i]) for i in keep if before[i] != after[i]]
            damage = [(i, repr(bad_comps[i])[:60], {k: repr(bad_cols[k][i])[:40] for k in bad_cols}) for i in hit]
            assert not changed, (spec.name, changed[:5], damage[:5])

    damaged_batch()


@pytest.mark.parametrize("name", TASKS)
def test_every_bad_label_value_stays_in_its_row(name):
    """Each bad value in each label column, put into one row per question type of a whole clean batch (gold
    and near-miss answers), changes no other row's score (rows of its group excepted, as above)."""
    task, specs, rows, _ = setup(name)
    group_of = (lambda i: repr(rows[i].get(task.group_column))) if task.group_column else (lambda i: i)
    sizes = Counter(group_of(i) for i in range(len(rows)))
    targets: dict = {}
    for i, r in enumerate(rows):  # one row per question type, in a multi-row group where there is one
        q = r.get("question_type")
        if q not in targets or sizes[group_of(i)] > 1 >= sizes[group_of(targets[q])]:
            targets[q] = i
    hit = set(targets.values())
    keep = [i for i in range(len(rows)) if group_of(i) not in {group_of(j) for j in hit}]
    assert keep, "the batch must hold rows outside the damaged groups"
    rng = np.random.default_rng(0)
    golds = golds_of(task, rows)
    comps = [g if i % 2 else mutate(rng, g, ATOMS) for i, g in enumerate(golds)]
    cols = {k: [r.get(k) for r in rows] for k in sorted({k for r in rows for k in r})}
    cf = make_counterfactuals(rng, specs, len(rows), "ok", [], golds)
    failures = []
    for spec in specs:
        before = spec.fn(prompts=None, completions=comps, counterfactual_completions=cf, **cols)
        for col in cols:
            for bad in BAD_VALUES:
                bad_cols = {**cols, col: [bad if i in hit else v for i, v in enumerate(cols[col])]}
                after = spec.fn(prompts=None, completions=comps, counterfactual_completions=cf, **bad_cols)
                failures += [(spec.name, col, repr(bad)[:30], i, before[i], after[i])
                             for i in keep if before[i] != after[i]]
    assert not failures, failures[:10]
