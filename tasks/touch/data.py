"""Building the touch dataset: simulated contacts (and optionally real data) -> rows -> ``DatasetDict``.

Splits:

* ``train``: contacts of the seen objects, through the train sensors;
* ``test``: contacts of the held-out objects through the train sensors (``split_tag == "heldout_material"``)
  AND the same contacts through the held-out sensor (``split_tag == "heldout_sensor"``), so that
  ``embodied-r1 eval`` (which evaluates ``test``) reports both, and the held-out sensor is compared with the
  train sensors on the very same presses;
* ``test_heldout_sensor``: only the held-out-sensor rows of ``test`` (``eval.split=test_heldout_sensor``).

Each contact (one question instance: one press, or 2-3 presses for compare/superlative) is rendered through
``sensors_per_contact`` train sensors, giving that many rows with the same ``contact_id``; the core's group
sampler keeps them in one batch so the cross-sensor consistency reward can compare them. Every random draw
comes from a stream keyed by (seed, split, contact) and, for a sensor, the stable key of its name
(:func:`envs.tactile.stream_key`), never its position in a list: the same seed gives the same rows byte for
byte, a contact looks the same through a sensor whatever else the config asks for, and adding a sensor
profile, or listing the train sensors in another order, leaves the other sensors' images unchanged.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tasks.touch.catalog import Catalog, make_catalog
from tasks.touch.config import TouchConfig
from tasks.touch.questions import Reading, make_row

SPLIT_CODES = {"train": 1, "test": 2}
WORDING_STREAM, VISUAL_STREAM, SENSOR_STREAM, PICK_STREAM = 2000, 3000, 1000, 5000


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


def _image_size(cfg: TouchConfig, sensor: str) -> tuple[int, int] | None:
    if cfg.image_size is None:
        return None
    from envs.tactile import SENSORS

    h, w = SENSORS[sensor].image_size
    s = cfg.image_size / max(h, w)
    return max(8, int(round(h * s))), max(8, int(round(w * s)))


def _pick_objects(qtype: str, prop: str, pool: list[int], catalog: Catalog, rng) -> tuple[str, list[int]]:
    """Objects for one question (falling back to a simpler type when the pool cannot pose it)."""
    lv = {j: catalog.materials[j].levels[prop] for j in pool}
    if qtype == "superlative":
        tops = sorted({t for t in set(lv.values()) if sum(v < t for v in lv.values()) >= 2})
        if tops:
            t = tops[int(rng.integers(len(tops)))]
            top = [j for j in pool if lv[j] == t]
            low = [j for j in pool if lv[j] < t]
            chosen = [top[int(rng.integers(len(top)))]] + [low[int(i)] for i in rng.choice(len(low), 2, replace=False)]
            return qtype, [chosen[int(i)] for i in rng.permutation(3)]
        qtype = "compare"
    if qtype == "compare":
        a = pool[int(rng.integers(len(pool)))]
        others = [j for j in pool if lv[j] != lv[a]]
        if others:
            pair = [a, others[int(rng.integers(len(others)))]]
            return qtype, [pair[int(i)] for i in rng.permutation(2)]
        qtype = "level"
    return qtype, [pool[int(rng.integers(len(pool)))]]


def rank_sensors(names: list[str], seed: int, code: int, i: int) -> list[str]:
    """The sensors in a random order of contact ``i`` that does not depend on their order in ``names``.

    Each sensor draws its own rank from a stream keyed by its name (rendezvous hashing), so listing the
    sensors in another order changes nothing, and adding one changes only the contacts where it ranks among
    the first ``sensors_per_contact``. The draws stay off the contact's own stream, so the contact (question,
    objects, press) does not depend on how many sensors there are.

    Args:
        names: Sensor profile names.
        seed: Run seed.
        code: Split code (``SPLIT_CODES``).
        i: Contact index in the split.

    Returns:
        ``names`` reordered; the first ``sensors_per_contact`` render the contact.
    """
    from envs.tactile import stream_key

    rank = {s: np.random.default_rng([seed, code, i, PICK_STREAM, stream_key(s)]).random() for s in names}
    return sorted(names, key=lambda s: (rank[s], s))


def _render(contacts, sensor: str, cfg: TouchConfig, seed: int, code: int, i: int, catalog: Catalog,
            objs: list[int]) -> list[Reading]:
    from PIL import Image

    from envs.tactile import SENSORS, render_press_sequence

    srng = np.random.default_rng([seed, code, i, SENSOR_STREAM, SENSORS[sensor].stream_key])
    out = []
    for c, j in zip(contacts, objs):
        frames = render_press_sequence(c, SENSORS[sensor], srng, n_frames=cfg.press_frames,
                                       image_size=_image_size(cfg, sensor))
        out.append(Reading([Image.fromarray(f) for f in frames], sensor, dict(catalog.materials[j].levels),
                           catalog.ids[j]))
    return out


def contact_rows(cfg: TouchConfig, seed: int, split: str, i: int, catalog: Catalog) -> list[dict]:
    """All rows of contact ``i`` of a split: one per sensor, sharing ``contact_id``.

    Args:
        cfg: Task settings.
        seed: Run seed.
        split: ``train`` or ``test`` (test contacts are also rendered through the held-out sensor).
        i: Contact index in the split.
        catalog: The object catalogue.

    Returns:
        Row dicts in the schema of :func:`features`.
    """
    from PIL import Image

    from envs.tactile import render_visual, sample_contact

    code = SPLIT_CODES[split]
    rng = np.random.default_rng([seed, code, i])
    mix = cfg.mix
    qtype = list(mix)[int(rng.choice(len(mix), p=list(mix.values())))]
    prop = cfg.properties[int(rng.integers(len(cfg.properties)))]
    ranked = rank_sensors(cfg.train_sensors, seed, code, i)
    sensors = ranked[:cfg.sensors_per_contact]
    partner_extra = ranked[cfg.sensors_per_contact] if len(ranked) > cfg.sensors_per_contact else None
    show_visual = rng.uniform() < cfg.visual_context_fraction
    qtype, objs = _pick_objects(qtype, prop, catalog.pool(split), catalog, rng)
    contacts = [sample_contact(rng, catalog.materials[j]) for j in objs]

    visual, visual_level = None, -1
    if qtype == "conflict" or (qtype == "level" and show_visual):
        vrng = np.random.default_rng([seed, code, i, VISUAL_STREAM])
        mat = catalog.materials[objs[0]]
        img, info = render_visual(mat, vrng, conflict=prop if qtype == "conflict" else False,
                                  size=cfg.visual_size, return_info=True)
        visual = Image.fromarray(img)
        visual_level = int(round(info["apparent"][prop] * (cfg.num_levels - 1)))

    row_sensors = [(s, "train" if split == "train" else "heldout_material") for s in sensors]
    if split == "test" and cfg.heldout_sensor:
        row_sensors.append((cfg.heldout_sensor, "heldout_sensor"))
    readings = {s: _render(contacts, s, cfg, seed, code, i, catalog, objs) for s, _ in row_sensors}
    rows = []
    for n, (s, tag) in enumerate(row_sensors):
        group = readings[s]
        if qtype == "cross_sensor":
            if tag == "heldout_sensor":
                partner = sensors[0]
            elif len(sensors) > 1:
                partner = sensors[(n + 1) % len(sensors)]
            else:
                partner = partner_extra or s
            if partner not in readings:
                readings[partner] = _render(contacts, partner, cfg, seed, code, i, catalog, objs)
            group = group + readings[partner]
        wrng = np.random.default_rng([seed, code, i, WORDING_STREAM])  # same wording for every sensor's row
        row = make_row(qtype, prop, cfg.num_levels, group, wrng, visual=visual, visual_level=visual_level)
        row.update(contact_id=f"{split}-{i:05d}", split_tag=tag, source="sim")
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


def _contact_chunk(cfg: TouchConfig, seed: int, split: str, indices: range, catalog: Catalog) -> list[dict]:
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


def render_contacts(cfg: TouchConfig, seed: int, counts: dict[str, int], catalog: Catalog, num_workers: int = 1,
                    progress: bool = True) -> dict[str, list[dict]]:
    """The simulated rows of every split, contact by contact, in ``num_workers`` processes.

    Why chunks: a worker task carries the config and catalogue there and a chunk's rows (with their images)
    back; a few contacts per task amortise that, and about eight chunks per worker keep the workers busy to
    the end. Why ``spawn``: the caller may have imported torch, which a forked child must not inherit.

    Args:
        cfg: Task settings.
        seed: Run seed.
        counts: Contacts per split, e.g. ``{"train": 400, "test": 100}``.
        catalog: The object catalogue.
        num_workers: Processes (1: render in this process).
        progress: Show a tqdm bar per split, advanced per finished chunk.

    Returns:
        ``{split: rows}``, the rows of contact 0, 1, ... in order, whatever ``num_workers``.
    """
    from tqdm.auto import tqdm

    total = sum(counts.values())
    if num_workers <= 1 or total <= 1:
        out = {}
        for split, n in counts.items():
            out[split] = []
            for i in tqdm(range(n), desc=f"touch {split}", unit="contact", disable=not progress):
                out[split] += _contact_chunk(cfg, seed, split, range(i, i + 1), catalog)
        return out

    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    size = max(1, -(-total // (8 * num_workers)))
    chunks = [(split, range(a, min(a + size, n))) for split, n in counts.items() for a in range(0, n, size)]
    results: dict[tuple[str, int], list[dict]] = {}
    bars = {s: tqdm(total=n, desc=f"touch {s}", unit="contact", disable=not progress) for s, n in counts.items()}
    with ProcessPoolExecutor(max_workers=min(num_workers, len(chunks)), mp_context=mp.get_context("spawn")) as pool:
        pending = {pool.submit(_contact_chunk, cfg, seed, split, idx, catalog): (split, idx)
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
        "num_levels": cfg.num_levels, "properties": cfg.properties, "num_materials": cfg.num_materials,
        "heldout_material_fraction": cfg.heldout_material_fraction, "train_sensors": cfg.train_sensors,
        "heldout_sensor": cfg.heldout_sensor, "sensors_per_contact": cfg.sensors_per_contact,
        "question_mix": cfg.mix, "press_frames": cfg.press_frames, "image_size": cfg.image_size,
        "real_data": cfg.real_data, "real_data_format": cfg.real_data_format if cfg.real_data else None,
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
