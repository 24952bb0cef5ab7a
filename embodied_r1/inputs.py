"""Training inputs computed once per dataset: token ids, labels, pixel values and image grids stored with the rows.

TRL's vision collator renders the chat template, tokenizes and runs the image processor on every batch, for
images that never change; on a GPU that CPU work, not the model, bounds the step of a small model. Here each
row goes through TRL's own collator once (so the tokens, labels and pixels are exactly TRL's), the result is
stored as HF ``datasets`` columns in the dataset's cache next to the rows on disk (a cached ``map``, reused by
every later run and rank), and :class:`PreparedCollator` only pads
and stacks. A batch it makes equals TRL's collator's batch of the same rows, key for key (a test checks this).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

#: The columns a prepared row holds (``mm_token_type_ids`` only for processors that return it).
PREPARED_COLUMNS = ("input_ids", "labels", "mm_token_type_ids", "pixel_values", "image_grid_thw", "position_ids")
_VERSION = "sft-inputs-3"  # bump when the stored layout changes
_DTYPES = {"input_ids": np.int32, "labels": np.int32, "mm_token_type_ids": np.int8, "pixel_values": np.float32,
           "image_grid_thw": np.int32, "position_ids": np.int32}
_TOKEN_COLUMNS = ("input_ids", "labels", "mm_token_type_ids")


def processor_digest(processor) -> str:
    """A key of everything in ``processor`` that changes the prepared inputs: the image processor's settings,
    the chat template and the tokenizer's vocabulary, merges and special tokens."""
    tok = getattr(processor, "tokenizer", processor)
    h = hashlib.blake2b(digest_size=12)
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None:
        h.update(json.dumps(image_processor.to_dict(), sort_keys=True, default=str).encode())
    h.update(str(getattr(processor, "chat_template", None) or getattr(tok, "chat_template", "")).encode())
    backend = getattr(tok, "backend_tokenizer", None)
    h.update(backend.to_str().encode() if backend is not None else json.dumps(tok.get_vocab(), sort_keys=True).encode())
    h.update(str(tok.pad_token_id).encode())
    return h.hexdigest()


def _rope_index(model):
    """The model's multimodal rope-index function and a key of the settings it reads, or ``(None, "")``."""
    inner = getattr(model, "model", model)
    fn = getattr(inner, "get_rope_index", None)
    if fn is None:
        return None, ""
    cfg = model.config
    vision = getattr(cfg, "vision_config", None)
    settings = [type(inner).__name__, getattr(vision, "spatial_merge_size", None), getattr(vision, "tokens_per_second", None),
                *(getattr(cfg, k, None) for k in ("image_token_id", "video_token_id", "vision_start_token_id"))]
    return fn, json.dumps(settings, default=str)


#: Rows each preparing process gets at least: a spawned process spent about 6 s importing torch and the processor
#: before its first row, then about 7 ms a row (2-core CPU, an instrumented run).
ROWS_PER_PROCESS = 2000
#: The fewest processes worth spawning: the rope positions are then added in this process (about 1.5 ms a row),
#: and on 2 cores two processes were no faster than one (``benchmarks/sft_prepare.py``, README).
MIN_PROCESSES = 4


