"""Reward tables: the rewards part of a task config, and how a task's rewards are built from it.

A task config has two parts. The data part is every field but one: it decides the rows, and it alone enters
the dataset cache key (:func:`embodied_r1.data.dataset_key`). The rewards part is the field named
:data:`REWARDS_FIELD` (``rewards``): each reward's weight and parameters, so changing a reward never renders
the data again. Each task declares one table (open-r1's ``REWARD_FUNCS_REGISTRY`` is the model) mapping a
reward name to a :class:`RewardEntry`: how to build the reward, its default weight and its parameters.
Adding a reward is one function (or callable class) in ``rewards/`` plus one line in the table.

In YAML, under the task's section, a number is a weight and a mapping gives the weight and parameters;
rewards and parameters not given keep the table's defaults, and unknown names are config errors::

    touch:
      num_levels: 3                                   # data
      rewards:
        ordinal_accuracy_reward: 1.0                  # a number = the weight (0 leaves the reward out)
        tactile_grounded_reward: {weight: 0.5, margin: 0.0, mode: binary}
        touch_format_reward: {max_chars: 1500}        # parameters only: the weight stays the default
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from embodied_r1.config import _check_type, _closest
from embodied_r1.errors import UserError
from embodied_r1.task import CounterfactualSpec, RewardSpec

#: The task-config field that holds the rewards part; every other field is data (see the module docstring).
REWARDS_FIELD = "rewards"


@dataclass(frozen=True)
class RewardEntry:
    """One line of a task's reward table.

    Args:
        reward: A reward function in TRL's signature (used as it is; it takes no parameters), or a callable
            class whose instances are rewards (built as ``reward(**fixed, **params)``). Either way its
            ``__name__`` must be the table's name for it, the name it is logged under.
        weight: Default weight in GRPO's weighted sum (0: left out unless the config gives a weight).
        params: The parameters a config may set, with their defaults. A given value must have its default's
            type (an int is accepted for a float); the reward's constructor checks the value itself.
        fixed: Keyword arguments the task fixes and a config cannot set, such as the question types a reward
            scores.
        counterfactual: The reward compares the real answers with the policy's answers on the task's
            counterfactual inputs (:meth:`embodied_r1.task.Task.counterfactual_specs`); it is left out when
            the config names no variant, since it would give ``None`` for every row.
    """

    reward: Callable
    weight: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    counterfactual: bool = False

    def __post_init__(self):
        if not isinstance(self.reward, type) and (self.params or self.fixed):
            raise TypeError(f"reward table entry {getattr(self.reward, '__name__', self.reward)!r} is a function: "
                            f"it takes no parameters; make it a callable class to give it some")

    def build(self, params: Mapping[str, Any] | None = None) -> Callable:
        """The reward with ``params`` over the defaults.

        Raises:
            ValueError, TypeError: A parameter value its constructor refuses.
        """
        if not isinstance(self.reward, type):
            return self.reward  # a plain function: the table gives it no parameters (checked by resolve)
        return self.reward(**self.fixed, **{**self.params, **(params or {})})


def resolve_rewards(table: Mapping[str, RewardEntry], given: Any, where: str) -> dict[str, dict]:
    """The rewards part of a config, complete and checked: every reward of ``table`` with its weight and
    parameters, given values over the table's defaults.

    Resolving a resolved section gives it back unchanged, so a run's saved ``config.yaml`` loads as it was.

    Args:
        table: The task's reward table.
        given: The config's ``rewards`` section: reward name -> weight, or -> mapping of ``weight`` and
            parameters (None: all defaults).
        where: Dotted name of the section for error messages (``touch.rewards``).

    Returns:
        ``{name: {"weight": float, **params}}`` in table order.

    Raises:
        UserError: One line naming the closest known name for an unknown reward or parameter; a weight
            that is not a finite number; a parameter of the wrong type or refused by the reward; every
            weight 0.

    >>> def echo_reward(prompts, completions, **columns):
    ...     return [1.0] * len(completions)
    >>> class LengthReward:
    ...     __name__ = "length_reward"
    ...     def __init__(self, max_chars=100):
    ...         self.max_chars = max_chars
    >>> table = {"echo_reward": RewardEntry(echo_reward),
    ...          "length_reward": RewardEntry(LengthReward, 0.5, {"max_chars": 100})}
    >>> resolve_rewards(table, {"echo_reward": 2, "length_reward": {"max_chars": 50}}, "echo.rewards")
    {'echo_reward': {'weight': 2.0}, 'length_reward': {'weight': 0.5, 'max_chars': 50}}
    """
    given = {} if given is None else given
    if not isinstance(given, Mapping):
        raise UserError(f"{where} must map reward names to a weight or to {{weight: ..., parameter: ...}}, "
                        f"got {type(given).__name__}")
    for name in given:
        if name not in table:
            raise UserError(f"unknown reward '{where}.{name}'{_closest(str(name), table)}")
    out = {name: _resolve_one(name, entry, given.get(name), f"{where}.{name}") for name, entry in table.items()}
    if out and not any(v["weight"] != 0 for v in out.values()):
        raise UserError(f"{where} gives every reward weight 0; GRPO needs at least one reward")
    return out


def _resolve_one(name: str, entry: RewardEntry, value: Any, where: str) -> dict:
    """One reward's ``{"weight", **params}`` from its config value (None, a number or a mapping)."""
    known = ["weight", *entry.params]
    if value is None:
        value = {}
    elif _is_number(value):
        value = {"weight": value}
    elif not isinstance(value, Mapping):
        raise UserError(f"{where} must be a weight or a mapping of {', '.join(known)}, got {value!r}")
    for key in value:
        if key not in known:
            raise UserError(f"unknown reward parameter '{where}.{key}'{_closest(str(key), known)}")
    weight = value.get("weight", entry.weight)
    if not _is_number(weight) or not math.isfinite(float(weight)):
        raise UserError(f"{where}.weight must be a finite number, got {weight!r}")
    params = {}
    for key, default in entry.params.items():
        v = value.get(key, default)
        params[key] = v if default is None else _check_type(v, type(default).__name__, f"{where}.{key}")
    try:
        fn = entry.build(params)  # the reward's own checks (a mode name, a positive distance) run here
    except (TypeError, ValueError) as exc:
        reason = (str(exc).splitlines() or [repr(exc)])[0]
        raise UserError(f"config key '{where}': {reason}") from exc
    if getattr(fn, "__name__", None) != name:
        raise ValueError(f"reward table entry '{name}' builds a reward named {getattr(fn, '__name__', None)!r}; "
                         f"the table name must be the reward's __name__ (the logged name)")
    return {"weight": float(weight), **params}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def build_reward_specs(table: Mapping[str, RewardEntry], rewards: Any, counterfactuals: Sequence[CounterfactualSpec]
                       = (), where: str = REWARDS_FIELD) -> list[RewardSpec]:
    """The :class:`~embodied_r1.task.RewardSpec` of each reward with a non-zero weight, in table order.

    Args:
        table: The task's reward table.
        rewards: The config's rewards part (resolved or not; see :func:`resolve_rewards`).
        counterfactuals: The variants handed to the table's counterfactual rewards.
        where: Dotted name of the section for error messages.

    Returns:
        The specs GRPO and eval use.
    """
    specs = []
    for name, settings in resolve_rewards(table, rewards, where).items():
        entry, params = table[name], dict(settings)
        weight = params.pop("weight")
        if weight == 0 or (entry.counterfactual and not counterfactuals):
            continue
        specs.append(RewardSpec(entry.build(params), weight, list(counterfactuals) if entry.counterfactual else []))
    return specs
