"""The shipped tasks' reward tables: each reward scores only its own task's question types."""

import pytest

from embodied_r1.registry import REGISTRY
from tests.fixtures.task_rows import fuzz_config, task_rows


@pytest.mark.parametrize("name", REGISTRY.names())
def test_a_third_tasks_rows_are_no_reward_of_this_task(name):
    """Rows of a third task (question types no shipped task has, every other column a valid label) get None
    from every reward of this task, even when written in exactly this task's format. Before, the touch and robot
    format rewards each scored every row that was not of the other task."""
    task = REGISTRY.make(name)
    cfg = fuzz_config(task)
    rows = task_rows(name, task, cfg)
    golds = [task.sft_target(r) for r in rows]
    third = [{**r, "question_type": ("count", "echo", None)[i % 3]} for i, r in enumerate(rows)]
    cols = {k: [r.get(k) for r in third] for k in sorted({k for r in third for k in r})}
    specs = task.reward_specs(cfg)
    assert any(s.name.endswith("format_reward") for s in specs)
    for spec in specs:
        cf = {c.name: golds[::-1] for c in spec.counterfactuals}
        out = spec.fn(prompts=None, completions=golds, counterfactual_completions=cf, **cols)
        assert out == [None] * len(rows), (spec.name, [v for v in out if v is not None][:5])
        own = spec.fn(prompts=None, completions=golds, counterfactual_completions=cf,
                      **{k: [r.get(k) for r in rows] for k in cols})
        assert any(v is not None for v in own), spec.name  # the same rows with their own types are scored


@pytest.mark.parametrize("name", REGISTRY.names())
def test_the_table_names_are_the_logged_names(name):
    task = REGISTRY.make(name)
    assert task.reward_table, f"task {name} has no reward table"
    specs = task.reward_specs(fuzz_config(task))  # every weight switched on
    assert [s.name for s in specs] == list(task.reward_table)
