"""envs.robosuite.tasks: one module per robosuite task, collected in one registry (no simulator needed)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from envs.robosuite import tasks as registry
from envs.robosuite.experts import get_expert
from envs.robosuite.tasks.spec import TaskSpec

MODULES = {"Lift": "lift", "Stack": "stack", "PickPlaceCan": "pick_place_can", "Door": "door"}


def test_the_registry_lists_each_task_from_its_own_module():
    assert list(registry.TASKS) == list(MODULES) == list(registry.SUPPORTED_TASKS)
    for name, module in MODULES.items():
        mod = importlib.import_module(f"envs.robosuite.tasks.{module}")
        spec = mod.SPEC
        assert isinstance(spec, TaskSpec) and spec.name == name and registry.get_task(name) is spec
        # the module provides the spec, its expert and its object poses; nothing else defines them
        assert spec.expert is mod.expert and spec.object_poses is mod.object_poses
        assert inspect.getmodule(spec.expert) is mod and inspect.getmodule(spec.object_poses) is mod
        assert get_expert(name) is mod.expert
        assert spec.instruction and len(spec.workspace_low) == len(spec.workspace_high) == 3


def test_a_spec_without_its_expert_is_refused_and_a_duplicate_name_raises():
    with pytest.raises(TypeError, match="expert"):
        TaskSpec(name="X", env_name="X", instruction="x", reference_point=(0, 0, 0), workspace_low=(0, 0, 0),
                 workspace_high=(1, 1, 1), object_poses=lambda env: {})
    lift = registry.TASKS["Lift"]
    with pytest.raises(ValueError, match="'Lift' is defined twice"):
        registry._collect(lift, registry.TASKS["Stack"], lift)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: \\['Door', 'Lift', 'PickPlaceCan', 'Stack'\\]"):
        registry.get_task("NutAssemblyRound")
    with pytest.raises(KeyError, match="NutAssemblyRound"):
        get_expert("NutAssemblyRound")


def test_every_task_has_a_gymnasium_id():
    pytest.importorskip("gymnasium")
    from envs.robosuite.control_env import control_env_id, register_envs

    ids = register_envs()
    assert [control_env_id(t) for t in registry.SUPPORTED_TASKS] == [i for i in ids if i != "embodied_r1/KeypointControl-v0"]
