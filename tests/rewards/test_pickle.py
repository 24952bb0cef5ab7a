"""Rewards pickle (TRL's async rollout worker sends reward functions to a spawned process): every reward of every
registered task, as its reward table builds it, survives a pickle round trip with its name, parameters and scores.
"""

import pickle

import pytest

import rewards
from embodied_r1.registry import REGISTRY
from tests.fixtures.task_rows import fuzz_config, task_rows

FACTORY_MADE = [
    rewards.make_cross_sensor_consistency_reward(), rewards.make_touch_format_reward(max_chars=99),
    rewards.make_robot_format_reward(question_types=["mcq"]), rewards.make_tactile_grounded_reward(0.1, "graded"),
    rewards.make_keypoint_reward(tau=0.2, gripper_weight=0.5), rewards.make_direction_reward(partial=0.25),
]


@pytest.mark.parametrize("fn", FACTORY_MADE, ids=lambda f: f.__name__)
def test_parameterised_rewards_round_trip(fn):
    back = pickle.loads(pickle.dumps(fn))
    assert type(back) is type(fn) and back.__name__ == fn.__name__ and vars(back) == vars(fn)
    assert back.reward_range == fn.reward_range and back.__doc__ == fn.__doc__


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_reward_of_every_task_pickles_and_scores_the_same(name):
    task = REGISTRY.make(name)
    cfg = fuzz_config(task)
    rows = task_rows(name, task, cfg)
    golds = [task.sft_target(r) for r in rows]
    comps = [g if i % 3 else g[: len(g) // 2] for i, g in enumerate(golds)]  # some right, some broken
    cols = {k: [r.get(k) for r in rows] for k in sorted({k for r in rows for k in r})}
    for spec in task.reward_specs(cfg):
        cf = {c.name: golds[::-1] for c in spec.counterfactuals}
        back = pickle.loads(pickle.dumps(spec.fn))
        assert back.__name__ == spec.fn.__name__ == spec.name
        before = spec.fn(prompts=None, completions=comps, counterfactual_completions=cf, **cols)
        after = back(prompts=None, completions=comps, counterfactual_completions=cf, **cols)
        assert after == before and any(v is not None for v in before), spec.name