def preparing_processes(rows: int, num_proc: int | None, rows_per_process: int = ROWS_PER_PROCESS) -> int:
    """How many processes :func:`prepare_sft_inputs` prepares ``rows`` rows in when ``num_proc`` may: at most one per
    ``rows_per_process`` rows, and 1 where that is fewer than :data:`MIN_PROCESSES`.

    >>> preparing_processes(20000, 14), preparing_processes(20000, 3), preparing_processes(5000, 14)
    (10, 1, 1)
    """
    procs = min(int(num_proc or 1), rows // max(1, rows_per_process))
    return procs if procs >= MIN_PROCESSES else 1


def prepare_sft_inputs(ds, processor, model=None, num_proc: int | None = None,
                       rows_per_process: int = ROWS_PER_PROCESS):
    """``ds`` (prompt-completion rows with ``images``) as prepared rows, computed once and cached.

    Args:
        ds: A ``datasets.Dataset`` of conversational ``prompt``/``completion`` rows and their ``images``.
        processor: The model's processor (the one the trainer gets).
        model: The model, whose own ``get_rope_index`` then gives each row its multimodal rope positions
            (``position_ids``), so that the forward pass does not recompute them row by row every step.
        num_proc: Processes that may prepare (the run's ``data_workers``); None or 1: this process alone. At most
            one per ``rows_per_process`` rows is used, and none below :data:`MIN_PROCESSES`. They are spawned,
            not forked (forked workers hang in torch's OpenMP pool once the parent has used it), and each keeps
            to one thread. The rows are the same for any number. They are cached a shard per process, and a
            later call reads back the most complete set of shards (a run killed while preparing keeps the ones
            done) or a finished one-process file.
        rows_per_process: The fewest rows worth a process of their own.

    Returns:
        A ``Dataset`` with only :data:`PREPARED_COLUMNS`, each the bytes of a numpy array: ``input_ids`` and
        ``labels`` (-100 on the prompt) int32, ``mm_token_type_ids`` int8, ``pixel_values`` the image processor's
        float32 patches (shape ``[patches, dim]``), ``image_grid_thw`` int32 ``[images, 3]`` and, with
        ``model``, ``position_ids`` int32 ``[3, tokens]``. It is cached under a key of the rows' fingerprint,
        :func:`processor_digest` and the model's rope settings, so a changed processor, model or row prepares
        anew and an unchanged one is read from the cache.
    """
    import os

    import torch
    from datasets import Features, Value, concatenate_datasets, is_caching_enabled
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    collate = DataCollatorForVisionLanguageModeling(processor=processor, completion_only_loss=True)
    probe = collate([ds[0]])
    rope, rope_key = _rope_index(model) if model is not None and "mm_token_type_ids" in probe else (None, "")
    optional = {"mm_token_type_ids": "mm_token_type_ids" in probe, "position_ids": rope is not None}
    columns = [k for k in PREPARED_COLUMNS if optional.get(k, True)]
    # Binary columns (the bytes of numpy arrays, dtypes in _DTYPES): arrow hands them over without building Python
    # lists, which for token lists took longer than the rest of the collation.
    features = {k: Value("binary") for k in columns}
    key = hashlib.blake2b(f"{_VERSION}|{ds._fingerprint}|{processor_digest(processor)}|{rope_key}".encode(),
                          digest_size=16).hexdigest()

    def one_process():  # rope positions row by row; about 6 ms a row on a CPU core
        return ds.map(_Encoder(collate, features, rope), batched=True, batch_size=32, remove_columns=ds.column_names,
                      features=Features(features), new_fingerprint=key, desc="SFT inputs (tokens, pixel values), once")

    procs = preparing_processes(len(ds), num_proc, rows_per_process)
    # Several processes make the tokens and pixels (the model stays here); then this process adds the rope
    # positions from the stored tokens. A finished one-process file of the same rows is read instead.
    if procs == 1 or (is_caching_enabled() and ds.cache_files and os.path.exists(ds._get_cache_file_path(key))):
        return one_process()
    import dill
    import multiprocess

    token_features = {k: v for k, v in features.items() if k != "position_ids"}
    encoder = _Encoder(collate, token_features, None, parent=os.getpid())
    try:
        dill.dumps(encoder)  # the processes get it pickled
    except Exception as e:  # noqa: BLE001 - any processor that cannot travel: prepare here instead
        print(f"SFT inputs: one process (the processor cannot be sent to others: {type(e).__name__})", flush=True)
        return one_process()
    # The shards' names carry the number of processes; datasets reads back the most complete set of them, so a
    # run killed while preparing, or one with another number of processes, keeps the shards that were done.
    token_key = key if rope is None else hashlib.blake2b(f"{key}|tokens".encode(), digest_size=16).hexdigest()
    previous = multiprocess.get_start_method(allow_none=True)
    multiprocess.set_start_method("spawn", force=True)  # datasets' worker pool is multiprocess's default context
    try:
        rows = ds.map(encoder, batched=True, batch_size=32, remove_columns=ds.column_names,
                      features=Features(token_features), num_proc=procs, new_fingerprint=token_key,
                      desc="SFT inputs (tokens, pixel values), once")
    finally:
        multiprocess.set_start_method(previous, force=True)
    if rope is None:
        return rows

    needed = ["input_ids", "mm_token_type_ids", "image_grid_thw"]

    def add_positions(batch):
        out = []
        for values in zip(*(batch[k] for k in needed)):
            ids, mm, grid = (torch.from_numpy(np.frombuffer(v, dtype=_DTYPES[k]).astype(np.int64))
                             for k, v in zip(needed, values))
            ids, mm = ids[None], mm[None]
            grid = grid.reshape(-1, 3) if len(grid) else None
            out.append(_stored("position_ids", _positions(rope, ids, mm, grid, torch.ones_like(ids))))
        return {"position_ids": out}

    # positions alone (the pixels are not copied again), joined to the token columns
    positions = rows.select_columns(needed).map(
        add_positions, batched=True, batch_size=256, remove_columns=needed,
        features=Features({"position_ids": features["position_ids"]}),
        new_fingerprint=hashlib.blake2b(f"{key}|positions".encode(), digest_size=16).hexdigest(),
        desc="SFT inputs (rope positions), once")
    return concatenate_datasets([rows, positions], axis=1)


def _positions(rope, input_ids, mm_token_type_ids, image_grid_thw, attention_mask):
    """The model's rope positions ``[3, tokens]`` of one row."""
    import torch

    with torch.no_grad():
        return rope(input_ids, mm_token_type_ids=mm_token_type_ids, image_grid_thw=image_grid_thw,
                    attention_mask=attention_mask)[0][:, 0]


def _stored(column: str, value) -> bytes:
    """A tensor (or None) as the bytes that column stores."""
    return b"" if value is None else value.numpy().astype(_DTYPES[column]).tobytes()


class _Encoder:
    """A batch of rows through TRL's collator one row at a time (no padding: exactly TRL's tokens, labels and
    pixels), as the bytes of :data:`PREPARED_COLUMNS`; ``rope`` adds the positions. A picklable object, so that
    spawned processes can run it; in a process other than ``parent`` torch keeps to one thread."""

    def __init__(self, collate, features: dict, rope=None, parent: int | None = None):
        self.collate, self.columns, self.rope, self.parent = collate, list(features), rope, parent

    def __call__(self, batch):
        import os

        if self.parent is not None and os.getpid() != self.parent:
            import torch

            torch.set_num_threads(1)  # many processes side by side: one core each
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        out = {k: [] for k in self.columns}
        for row in rows:
            one = self.collate([row])
            if self.rope is not None:
                one["position_ids"] = _positions(self.rope, one["input_ids"], one["mm_token_type_ids"],
                                                 one.get("image_grid_thw"), one["attention_mask"])
            for k in self.columns:
                value = one.get(k)
                out[k].append(_stored(k, value[0] if k in _TOKEN_COLUMNS else value))
        return out


class PreparedCollator:
    """Pads and stacks prepared rows (:func:`prepare_sft_inputs`) into a model batch: right padding, -100
    labels on padding, pixel patches concatenated in row order; ``max_length`` truncates the token columns
    like TRL's collator does.

    Args:
        pad_token_id: The tokenizer's pad token id.
        max_length: ``sft.max_length`` (None: no truncation).
    """

    def __init__(self, pad_token_id: int, max_length: int | None = None):
        self.pad_token_id = int(pad_token_id)
        self.max_length = max_length

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        cols = {k: [np.frombuffer(r[k], dtype=_DTYPES[k]) for r in rows] for k in _TOKEN_COLUMNS if k in rows[0]}
        if "position_ids" in rows[0]:  # (3, tokens) per row
            cols["position_ids"] = [np.frombuffer(r["position_ids"], dtype=_DTYPES["position_ids"]).reshape(3, -1)
                                    for r in rows]
        lengths = [len(x) for x in cols["input_ids"]]
        width = max(lengths)
        if self.max_length is not None:
            width = min(width, self.max_length)
        # padding 0 for positions, as the model's get_rope_index leaves padded positions
        fill = {"input_ids": self.pad_token_id, "labels": -100, "mm_token_type_ids": 0, "position_ids": 0}
        out = {}
        for k, arrays in cols.items():
            block = np.full((len(rows), *arrays[0].shape[:-1], width), fill[k], dtype=np.int64)
            for i, a in enumerate(arrays):
                block[i, ..., :min(a.shape[-1], width)] = a[..., :width]
            out[k] = torch.from_numpy(block)
        if "position_ids" in out:
            out["position_ids"] = out["position_ids"].transpose(0, 1).contiguous()  # (3, batch, width)
        mask = np.arange(width)[None, :] < np.asarray(lengths)[:, None]
        out["attention_mask"] = torch.from_numpy(mask.astype(np.int64))
        grids = np.frombuffer(b"".join(r["image_grid_thw"] for r in rows), dtype=np.int32).reshape(-1, 3)
        if len(grids):
            pixels = np.concatenate([np.frombuffer(r["pixel_values"], dtype=np.float32) for r in rows])  # one copy
            out["pixel_values"] = torch.from_numpy(pixels.reshape(int(np.prod(grids, axis=1).sum()), -1))
            out["image_grid_thw"] = torch.from_numpy(grids.astype(np.int64))
        return out
