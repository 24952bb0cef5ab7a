"""Real tactile data in the touch schema: Octopi/PhysiCLeAR and TVL's SSVTP.

**Octopi / PhysiCLeAR** (GelSight; the output folder of Octopi's ``utils/process_dataset.py``)::

    root/
      train_samples.json          {"physiclear_<object>": ["<path>/physiclear_<object>_<n>", ...], ...}
      val_samples.json            optional, same shape (joins test)
      test_samples.json           same shape; Octopi's test objects are held out from train
      physiclear_<object>_<n>/    frames 0000000012.jpg ... (sorted by name)

The release ships no labels file: ``touch.real_labels`` names an Octopi checkout (or its ``utils/constants.py``),
whose ``HARDNESS_RANK`` / ``ROUGHNESS_RANK`` / ``TEXTURE_RANK`` dicts (0-2; texture is our bumpiness) are read by
parsing, never importing, the file (:mod:`tasks.touch.octopi_labels`). A labels file of one's own also works:
``touch.real_labels`` or ``root/object_properties.json`` (``{"<object>": {"hardness": 0..K-1, ...}}``) or
``object_properties.csv`` (columns object,hardness,roughness,bumpiness or texture).

Sample paths in the JSON files may be absolute or relative; a path that does not exist is looked up as
``root/<folder name>``. Object names match with or without Octopi's ``physiclear_`` prefix. ``touch.real_frames``
frames are taken evenly spaced (one frame: the middle one, near the deepest press).

**Octopi-1.5** (``touch.real_data_format=octopi15``; Octopi-1.5's ``octopi_s/data/samples``)::

    root/
      physiclear_<n>/tactile/0000000012.jpg ...
      physiclear_<n>/data.json    {"object_id": ..., "properties": {"hardness": 0-10, "roughness": 0-10},
                                   "split": "train" | "val" | "test", ...}

Ratings are binned into ``touch.num_levels`` levels as Octopi-1.5's ``get_categorical_labels`` does; there is no
bumpiness label, and samples without ``properties`` are counted as unlabelled and left out.

**TVL SSVTP** (DIGIT with a paired camera image)::

    root/
      images_tac/image_<id>_tac.jpg     tactile image (required)
      images_rgb/image_<id>_rgb.jpg     camera image (optional; shown as agreeing visual context)
      text/labels_<id>.txt              comma-separated adjectives, e.g. "soft, smooth, flat"

Adjectives map to 3-level labels with :data:`ADJECTIVE_LEVELS` (rescaled to K levels); a property whose
adjectives disagree (e.g. "soft, hard") or that no adjective names stays unlabelled for that sample, and a
sample with no label among ``touch.properties`` is skipped. SSVTP has no splits: a stable hash of the id puts
``touch.real_heldout_fraction`` of the samples into ``test``.

All produce rows in the schema of :func:`tasks.touch.data.features` (``source`` ``octopi`` / ``octopi15`` /
``ssvtp``, ``sensor`` ``gelsight`` / ``gelsight`` / ``digit``), with ``level`` questions plus ``compare`` /
``superlative`` questions between samples of different objects, by the config's question mix (``conflict`` and
``cross_sensor`` need the simulator and are not posed on real data). A malformed folder raises :class:`embodied_r1.errors.UserError`
with one line naming the file.

Labels and sample lists are read through :mod:`tasks.touch.real_labels`, which also counts the samples that
lack a property's label (one printed line, and the dataset card) and fingerprints the folder for the dataset
cache key, so that edited labels are built afresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embodied_r1.errors import UserError
from tasks.touch.config import TouchConfig
from tasks.touch.questions import Reading, make_row
from tasks.touch.real_labels import ADJECTIVE_LEVELS, PROPERTY_ALIASES, ssvtp_levels  # noqa: F401 - re-exported
from tasks.touch.real_labels import (IMAGE_SUFFIXES, gaps_line, label_gaps, object_labels, octopi15_entries,
                                     octopi_entries, octopi_labels, resolve_sample_folder, ssvtp_ids,
                                     ssvtp_sample_levels)

REAL_STREAM = 4000


@dataclass
class RealSample:
    """One real recording: tactile frames (and maybe a camera image) of one object with its labels."""

    sample_id: str
    object_id: str
    split: str
    frames: list
    levels: dict
    sensor: str
    visual: object = None


def _read_image(path: Path, max_side: int):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.load()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise UserError(f"real data: cannot read image {path} ({type(exc).__name__}); replace or remove it") from exc
    if max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BILINEAR)
    return im


def _pick_frames(files: list[Path], n: int) -> list[Path]:
    if n == 1:
        return [files[len(files) // 2]]
    idx = np.linspace(0, len(files) - 1, min(n, len(files))).round().astype(int)
    return [files[i] for i in idx]


def load_octopi(root: str | Path, cfg: TouchConfig, progress: bool = False) -> list[RealSample]:
    """Load an Octopi/PhysiCLeAR folder (layout in the module docstring).

    Args:
        root: The folder holding ``{train,val,test}_samples.json`` and the labels file.
        cfg: Task settings (``num_levels``, ``real_frames``, ``image_size``).
        progress: Show a progress bar.

    Returns:
        Samples with split ``train`` or ``test`` (val joins test).

    Raises:
        UserError: Missing or malformed JSON/labels files, missing sample folders, unreadable frames.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"real data: {root} is not a folder (touch.real_data)")
    labels, source = octopi_labels(cfg)
    entries = octopi_entries(root, labels, source)
    out = []
    for split, obj, folder, src in tqdm(entries, desc="octopi", unit="sample", disable=not progress):
        p = resolve_sample_folder(root, folder)
        if not p.is_dir():
            raise UserError(f"real data: sample folder '{folder}' listed in {src} does not exist (also not as {p})")
        frames = _sample_frames(p, f"listed in {src}", cfg)
        out.append(RealSample(p.name, obj, split, frames, dict(object_labels(labels, obj)), "gelsight"))
    return out


