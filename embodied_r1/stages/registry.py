"""Stage registry: name -> stage class, by ``"module:Class"`` string so that registering imports nothing heavy.

The config validates ``stages:`` against these names and the CLI offers them to ``--stage``; both run before any
heavy import. As with tasks, a duplicate name is an error and an unknown name lists the known ones.
"""

from __future__ import annotations

import importlib

from embodied_r1.errors import UserError

#: The built-in stages, in the order a full recipe runs them.
_STAGES: dict[str, str | type] = {
    "encoder": "embodied_r1.stages.encoder:EncoderStage",
    "sft": "embodied_r1.stages.trl_stages:SFTStage",
    "grpo": "embodied_r1.stages.trl_stages:GRPOStage",
}


def stage_names() -> tuple[str, ...]:
    """Names of the registered stages.

    >>> stage_names()[:3]
    ('encoder', 'sft', 'grpo')
    """
    return tuple(_STAGES)


def register_stage(name: str, stage: str | type) -> None:
    """Register a stage class (or ``"module:Class"``) under ``name``; a duplicate raises."""
    if name in _STAGES:
        raise ValueError(f"stage '{name}' is already registered; known stages: {', '.join(_STAGES)}")
    _STAGES[name] = stage


def unregister_stage(name: str) -> None:
    """Remove a registration (tests)."""
    _STAGES.pop(name, None)


def get_stage(name: str):
    """An instance of the stage registered as ``name``.

    Raises:
        UserError: No stage has that name (the message lists the known ones).
    """
    if name not in _STAGES:
        raise UserError(f"unknown stage '{name}'; known stages: {', '.join(_STAGES)}")
    spec = _STAGES[name]
    if isinstance(spec, str):
        module, _, attr = spec.partition(":")
        spec = getattr(importlib.import_module(module), attr)
    return spec()
