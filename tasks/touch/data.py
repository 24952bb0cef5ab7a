"""Building the touch dataset: simulated contacts (and optionally real data) -> rows -> ``DatasetDict``.

Splits:

* ``train``: contacts of training objects, through the train sensors (by default three quarters of those readings
  through procedurally drawn sensors instead, ``touch.random_sensor_fraction``);
* ``test``: contacts of held-out objects through the named train sensors (``split_tag == "heldout_material"``)
  AND the same contacts through every held-out sensor (``split_tag == "heldout_sensor"``), so that
  ``embodied-r1 eval`` (which evaluates ``test``) reports both, and a held-out sensor is compared with the
  train sensors on the very same presses;
* ``test_heldout_sensor``: only the held-out-sensor rows of ``test`` (``eval.split=test_heldout_sensor``).

Objects are fresh by default: every contact presses new objects, and held-out objects are those whose level
combination the rule of :mod:`tasks.touch.objects` reserves for ``test``; ``touch.objects=catalog`` brings back
the fixed catalogue of :mod:`tasks.touch.catalog` (with ``touch.random_sensor_fraction=0``, the rows of
``data_version`` 2, byte for byte).

Each contact (one question instance: one press, or 2-3 presses for compare/superlative) is rendered through
``sensors_per_contact`` train sensors, giving that many rows with the same ``contact_id``; the core's group
sampler keeps them in one batch so the cross-sensor consistency reward can compare them. Every random draw
comes from a stream keyed by (seed, split, contact) and, for a sensor, the stable key of its name
(:func:`envs.tactile.stream_key`), never its position in a list (:mod:`tasks.touch.contacts`): the same seed
gives the same rows byte for byte, a contact looks the same through a sensor whatever else the config asks for,
and adding a sensor profile, or listing the train sensors in another order, leaves the other sensors' images
unchanged.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tasks.touch.catalog import Catalog, make_catalog
from tasks.touch.config import TouchConfig
from tasks.touch.contacts import SPLIT_CODES, WORDING_STREAM, draw_contact, rank_sensors  # noqa: F401 - re-exported
from tasks.touch.objects import HELDOUT_RULE, PARAMETER_RULE
from tasks.touch.questions import make_row


def features():
    """The ``datasets.Features`` of a touch row (fixed, so empty lists and real data keep the same schema)."""
    from datasets import Features, Image, List, Value

    return Features({
        "prompt": List({"role": Value("string"),
                        "content": List({"type": Value("string"), "text": Value("string")})}),
        "images": List(Image()),
        "image_modalities": List(Value("string")),
        "image_sources": List(Value("string")),
        "contact_id": Value("string"),
        "sensor": Value("string"),
        "split_tag": Value("string"),
        "source": Value("string"),
        "object_ids": List(Value("string")),
        "question_type": Value("string"),
        "property": Value("string"),
        "answer": Value("string"),
        "num_levels": Value("int32"),
        "option_levels": List(Value("int32")),
        "visual_level": Value("int32"),
    })


def to_dataset(rows: list[dict]):
    """A ``datasets.Dataset`` of touch rows (works for an empty list too)."""
    from datasets import Dataset

    feats = features()
    return Dataset.from_dict({k: [r[k] for r in rows] for k in feats}, features=feats)


def contact_rows(cfg: TouchConfig, seed: int, split: str, i: int, catalog: Catalog | None = None) -> list[dict]:
    """All rows of contact ``i`` of a split: one per sensor, sharing ``contact_id``.

    Args:
        cfg: Task settings.
        seed: Run seed.
        split: ``train`` or ``test`` (test contacts are also rendered through the held-out sensors).
        i: Contact index in the split.
        catalog: The object catalogue (``touch.objects=catalog`` only).

    Returns:
        Row dicts in the schema of :func:`features`.
    """
    draw = draw_contact(cfg, seed, split, i, catalog)
    rows = []
    for s, tag in draw.row_sensors:
        group = draw.readings[s]
        if s in draw.partners:
            group = group + draw.readings[draw.partners[s]]
        wrng = np.random.default_rng([seed, SPLIT_CODES[split], i, WORDING_STREAM])  # same wording for every row
        row = make_row(draw.qtype, draw.prop, cfg.num_levels, group, wrng, visual=draw.visual,
                       visual_level=draw.visual_level)
        row.update(contact_id=draw.contact_id, split_tag=tag, source="sim")
        rows.append(row)
    return rows


def build_touch_dataset(cfg: TouchConfig, seed: int, progress: bool = True, num_workers: int = 1):
    """Build the touch ``DatasetDict`` (simulated, real, or both; see the module docstring).

    Args:
        cfg: Task settings.
        seed: Run seed.
        progress: Show tqdm progress bars.
        num_workers: Processes that render the simulated contacts (1: in this process). The rows are the
            same byte for byte for any number: every contact draws from its own streams, and the rows are
            gathered in contact order.

    Returns:
        ``DatasetDict`` with ``train``, ``test`` and (when it has rows) ``test_heldout_sensor``.
    """
    from datasets import DatasetDict

    splits: dict[str, list[dict]] = {"train": [], "test": []}
    if cfg.real_data is None or cfg.real_data_mode == "add":
        catalog = None
        if cfg.objects == "catalog":
            catalog = make_catalog(cfg.num_materials, cfg.num_levels, cfg.heldout_material_fraction, seed,
                                   cfg.properties)
        counts = {"train": cfg.train_contacts, "test": cfg.test_contacts}
        splits = render_contacts(cfg, seed, counts, catalog, num_workers, progress)
    if cfg.real_data is not None:
        from tasks.touch.real_data import real_rows

        real = real_rows(cfg, seed, progress=progress)
        for split in splits:
            splits[split] += real[split]
    out = {k: to_dataset(v) for k, v in splits.items()}
    held = [r for r in splits["test"] if r["split_tag"] == "heldout_sensor"]
    if held:
        out["test_heldout_sensor"] = to_dataset(held)
    return DatasetDict(out)


def _contact_chunk(cfg: TouchConfig, seed: int, split: str, indices: range, catalog: Catalog | None) -> list[dict]:
    """The rows of contacts ``indices`` of a split, in order, with their images encoded as ``datasets`` stores
    them (one worker task). Why encode here: PNG encoding costs about as much as rendering, so it belongs in
    the workers, and encoded bytes travel back smaller than pixels."""
    rows = [r for i in indices for r in contact_rows(cfg, seed, split, i, catalog)]
    for r in rows:
        r["images"] = [_encoded(im) for im in r["images"]]
    return rows


def _encoded(image):
    """``image`` as ``datasets.Image`` stores a PIL image without a file or format of its own (PNG bytes, default
    settings: the same bytes ``Dataset.from_dict`` writes), or the image itself for modes it stores otherwise.
    Done with PIL alone, since importing ``datasets`` would add a second to every worker's start."""
    import io

    if image.format or getattr(image, "filename", "") or image.mode not in ("1", "L", "LA", "RGB", "RGBA"):
        return image
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {"path": None, "bytes": buf.getvalue()}


