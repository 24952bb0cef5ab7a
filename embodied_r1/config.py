"""Run configuration: dataclasses are the schema; precedence is defaults < YAML < CLI ``key=value``.

Unknown keys are errors that name the closest known key. The ``grpo`` and ``sft`` sections are validated
against the fields of ``trl.GRPOConfig`` and ``trl.SFTConfig`` (they pass through to TRL unchanged), and
the task's own settings (its data, env and reward weights) nest under the task's name.

Example YAML::

    task: touch
    stages: [sft, grpo]
    model: {name: tiny}
    grpo: {learning_rate: 1.0e-3, num_generations: 4, max_steps: 20}
    touch: {num_levels: 3, rewards: {ordinal_accuracy_reward: 1.0}}
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from embodied_r1.errors import UserError
from embodied_r1.rollout import RolloutConfig
from embodied_r1.stages.encoder_config import EncoderConfig
from embodied_r1.stages.registry import stage_names

STAGES = stage_names()


@dataclass
class ModelConfig:
    """Which policy to train and how.

    Args:
        name: Offline preset (``tiny``, ``small``, ``qwen2.5-vl-3b-arch``, ``qwen2.5-vl-7b-arch``), a hub id
            such as ``Qwen/Qwen2.5-VL-7B-Instruct``, a local model folder, or a finished run directory.
        lora: Train LoRA adapters on the language model instead of all weights.
        freeze_vision: Keep the vision tower fixed.
        dtype: ``auto`` (bf16 on a GPU that has it, else fp32), ``bfloat16``, ``float16`` or ``float32``.
        min_pixels, max_pixels: Image resize bounds of the processor (they set the image token count).
        attn_implementation: The language model's (and, with ``flash...``, the vision tower's) attention.
        vision_attention: ``grouped`` (the vision tower's windows in a few block-diagonal SDPA calls, the same
            attention; :mod:`embodied_r1.models.attention`) or ``per_window`` (transformers' own loop, one call
            per window). Ignored when ``attn_implementation`` is a flash-attention one.
        cudnn_attention: Let PyTorch's SDPA pick its cuDNN backend on a GPU. Off by default: with batches whose
            lengths change every step it builds a new cuDNN plan per shape, which halved SFT steps/s of the
            `small` preset on an H200 (README, Performance); flash and memory-efficient SDPA remain.
    """

    name: str = "tiny"
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: Any = None
    freeze_vision: bool = False
    dtype: str = "auto"
    attn_implementation: str = "sdpa"
    vision_attention: str = "grouped"
    cudnn_attention: bool = False
    min_pixels: int | None = None
    max_pixels: int | None = None

    def __post_init__(self):
        if self.vision_attention not in ("grouped", "per_window"):
            raise UserError(f"model.vision_attention '{self.vision_attention}' is not one of grouped, per_window")
        if self.dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise UserError(f"model.dtype '{self.dtype}' is not one of auto, bfloat16, float16, float32")
        if self.lora_r <= 0:
            raise UserError(f"model.lora_r must be positive, got {self.lora_r}")


@dataclass
class EvalConfig:
    """Evaluation settings (``embodied-r1 eval``).

    Args:
        split: Dataset split to evaluate.
        max_samples: Cap on evaluated rows (None: all).
        batch_size: Prompts per generation call.
        max_new_tokens: Generation budget per answer.
    """

    split: str = "test"
    max_samples: int | None = 200
    batch_size: int = 16
    max_new_tokens: int = 128
    counterfactual: bool = True


@dataclass
class TrainConfig:
    """One run: task, model, stages and their TRL settings, and the task's own section.

    Args:
        task: Registered task name (see ``embodied-r1 tasks``).
        stages: Stages to run in order, from ``encoder``, ``sft`` and ``grpo`` (:mod:`embodied_r1.stages`); each
            starts from the model the one before it saved.
        seed: Seed for data generation, model init and training.
        output_dir: Run directory (default ``runs/<task>-<timestamp>``).
        max_train_samples: Cap on training rows (None: all).
        log_every: Print a compact progress line every this many steps (None: about 20 per stage); every
            logged step still goes to ``metrics.jsonl`` and TensorBoard.
        data_workers: Processes that build the dataset when it is not cached, and that prepare SFT's inputs
            (four or more, one per 2,000 rows at most; None: the cores available to this process). Not part of
            any cache key: the rows are the same for any number.
        prepared_inputs: SFT trains on token ids and pixel values computed once per dataset and processor and
            cached with the rows (the batches equal TRL's collator's); false: TRL's collator processes every
            batch on the CPU. Run-local: it does not change what is trained.
        rollout: Which rollout engine generates (GRPO rollouts, counterfactual answers, eval) and its memory.
        grpo: Keyword arguments for ``trl.GRPOConfig``.
        sft: Keyword arguments for ``trl.SFTConfig``.
        encoder: Settings of the ``encoder`` stage (:class:`embodied_r1.stages.encoder_config.EncoderConfig`).
        task_config: The task's own settings, given in YAML under the task's name.
    """

    task: str = ""
    stages: list = field(default_factory=lambda: ["grpo"])
    seed: int = 0
    output_dir: str | None = None
    max_train_samples: int | None = None
    log_every: int | None = None
    data_workers: int | None = None
    prepared_inputs: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    grpo: dict = field(default_factory=dict)
    sft: dict = field(default_factory=dict)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    task_config: Any = None

    def __post_init__(self):
        bad = [s for s in self.stages if s not in STAGES]
        if bad or not self.stages:
            raise UserError(f"stages {self.stages} must be a non-empty list of {', '.join(STAGES)}")
        if self.data_workers is not None and self.data_workers < 1:  # the type is checked by build_dataclass
            raise UserError(f"data_workers={self.data_workers} must be >= 1 (or null: the cores available)")

    def to_dict(self) -> dict:
        """The resolved config as plain data, with the task section under the task's name."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "task_config"}
        d["model"] = dataclasses.asdict(self.model)
        d["eval"] = dataclasses.asdict(self.eval)
        d["rollout"] = dataclasses.asdict(self.rollout)
        d["encoder"] = dataclasses.asdict(self.encoder)
        if self.task_config is not None:
            d[self.task] = dataclasses.asdict(self.task_config) if dataclasses.is_dataclass(self.task_config) else dict(self.task_config)
        return d