def _sample_frames(folder: Path, where: str, cfg: TouchConfig) -> list:
    """``touch.real_frames`` frames of a sample folder (evenly spaced over its JPGs in name order)."""
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"real data: sample folder {folder} ({where}) holds no JPG frames")
    return [_read_image(f, cfg.image_size or 160) for f in _pick_frames(files, cfg.real_frames)]


def load_octopi15(root: str | Path, cfg: TouchConfig, progress: bool = False) -> list[RealSample]:
    """Load Octopi-1.5's processed ``samples`` folder (layout in the module docstring).

    Args:
        root: The folder holding ``<dataset>_<n>/data.json`` and ``<dataset>_<n>/tactile/``.
        cfg: Task settings (``num_levels`` bins the 0-10 ratings).
        progress: Show a progress bar.

    Returns:
        Labelled samples (those without ``properties`` left out) with split ``train`` or ``test``.

    Raises:
        UserError: No sample folder, a malformed ``data.json``, a sample without frames, unreadable frames.
    """
    from tqdm.auto import tqdm

    out = []
    for folder, obj, split, levels in tqdm(octopi15_entries(Path(root), cfg.num_levels), desc="octopi-1.5",
                                           unit="sample", disable=not progress):
        if not any(p in levels for p in cfg.properties):
            continue
        frames = _sample_frames(folder / "tactile", f"of {folder / 'data.json'}", cfg)
        out.append(RealSample(folder.name, obj, split, frames, levels, "gelsight"))
    if not out:
        raise UserError(f"real data: no sample in {root} has a rating of {', '.join(cfg.properties)} "
                        f"(data.json 'properties'; Octopi-1.5 rates hardness and roughness)")
    return out


