"""Checkpoints a resumed run can trust: complete or invisible, and weights that load or fail loudly.

``transformers.Trainer`` writes ``checkpoint-N/`` file by file and, on resume, loads full-model weights with
``load_state_dict(strict=False)``. Two consequences this module exists to prevent:

* A kill while a checkpoint is written leaves a folder that looks like a checkpoint (an empty one, or one with
  a 0-byte ``optimizer.pt``); resume then picks it and dies. Here a checkpoint counts only when its completion
  marker lists every file with its size and the files still have those sizes (or, for folders from before the
  marker, when ``trainer_state.json`` — the Trainer's last write — is whole and names the same step).
* ``save_pretrained`` stores Qwen2.5-VL weights under the hub's key layout (``model.layers.*``, ``visual.*``)
  while the live model's keys are ``model.language_model.*``; the Trainer's strict=False load then matches no
  key, logs a warning, and training silently restarts from the initial weights. Here the saved keys are mapped
  back through transformers' own conversion table, and any key that still does not match is an error.

:class:`CheckpointMixin` adds both to a Trainer subclass by overriding two Trainer methods and calling the
originals, nothing of TRL or transformers pasted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from embodied_r1.errors import UserError

MARKER = "embodied_r1_complete.json"
#: The full-model weight files ``save_pretrained`` writes: one safetensors file, a sharded index, or a torch bin.
SINGLE, INDEX, TORCH_BIN = "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"
_STEP = re.compile(r"^checkpoint-(\d+)$")


class CheckpointMismatch(UserError):
    """A checkpoint's weights do not fit the model they are loaded into."""


