"""Building and caching a task's dataset on disk (HF ``datasets``), keyed by its settings and seed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from embodied_r1.errors import UserError
from embodied_r1.reward_table import REWARDS_FIELD
from embodied_r1.task import atomic_dir, cache_root


def data_settings(task_cfg) -> dict:
    """The data part of a task config: every field but the rewards part (``rewards``, see
    :mod:`embodied_r1.reward_table`), whose weights and parameters never change the rows.

    >>> data_settings({"num_levels": 3, "rewards": {"touch_format_reward": {"weight": 0.2}}})
    {'num_levels': 3}
    """
    cfg = dataclasses.asdict(task_cfg) if dataclasses.is_dataclass(task_cfg) else dict(task_cfg or {})
    cfg.pop(REWARDS_FIELD, None)
    return cfg


def dataset_key(task_name: str, task_cfg, seed: int, data_version: str = "1", fingerprint: str = "") -> str:
    """Stable key of a dataset from its task, the task's data-code version, data settings, seed and input files.

    Only the config's data part (:func:`data_settings`) enters the key, so changing a reward's weight or
    parameters reuses the cached rows. ``fingerprint`` is the task's
    :meth:`~embodied_r1.task.Task.data_fingerprint`: settings name a folder, only the fingerprint sees that its
    files changed. An empty one leaves the key as it was without it.
    """
    parts = {"task": task_name, "cfg": data_settings(task_cfg), "seed": seed, "v": data_version}
    if fingerprint:
        parts["files"] = fingerprint
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a Slurm or container limit), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def task_dataset_key(task, task_cfg, seed: int, fingerprint: str | None = None) -> str:
    """The cache key of ``task``'s dataset for these settings: what a run's rows are (cheap; builds nothing)."""
    if fingerprint is None:
        fingerprint = str(task.data_fingerprint(task_cfg) or "")
    return dataset_key(task.name, task_cfg, seed, str(getattr(task, "data_version", "1")), fingerprint)


def load_or_build(task, task_cfg, seed: int, root: Path | None = None, rebuild: bool = False,
                  num_workers: int | None = None):
    """Load the cached dataset of ``task`` for these settings, or build and cache it.

    Args:
        task: A Task instance.
        task_cfg: Its config.
        seed: Data seed.
        root: Cache folder (default :func:`cache_root`).
        rebuild: Build again even if cached.
        num_workers: Worker processes the task may build with (None: :func:`available_cores`). Not part of
            the cache key: the rows do not depend on it.

    Returns:
        ``(DatasetDict, path)``.

    Several processes asking for the same entry at once (two runs of one recipe started together) build it
    once: an OS file lock beside the entry makes the others wait and then read the cached copy. The lock
    dies with its holder, so a killed build never blocks a later one.
    """
    from filelock import FileLock

    root = Path(root) if root else cache_root()
    fingerprint = str(task.data_fingerprint(task_cfg) or "")
    path = root / task.name / task_dataset_key(task, task_cfg, seed, fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(path.name + ".lock"))):
        return _load_or_build_locked(task, task_cfg, seed, path, fingerprint, rebuild, num_workers)


def _load_or_build_locked(task, task_cfg, seed, path: Path, fingerprint: str, rebuild: bool, num_workers):
    from datasets import DatasetDict, load_from_disk

    if (path / "card.json").exists() and not rebuild:
        try:
            return load_from_disk(str(path / "data")), path
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise UserError(f"cached dataset {path} is unreadable ({exc}); rebuild it with "
                            f"`embodied-r1 data {task.name} --rebuild`") from exc
    t0 = time.time()
    ds = task.build_dataset(task_cfg, seed, num_workers=num_workers or available_cores())
    if not isinstance(ds, DatasetDict) or "train" not in ds:
        raise UserError(f"task '{task.name}' built {type(ds).__name__}; build_dataset must return a DatasetDict with a 'train' split")
    card = {
        "task": task.name, "seed": seed, "key": path.name, "data_fingerprint": fingerprint,
        "built_seconds": round(time.time() - t0, 2),
        "rows": {k: len(v) for k, v in ds.items()},
        "columns": ds["train"].column_names,
        "settings": data_settings(task_cfg),  # the data part only: the cache serves any reward settings
    }
    card.update(task.dataset_card(task_cfg, ds))
    with atomic_dir(path) as tmp:  # the cache entry appears whole or not at all
        ds.save_to_disk(str(tmp / "data"))
        (tmp / "card.json").write_text(json.dumps(card, indent=2, default=str))
    return load_from_disk(str(path / "data")), path


def check_export_target(out: str | Path) -> Path:
    """``out`` as a folder an export may fill: absent or empty.

    Raises:
        UserError: ``out`` exists and is not empty.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--output {out} is not empty; choose a new folder for the exported dataset")
    return out


def export_dataset(path: Path, out: Path) -> Path:
    """Copy a cached dataset (``data/`` and ``card.json``) to ``out``, whole or not at all.

    Raises:
        UserError: ``out`` exists and is not empty.
    """
    out = check_export_target(out)
    with atomic_dir(out) as tmp:
        shutil.copytree(path / "data", tmp / "data")
        shutil.copy2(path / "card.json", tmp / "card.json")
    return out


def push_dataset(ds, repo: str, private: bool = True) -> None:
    """Push a built dataset to the Hugging Face hub as ``repo`` (needs a token).

    Raises:
        UserError: No token is configured, or the hub refuses the push.
    """
    from huggingface_hub import get_token

    if not get_token():
        raise UserError("--push-to-hub needs a Hugging Face token: run `hf auth login` or set HF_TOKEN")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise UserError("--push-to-hub with HF_HUB_OFFLINE=1: unset it to reach the hub")
    try:
        ds.push_to_hub(repo, private=private)
    except Exception as exc:  # network, permission, bad repo name: one line, the cache stays as it was
        raise UserError(f"push of the dataset to {repo} failed: {str(exc).splitlines()[0][:200]}") from exc