def _in_test(sample_id: str, fraction: float) -> bool:
    h = int(hashlib.sha1(sample_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < fraction


def load_ssvtp(root: str | Path, cfg: TouchConfig, progress: bool = False) -> list[RealSample]:
    """Load a TVL SSVTP folder (layout in the module docstring).

    Args:
        root: The folder holding ``images_tac/``, ``images_rgb/`` and ``text/``.
        cfg: Task settings.
        progress: Show a progress bar.

    Returns:
        Labelled samples, split by a stable hash of the id.

    Raises:
        UserError: Missing folders or label files, unreadable images, no usable labels at all.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    tac_dir = root / "images_tac"
    ids = ssvtp_ids(root)
    max_side = cfg.image_size or 160
    out = []
    for sid in tqdm(ids, desc="ssvtp", unit="sample", disable=not progress):
        levels = ssvtp_sample_levels(root, sid, cfg)
        if not levels:
            continue
        tac = next(tac_dir.glob(f"image_{sid}_tac.jp*g"))
        rgb = next((root / "images_rgb").glob(f"image_{sid}_rgb.jp*g"), None) if (root / "images_rgb").is_dir() else None
        out.append(RealSample(sid, sid, "test" if _in_test(sid, cfg.real_heldout_fraction) else "train",
                              [_read_image(tac, max_side)], levels, "digit",
                              _read_image(rgb, cfg.visual_size) if rgb else None))
    if not out:
        raise UserError(f"real data: no sample in {root / 'text'} has an adjective that labels "
                        f"{', '.join(cfg.properties)} (see tasks.touch.real_labels.ADJECTIVE_LEVELS)")
    return out


def _options(qtype: str, i: int, prop: str, pool: list[int], samples: list[RealSample], rng) -> list[int] | None:
    """Sample indices for a compare/superlative question that starts from sample ``i`` (different objects)."""
    lv = samples[i].levels[prop]
    others = [j for j in pool if samples[j].object_id != samples[i].object_id]
    if qtype == "compare":
        cand = [j for j in others if samples[j].levels[prop] != lv]
        if not cand:
            return None
        pair = [i, cand[int(rng.integers(len(cand)))]]
        return [pair[int(x)] for x in rng.permutation(2)]
    lower = [j for j in others if samples[j].levels[prop] < lv]
    objs = {samples[j].object_id for j in lower}
    if len(objs) < 2:
        return None
    picked: list[int] = []
    for j in (lower[int(x)] for x in rng.permutation(len(lower))):
        if samples[j].object_id not in {samples[q].object_id for q in picked}:
            picked.append(j)
        if len(picked) == 2:
            break
    trio = [i] + picked
    return [trio[int(x)] for x in rng.permutation(3)]


def samples_to_rows(samples: list[RealSample], cfg: TouchConfig, seed: int, source: str) -> dict[str, list[dict]]:
    """Touch rows from real samples: per sample one question (level / compare / superlative by the mix).

    Args:
        samples: Loaded samples.
        cfg: Task settings.
        seed: Run seed.
        source: ``octopi``, ``octopi15`` or ``ssvtp`` (the ``source`` column and the ``contact_id`` prefix).

    Returns:
        ``{"train": rows, "test": rows}``.
    """
    mix = {q: w for q, w in cfg.mix.items() if q in ("level", "compare", "superlative")} or {"level": 1.0}
    types, probs = list(mix), np.array(list(mix.values())) / sum(mix.values())
    out: dict[str, list[dict]] = {"train": [], "test": []}
    for i, s in enumerate(samples):
        rng = np.random.default_rng([seed, REAL_STREAM, i])
        props = [p for p in cfg.properties if p in s.levels]
        if not props:
            continue
        prop = props[int(rng.integers(len(props)))]
        qtype = types[int(rng.choice(len(types), p=probs))]
        pool = [j for j, t in enumerate(samples) if t.split == s.split and prop in t.levels]
        idx = _options(qtype, i, prop, pool, samples, rng) if qtype != "level" else None
        if idx is None:
            qtype, idx = "level", [i]
        readings = [Reading(samples[j].frames, samples[j].sensor, samples[j].levels, samples[j].object_id)
                    for j in idx]
        show_visual = s.visual is not None and qtype == "level" and rng.uniform() < cfg.visual_context_fraction
        row = make_row(qtype, prop, cfg.num_levels, readings, rng, visual=s.visual if show_visual else None)
        tag = "train" if s.split == "train" else "heldout_material"
        row.update(contact_id=f"{source}-{s.sample_id}" if qtype == "level" else f"{source}-{qtype}-{i:05d}",
                   split_tag=tag, source=source)
        out[s.split].append(row)
    return out


def real_rows(cfg: TouchConfig, seed: int, progress: bool = True) -> dict[str, list[dict]]:
    """Rows of the real dataset named by ``cfg.real_data`` / ``cfg.real_data_format``.

    Prints one line (next to the progress bars, on stderr) when samples lack a property's label, since those
    samples are silently never asked about it; :func:`tasks.touch.data.dataset_card` records the counts.

    Args:
        cfg: Task settings.
        seed: Run seed.
        progress: Show a progress bar while loading.

    Returns:
        ``{"train": rows, "test": rows}``.
    """
    import sys

    from tqdm.auto import tqdm

    loader = {"octopi": load_octopi, "octopi15": load_octopi15, "ssvtp": load_ssvtp}[cfg.real_data_format]
    rows = samples_to_rows(loader(cfg.real_data, cfg, progress=progress), cfg, seed, cfg.real_data_format)
    line = gaps_line(label_gaps(cfg), cfg.real_data)
    if line:
        tqdm.write(line, file=sys.stderr)
    return rows