def write_marker(folder: str | Path, step: int) -> Path:
    """Record that ``folder`` is a complete checkpoint of ``step``: every file and its size, fsynced.

    Args:
        folder: The checkpoint folder, fully written.
        step: Its global step.

    Returns:
        The marker's path.
    """
    folder = Path(folder)
    files = {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != MARKER}
    tmp = folder / (MARKER + ".tmp")
    with tmp.open("w") as f:
        json.dump({"step": step, "files": files}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(folder / MARKER)
    return folder / MARKER


def checkpoint_problem(folder: str | Path) -> str | None:
    """Why ``folder`` is not a complete checkpoint, or None when it is.

    >>> checkpoint_problem("/nonexistent/checkpoint-3")
    'no trainer_state.json (the Trainer writes it last)'
    """
    folder = Path(folder)
    m = _STEP.match(folder.name)
    step = int(m.group(1)) if m else None
    marker = folder / MARKER
    if marker.is_file():
        try:
            info = json.loads(marker.read_text())
            files = dict(info["files"])
        except (ValueError, KeyError, TypeError, OSError):
            return "its completion marker is unreadable"
        for rel, size in files.items():
            p = folder / rel
            if not p.is_file():
                return f"{rel} is missing"
            if p.stat().st_size != size:
                return f"{rel} has {p.stat().st_size} bytes, {size} were written"
        return None
    state = folder / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json (the Trainer writes it last)"
    try:
        saved_step = json.loads(state.read_text()).get("global_step")
    except (ValueError, OSError):
        return "trainer_state.json is torn"
    if step is not None and saved_step != step:
        return f"trainer_state.json is of step {saved_step}"
    empty = [p.name for p in folder.iterdir() if p.is_file() and p.stat().st_size == 0]
    return f"{empty[0]} is empty" if empty else None


def find_checkpoints(stage_dir: str | Path) -> tuple[str | None, list[tuple[str, str]]]:
    """The newest complete ``checkpoint-N`` of a stage folder, and the incomplete ones newer than it.

    Args:
        stage_dir: A stage's TRL output folder.

    Returns:
        ``(path or None, [(path, why incomplete), ...])``.
    """
    d = Path(stage_dir)
    if not d.is_dir():
        return None, []
    cks = sorted((p for p in d.iterdir() if p.is_dir() and _STEP.match(p.name)),
                 key=lambda p: int(_STEP.match(p.name).group(1)), reverse=True)
    skipped = []
    for p in cks:
        why = checkpoint_problem(p)
        if why is None:
            return str(p), skipped
        skipped.append((str(p), why))
    return None, skipped


def checkpoint_step(path: str | Path) -> int:
    """The global step of a ``checkpoint-N`` folder."""
    return int(_STEP.match(Path(path).name).group(1))


# ---------------------------------------------------------------------------------------------------------------
# Loading full-model weights
# ---------------------------------------------------------------------------------------------------------------

def saved_to_live_keys(model) -> dict[str, str]:
    """Map each weight name as ``save_pretrained`` writes it to the live model's name.

    Uses transformers' own reverse conversion (``revert_weight_conversion``), one key at a time, so that renames
    such as Qwen2.5-VL's ``model.language_model.*`` <-> ``model.*`` are undone exactly as the library does it.
    """
    try:
        from transformers.core_model_loading import revert_weight_conversion
    except ImportError:  # older transformers: keys are saved as they are named
        return {k: k for k in model.state_dict()}
    out = {}
    for key, tensor in model.state_dict().items():
        try:
            saved = list(revert_weight_conversion(model, {key: tensor}))
        except Exception:  # a many-to-one converter cannot revert a single key; keep the name
            saved = [key]
        out[saved[0] if len(saved) == 1 else key] = key
    return out


def _read_weights(folder: Path) -> dict:
    import safetensors.torch
    import torch

    single, index = folder / SINGLE, folder / INDEX
    if single.is_file():
        return safetensors.torch.load_file(str(single), device="cpu")
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        out = {}
        for s in shards:
            out.update(safetensors.torch.load_file(str(folder / s), device="cpu"))
        return out
    if (folder / TORCH_BIN).is_file():
        return torch.load(folder / TORCH_BIN, map_location="cpu", weights_only=True)
    raise CheckpointMismatch(f"checkpoint {folder} holds no model weights (model.safetensors); it cannot be resumed")


def _tied_keys(model) -> set[str]:
    return set(getattr(model, "all_tied_weights_keys", None) or {})


def load_full_weights(model, folder: str | Path) -> int:
    """Load a full-model checkpoint into ``model`` in place, refusing any key that does not match.

    Args:
        model: The live (unwrapped) model.
        folder: A folder written by ``save_pretrained`` / ``Trainer.save_model``.

    Returns:
        The number of tensors loaded.

    Raises:
        CheckpointMismatch: A checkpoint tensor has no place in the model, a model weight is absent from the
            checkpoint (tied weights excepted), or shapes differ. The message names the keys.
    """
    folder = Path(folder)
    saved = _read_weights(folder)
    mapping = saved_to_live_keys(model)
    live = model.state_dict()
    renamed, unexpected = {}, []
    for key, tensor in saved.items():
        target = mapping.get(key, key if key in live else None)
        (unexpected.append(key) if target is None else renamed.__setitem__(target, tensor))
    shapes = [f"{k} {tuple(t.shape)} vs model {tuple(live[k].shape)}" for k, t in renamed.items()
              if tuple(t.shape) != tuple(live[k].shape)]
    missing = sorted(set(live) - set(renamed) - _tied_keys(model))
    if unexpected or missing or shapes:
        parts = []
        if unexpected:
            parts.append(f"{len(unexpected)} checkpoint tensors have no place in the model (e.g. {unexpected[0]})")
        if missing:
            parts.append(f"{len(missing)} model weights are absent from the checkpoint (e.g. {missing[0]})")
        if shapes:
            parts.append(f"{len(shapes)} shapes differ (e.g. {shapes[0]})")
        raise CheckpointMismatch(f"checkpoint {folder} does not match the model: {'; '.join(parts)}. Resume with "
                                 f"the model and config the run was started with")
    model.load_state_dict(renamed, strict=False)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    return len(renamed)


def _is_full_model_checkpoint(folder: Path) -> bool:
    return any((folder / n).is_file() for n in (SINGLE, INDEX, TORCH_BIN))


class CheckpointMixin:
    """Trainer mixin: mark checkpoints complete after the Trainer wrote them; load full weights strictly.

    Put it before the Trainer class: ``class T(CheckpointMixin, SFTTrainer)``.
    """

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        # other ranks write their own files (rng state, FSDP shards): the marker lists them once all are written
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
            if folder.is_dir():
                write_marker(folder, self.state.global_step)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        from peft import PeftModel

        target = model if model is not None else self.model
        folder = Path(resume_from_checkpoint)
        if (isinstance(target, PeftModel) or self.is_fsdp_enabled or self.is_deepspeed_enabled
                or not _is_full_model_checkpoint(folder)):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_full_weights(target, folder)
