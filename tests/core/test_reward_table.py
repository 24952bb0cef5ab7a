"""Reward tables: a task config's rewards part is resolved against its task's table and stays out of the
dataset cache key, so changing a reward's weight or parameters reuses the rendered rows."""

from dataclasses import dataclass, field

import pytest

from embodied_r1.config import load_config
from embodied_r1.data import dataset_key, load_or_build
from embodied_r1.errors import UserError
from embodied_r1.registry import REGISTRY
from embodied_r1.reward_table import RewardEntry, resolve_rewards
from embodied_r1.task import Task
from tests.fixtures.toy_task import SWATCH_REMOVED, ToyTask, digit_fraction_reward


class ShortReward:
    """Whether a completion is at most ``max_chars`` long; {0, 1}."""

    __name__ = "short_reward"
    reward_range = (0.0, 1.0)

    def __init__(self, max_chars: int = 10, strict: bool = False):
        if max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {max_chars}")
        self.max_chars, self.strict = max_chars, strict

    def __call__(self, prompts=None, completions=None, **columns):
        return [float(len(c) <= self.max_chars) for c in completions]


class CompareReward(ShortReward):
    """A reward fed counterfactual answers; {0, 1}."""

    __name__ = "compare_reward"


TABLE = {
    "digit_fraction_reward": RewardEntry(digit_fraction_reward, 1.0),
    "short_reward": RewardEntry(ShortReward, 0.5, {"max_chars": 10, "strict": False}),
    "compare_reward": RewardEntry(CompareReward, 0.0, counterfactual=True),
}


@dataclass
class TableToyConfig:
    rows: int = 8
    group_size: int = 2
    rewards: dict = field(default_factory=dict)

    def __post_init__(self):
        self.rewards = resolve_rewards(TABLE, self.rewards, "toy.rewards")


class TableToyTask(ToyTask):
    """The toy task with its rewards in a table (the core's default ``reward_specs``); counts its builds."""

    config_cls = TableToyConfig
    reward_table = TABLE
    reward_specs = Task.reward_specs
    builds = 0

    def build_dataset(self, cfg, seed, num_workers=1):
        type(self).builds += 1
        return super().build_dataset(cfg, seed)

    def counterfactual_specs(self, cfg):
        return [SWATCH_REMOVED]


def test_a_number_is_the_weight_and_a_mapping_the_weight_and_parameters():
    cfg = TableToyConfig(rewards={"digit_fraction_reward": 2, "short_reward": {"max_chars": 3}})
    assert cfg.rewards == {"digit_fraction_reward": {"weight": 2.0},
                           "short_reward": {"weight": 0.5, "max_chars": 3, "strict": False},
                           "compare_reward": {"weight": 0.0}}
    assert resolve_rewards(TABLE, cfg.rewards, "toy.rewards") == cfg.rewards  # a saved config loads as it was
    specs = TableToyTask().reward_specs(cfg)
    assert [(s.name, s.weight) for s in specs] == [("digit_fraction_reward", 2.0), ("short_reward", 0.5)]
    assert specs[1].fn.max_chars == 3 and specs[1].fn(None, ["abcd", "ab"]) == [0.0, 1.0]


def test_counterfactual_entries_get_the_tasks_variants():
    cfg = TableToyConfig(rewards={"compare_reward": 1.0})
    spec = TableToyTask().reward_specs(cfg)[-1]
    assert spec.name == "compare_reward" and spec.counterfactuals == [SWATCH_REMOVED]

    class NoVariants(TableToyTask):
        def counterfactual_specs(self, cfg):
            return []

    assert "compare_reward" not in [s.name for s in NoVariants().reward_specs(cfg)]  # it would score None only


@pytest.mark.parametrize("rewards, message", [
    ({"short_rewards": 1.0}, "unknown reward 'toy.rewards.short_rewards' (did you mean 'short_reward'?)"),
    ({"short_reward": {"max_char": 5}}, "unknown reward parameter 'toy.rewards.short_reward.max_char' "
                                        "(did you mean 'max_chars'?)"),
    ({"short_reward": {"wieght": 1}}, "(did you mean 'weight'?)"),
    ({"digit_fraction_reward": {"max_chars": 5}}, "unknown reward parameter 'toy.rewards.digit_fraction_reward"
                                                  ".max_chars' (known: weight)"),
    ({"short_reward": {"max_chars": "ten"}}, "'toy.rewards.short_reward.max_chars' expects int"),
    ({"short_reward": {"strict": 1}}, "'toy.rewards.short_reward.strict' expects bool"),
    ({"short_reward": {"max_chars": 0}}, "'toy.rewards.short_reward': max_chars must be >= 1, got 0"),
    ({"short_reward": "high"}, "toy.rewards.short_reward must be a weight or a mapping of weight, max_chars"),
    ({"short_reward": {"weight": float("nan")}}, "weight must be a finite number"),
    ({"digit_fraction_reward": 0, "short_reward": 0}, "every reward weight 0"),
    ([1.0], "toy.rewards must map reward names"),
])
def test_bad_rewards_are_one_line_errors(rewards, message):
    with pytest.raises(UserError) as exc:
        TableToyConfig(rewards=rewards)
    assert message in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def cls_for(name):
    return REGISTRY.get_class(name).config_cls