def _closest(key: str, known) -> str:
    m = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean '{m[0]}'?)" if m else f" (known: {', '.join(sorted(known))})"


def build_dataclass(cls, data: dict | None, where: str):
    """Instantiate dataclass ``cls`` from ``data``, rejecting unknown keys and nesting dataclass fields.

    Args:
        cls: The dataclass type.
        data: Its keys and values (None: all defaults).
        where: Dotted name of this section for error messages.

    Returns:
        An instance of ``cls``.

    >>> build_dataclass(EvalConfig, {"batch_size": 4}, "eval").batch_size
    4
    """
    data = dict(data or {})
    if not isinstance(data, dict):
        raise UserError(f"config section '{where}' must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise UserError(f"unknown config key '{where}.{key}'{_closest(key, fields)}")
    kwargs = {}
    for name, value in data.items():
        ftype = fields[name].type
        default = _factory_default(fields[name])
        sub = type(default) if dataclasses.is_dataclass(default) else None
        if isinstance(default, dict) and default and isinstance(value, dict):
            value = {**default, **value}  # dict settings (e.g. reward weights) merge with their defaults
        if sub is not None and isinstance(value, dict):
            value = build_dataclass(sub, value, f"{where}.{name}")
        elif sub is not None and value is not None and not dataclasses.is_dataclass(value):
            raise UserError(f"config key '{where}.{name}' must be a mapping")
        kwargs[name] = _check_type(value, ftype, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise UserError(f"config section '{where}': {exc}") from exc


def _factory_default(f):
    """The value a field's ``default_factory`` makes (None for fields without one)."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


_SIMPLE = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}


def _check_type(value, ftype, where):
    """Check scalars against annotated types; ints are accepted for floats."""
    if value is None:
        return value
    spec = str(ftype).replace("typing.", "")
    options = [s.strip() for s in spec.split("|")]
    if "Any" in options or any(o.startswith(("list[", "dict[", "tuple[")) for o in options):
        return value
    types = [_SIMPLE[o] for o in options if o in _SIMPLE]
    if not types:
        return value
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if bool not in types and isinstance(value, bool):
        raise UserError(f"config key '{where}' expects {spec}, got a boolean {value}")
    if not isinstance(value, tuple(types)):
        raise UserError(f"config key '{where}' expects {spec}, got {type(value).__name__} {value!r}")
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one CLI override ``a.b.c=value`` (value parsed as YAML).

    >>> parse_override("grpo.learning_rate=1e-4")
    (['grpo', 'learning_rate'], 0.0001)
    """
    if "=" not in text or text.startswith("="):
        raise UserError(f"bad override '{text}': write key=value, e.g. grpo.learning_rate=1e-4")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if any(not p for p in parts):
        raise UserError(f"bad override key '{key}': use dotted names like model.name or touch.num_levels")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if _looks_float(value):  # YAML 1.1 reads "1e-4" (no dot) as a string
        value = float(value)
    return parts, value


def _looks_float(v) -> bool:
    if not isinstance(v, str):
        return False
    try:
        float(v)
    except ValueError:
        return False
    return any(c in v.lower() for c in "e.") and v.lower() not in ("nan", "inf", "-inf", "infinity")


def apply_override(data: dict, parts: list[str], value) -> None:
    """Set ``data[parts[0]][parts[1]]... = value``, creating sections as needed."""
    node = data
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise UserError(f"override '{'.'.join(parts)}': '{p}' is not a section")
        node = nxt
    node[parts[-1]] = value


def read_yaml(path: str | Path) -> dict:
    """Read a YAML config file into a dict, with one-line errors for missing or malformed files."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"config file {p} does not exist; see configs/ for examples")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"config file {p}{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must hold a mapping of keys, not {type(data).__name__}")
    return data


def _trl_fields(kind: str) -> set[str]:
    import trl

    cls = trl.GRPOConfig if kind == "grpo" else trl.SFTConfig
    return {f.name for f in dataclasses.fields(cls)}


# Settings that the run directory owns; letting users set them under grpo/sft would split the run apart.
_OWNED = {"output_dir", "logging_dir", "resume_from_checkpoint", "seed"}


def _trl_types(kind: str) -> dict[str, str]:
    """Scalar field types of the TRL config, spelled as :func:`_check_type` reads them (``"float | None"``)."""
    import types
    import typing

    import trl

    cls = trl.GRPOConfig if kind == "grpo" else trl.SFTConfig
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an unresolvable annotation: leave the value checks to TRL
        return {}
    names = {int: "int", float: "float", bool: "bool", str: "str", type(None): "None"}
    out = {}
    for key, hint in hints.items():
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        if all(a in names for a in args):
            out[key] = " | ".join(names[a] for a in args)
    return out


def validate_trl_section(kind: str, section: dict) -> dict:
    """Reject keys that ``trl.GRPOConfig`` / ``trl.SFTConfig`` do not have, keys the run owns, and scalar values of
    the wrong type (TRL itself would accept ``learning_rate: fast`` and fail at the first optimizer step)."""
    if not isinstance(section, dict):
        raise UserError(f"config section '{kind}' must be a mapping of trl.{kind.upper()}Config arguments")
    known = _trl_fields(kind)
    for key in section:
        if key in _OWNED:
            raise UserError(f"config key '{kind}.{key}' is set by the run itself; use --output / seed instead")
        if key not in known:
            raise UserError(f"unknown config key '{kind}.{key}': not a trl.{'GRPO' if kind == 'grpo' else 'SFT'}Config "
                            f"field{_closest(key, known)}")
    types = _trl_types(kind)
    for key, value in section.items():
        if key in types:
            section[key] = _check_type(value, types[key], f"{kind}.{key}")
    return section


def load_config(path: str | None, overrides: list[str], task_config_cls_for, base: dict | None = None) -> TrainConfig:
    """Resolve defaults < base < YAML < overrides into a validated ``TrainConfig``.

    Args:
        path: YAML file or None.
        overrides: ``key=value`` strings, applied in order.
        task_config_cls_for: ``fn(task_name) -> dataclass type`` of that task's settings (from the registry).
        base: Settings below the YAML: a run's own config on ``--resume``, or a task's recipe.

    Returns:
        The resolved ``TrainConfig``.
    """
    data = merge_dicts(base or {}, read_yaml(path) if path else {})
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, parts, value)
    return config_from_dict(data, task_config_cls_for)


def config_from_dict(data: dict, task_config_cls_for) -> TrainConfig:
    """Validate plain config data (the shape of ``config.yaml``) into a ``TrainConfig``."""
    data = copy.deepcopy(data)
    task = data.get("task")
    if not task or not isinstance(task, str):
        raise UserError("no task given: pass --task NAME or set 'task:' in the config (see `embodied-r1 tasks`)")
    task_cls = task_config_cls_for(task)
    known_top = {f.name for f in dataclasses.fields(TrainConfig)} - {"task_config"}
    task_section = move_renamed(data.pop(task, None), getattr(task_cls, "renamed_settings", {}))
    for key in data:
        if key not in known_top:
            raise UserError(f"unknown config key '{key}'{_closest(key, known_top | {task})}")
    validate_trl_section("grpo", data.get("grpo") or {})
    validate_trl_section("sft", data.get("sft") or {})
    if isinstance(data.get("stages"), str):
        data["stages"] = [s.strip() for s in data["stages"].split(",")]
    cfg = build_dataclass(TrainConfig, data, "config")
    cfg.grpo = dict(cfg.grpo or {})
    cfg.sft = dict(cfg.sft or {})
    cfg.task_config = build_dataclass(task_cls, task_section, task)
    return cfg


def move_renamed(section, renamed: dict):
    """Move settings a task config renamed (``old -> "new.dotted.path"``) to their new place, so configs of
    earlier versions still load. A number where a mapping is needed becomes ``{"weight": number}`` (a reward
    given by its weight alone).

    >>> move_renamed({"tau": 0.2, "rewards": {"kp": 1.0}}, {"tau": "rewards.kp.tau"})
    {'rewards': {'kp': {'weight': 1.0, 'tau': 0.2}}}
    """
    if not isinstance(section, dict) or not renamed:
        return section
    section = copy.deepcopy(section)
    for old, new in renamed.items():
        if old not in section:
            continue
        value = section.pop(old)
        node, *path, last = new.split(".")
        parent = section.setdefault(node, {})
        for part in path:
            child = parent.get(part)
            if not isinstance(child, dict):
                child = parent[part] = {} if child is None else {"weight": child}
            parent = child
        parent.setdefault(last, value)  # a value already given at the new place wins
    return section


def merge_dicts(base: dict, top: dict) -> dict:
    """Deep merge: mappings merge key by key, anything else in ``top`` replaces ``base``.

    >>> merge_dicts({"grpo": {"a": 1, "b": 2}}, {"grpo": {"b": 3}})
    {'grpo': {'a': 1, 'b': 3}}
    """
    out = copy.deepcopy(base)
    for k, v in top.items():
        out[k] = merge_dicts(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


#: Settings that change how a run executes on this machine, not what it computes: free to differ on resume.
RUN_LOCAL = ("output_dir", "data_workers", "log_every", "prepared_inputs")


def config_diff(old: TrainConfig, new: TrainConfig, ignore=RUN_LOCAL) -> list[str]:
    """Every setting that differs between two configs, as ``key: old -> new`` lines.

    >>> a, b = TrainConfig(task="x"), TrainConfig(task="x", seed=3)
    >>> config_diff(a, b)
    ['seed: 0 -> 3']
    """
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                out.update(flat(v, key + "."))
            else:
                out[key] = v
        return out

    a, b = flat(old.to_dict()), flat(new.to_dict())
    missing = object()
    return [f"{k}: {a.get(k, '(unset)')} -> {b.get(k, '(unset)')}" for k in sorted(set(a) | set(b))
            if k not in ignore and a.get(k, missing) != b.get(k, missing)]


def dump_config(cfg: TrainConfig, path: Path) -> None:
    """Write the resolved config as YAML."""
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