def render_contacts(cfg: TouchConfig, seed: int, counts: dict[str, int], catalog: Catalog | None, num_workers: int = 1,
                    progress: bool = True, work=_contact_chunk, desc: str = "touch") -> dict[str, list]:
    """The simulated rows of every split, contact by contact, in ``num_workers`` processes.

    Why chunks: a worker task carries the config and catalogue there and a chunk's rows (with their images)
    back; a few contacts per task amortise that, and about eight chunks per worker keep the workers busy to
    the end. Why ``spawn``: the caller may have imported torch, which a forked child must not inherit. Each
    worker computes on one thread (:func:`embodied_r1.device.single_threaded_worker`).

    Args:
        cfg: Task settings.
        seed: Run seed.
        counts: Contacts per split, e.g. ``{"train": 400, "test": 100}``.
        catalog: The object catalogue (``touch.objects=catalog``), else None.
        num_workers: Processes (1: render in this process).
        progress: Show a tqdm bar per split, advanced per finished chunk.
        work: ``work(cfg, seed, split, indices, catalog) -> list`` rendering a chunk of contacts (a module-level
            function, so that it pickles); default: the QA rows.
        desc: Prefix of the progress bars.

    Returns:
        ``{split: items}``, the items of contact 0, 1, ... in order, whatever ``num_workers``.
    """
    from tqdm.auto import tqdm

    total = sum(counts.values())
    if num_workers <= 1 or total <= 1:
        out = {}
        for split, n in counts.items():
            out[split] = []
            for i in tqdm(range(n), desc=f"{desc} {split}", unit="contact", disable=not progress):
                out[split] += work(cfg, seed, split, range(i, i + 1), catalog)
        return out

    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    size = max(1, -(-total // (8 * num_workers)))
    chunks = [(split, range(a, min(a + size, n))) for split, n in counts.items() for a in range(0, n, size)]
    results: dict[tuple[str, int], list[dict]] = {}
    bars = {s: tqdm(total=n, desc=f"{desc} {s}", unit="contact", disable=not progress) for s, n in counts.items()}
    from embodied_r1.device import single_threaded_worker

    with ProcessPoolExecutor(max_workers=min(num_workers, len(chunks)), mp_context=mp.get_context("spawn"),
                             initializer=single_threaded_worker) as pool:
        pending = {pool.submit(work, cfg, seed, split, idx, catalog): (split, idx)
                   for split, idx in chunks}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    split, idx = pending.pop(f)
                    results[(split, idx.start)] = f.result()
                    bars[split].update(len(idx))
        except BaseException:  # a failed chunk or Ctrl-C: do not render the queued chunks first
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    for bar in bars.values():
        bar.close()
    return {split: [r for s, idx in chunks if s == split for r in results[(s, idx.start)]] for split in counts}


def dataset_card(cfg: TouchConfig, ds) -> dict:
    """Generation parameters and per-split counts (by question type, sensor, split tag, property, answer).

    Args:
        cfg: Task settings.
        ds: The built ``DatasetDict``.

    Returns:
        ``{"generation": {...}, "counts": {split: {column: {value: n}}}, "groups": {split: {...}}}``, plus
        ``"real_data"`` (folder, fingerprint, samples, ``missing_labels`` per property, ``unlabelled_samples``)
        when ``cfg.real_data`` is set.
    """
    gen = {
        "simulated": cfg.real_data is None or cfg.real_data_mode == "add",
        "num_levels": cfg.num_levels, "properties": cfg.properties, "objects": cfg.objects,
        "heldout_rule": {"fresh": HELDOUT_RULE, "fresh_parameters": PARAMETER_RULE}.get(cfg.objects),
        "num_materials": cfg.num_materials,
        "heldout_material_fraction": cfg.heldout_material_fraction, "train_sensors": cfg.train_sensors,
        "heldout_sensor": cfg.heldout_sensor, "random_sensor_fraction": cfg.random_sensor_fraction,
        "sensors_per_contact": cfg.sensors_per_contact,
        "question_mix": cfg.mix, "press_frames": cfg.press_frames, "image_size": cfg.image_size,
        "tactile_view": cfg.tactile_view,
        "real_data": cfg.real_data, "real_data_format": cfg.real_data_format if cfg.real_data else None,
        "real_labels": cfg.real_labels if cfg.real_data else None,
    }
    counts, groups = {}, {}
    for split, d in ds.items():
        cols = {c: list(d[c]) for c in ("question_type", "sensor", "split_tag", "property", "source", "contact_id")}
        counts[split] = {c: dict(sorted(Counter(v).items())) for c, v in cols.items() if c != "contact_id"}
        sizes = Counter(cols["contact_id"])
        groups[split] = {"contacts": len(sizes), "multi_sensor_contacts": sum(n >= 2 for n in sizes.values())}
    out = {"generation": gen, "counts": counts, "groups": groups}
    if cfg.real_data is not None:  # what the real folder held, including the labels it lacked
        from tasks.touch.real_labels import label_gaps, real_data_fingerprint

        out["real_data"] = {"folder": cfg.real_data, "format": cfg.real_data_format,
                            "fingerprint": real_data_fingerprint(cfg), **label_gaps(cfg)}
    return out