@pytest.mark.parametrize("override, message", [
    ("touch.rewards.tactile_grounded.margin=0.1", "did you mean 'tactile_grounded_reward'?"),
    ("touch.rewards.tactile_grounded_reward.margn=0.1", "did you mean 'margin'?"),
    ("touch.rewards.touch_format_reward.max_char=9", "did you mean 'max_chars'?"),
    ("touch.grounded_marginn=0.1", "unknown config key 'touch.grounded_marginn'"),
])
def test_unknown_reward_names_in_a_touch_config(override, message):
    with pytest.raises(UserError) as exc:
        load_config(None, ["task=touch", override], cls_for)
    assert message in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


@pytest.mark.parametrize("override, message", [
    ("robot-keypoint.rewards.keypoint.tau=0.2", "did you mean 'keypoint_reward'?"),
    ("robot-keypoint.rewards.keypoint_reward.taus=0.2", "did you mean 'tau'?"),
    ("robot-keypoint.taus=0.2", "unknown config key 'robot-keypoint.taus'"),
])
def test_unknown_reward_names_in_a_robot_config(override, message):
    with pytest.raises(UserError) as exc:
        load_config(None, ["task=robot-keypoint", override], cls_for)
    assert message in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_settings_moved_into_the_rewards_part_still_apply_there():
    touch = load_config(None, ["task=touch", "touch.grounded_margin=0.1"], cls_for).task_config
    robot = load_config(None, ["task=robot-keypoint", "robot-keypoint.tau=0.2"], cls_for).task_config
    assert touch.rewards["tactile_grounded_reward"]["margin"] == 0.1
    assert robot.rewards["keypoint_reward"]["tau"] == 0.2


def test_changing_a_reward_reuses_the_cached_dataset(tmp_path):
    task, root = TableToyTask(), tmp_path / "cache"
    TableToyTask.builds = 0
    _, path = load_or_build(task, TableToyConfig(), 0, root=root)
    card = (path / "card.json").stat().st_mtime_ns
    changed = TableToyConfig(rewards={"short_reward": {"weight": 3.0, "max_chars": 2}, "compare_reward": 1.0})
    _, again = load_or_build(task, changed, 0, root=root)
    assert again == path and TableToyTask.builds == 1 and (path / "card.json").stat().st_mtime_ns == card
    _, other = load_or_build(task, TableToyConfig(rows=6), 0, root=root)  # a data setting does build afresh
    assert other != path and TableToyTask.builds == 2


# The real tasks' configs, changed the way a user changes them: a key=value override of a reward parameter.
REAL_CHANGES = {
    "touch": ["touch.rewards.tactile_grounded_reward.margin=0.25", "touch.rewards.tactile_grounded_reward.mode=graded",
              "touch.rewards.touch_format_reward.max_chars=64", "touch.rewards.ordinal_accuracy_reward=2"],
    "robot-keypoint": ["robot-keypoint.rewards.keypoint_reward.tau=0.2",
                       "robot-keypoint.rewards.keypoint_reward.gripper_weight=0.5",
                       "robot-keypoint.rewards.direction_reward.partial=0.0",
                       "robot-keypoint.rewards.robot_format_reward={weight: 1.0, max_chars: 99}"],
}


@pytest.mark.parametrize("name", sorted(REAL_CHANGES))
def test_a_real_tasks_reward_parameters_reuse_its_cached_dataset(name, tmp_path):
    """Same cache key and no second build after changing reward parameters of the shipped tasks (before, every
    reward parameter but the weights was a flat data field and re-rendered the whole dataset)."""
    from datasets import Dataset, DatasetDict

    builds = []

    class Counting(REGISTRY.get_class(name)):
        def build_dataset(self, cfg, seed, num_workers=1):  # the rows do not matter here, only whether they are built
            builds.append(cfg)
            return DatasetDict(train=Dataset.from_list([{"x": 1}]))

        def data_fingerprint(self, cfg):
            return ""

        def dataset_card(self, cfg, ds):
            return {}

    task = Counting()
    base = load_config(None, [f"task={name}"], cls_for).task_config
    changed = load_config(None, [f"task={name}", *REAL_CHANGES[name]], cls_for).task_config
    assert [s.fn.__dict__ for s in task.reward_specs(base)] != [s.fn.__dict__ for s in task.reward_specs(changed)]
    assert dataset_key(name, base, 0) == dataset_key(name, changed, 0)
    _, path = load_or_build(task, base, 0, root=tmp_path)
    _, again = load_or_build(task, changed, 0, root=tmp_path)
    assert again == path and len(builds) == 1
