"""What a real-data folder says without its images: labels, sample lists, missing labels, a content fingerprint.

The loaders of :mod:`tasks.touch.real_data` read their labels and sample lists through this module, and so do
the two things that must not open every image:

Octopi's labels come from ``touch.real_labels`` (a checkout's ``utils/constants.py``, parsed by
:mod:`tasks.touch.octopi_labels`, or a labels file) or an ``object_properties.json``/``.csv`` in the folder;
Octopi-1.5's from each sample's ``data.json``; SSVTP's from its adjective files.

* :func:`label_gaps` counts, per property, the samples whose object (Octopi), ``data.json`` (Octopi-1.5:
  no bumpiness, and no ratings for other datasets' samples) or adjectives (SSVTP) give no
  label for it. Such a sample is never asked about that property; a sample with no label at all is left out.
  The counts go into the dataset card and into one printed line (:func:`gaps_line`).
* :func:`real_data_fingerprint` digests the folder for the dataset cache key (``Task.data_fingerprint``):
  the full contents of the label and sample-list files (the labels source, ``*_samples.json``, every
  ``data.json``, ``text/labels_*.txt``), plus the name, size and modification time of every image the loaders may read.
  Images are listed, not hashed: hashing a real dataset's thousands of frames on every load would cost
  seconds, while a replaced or re-encoded frame changes its size or time.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path

from embodied_r1.errors import UserError
from tasks.touch.config import TouchConfig
from tasks.touch.octopi_labels import (FIX_CONSTANTS, constants_path, octopi15_levels, octopi15_split, read_data_json,
                                       read_octopi_constants)

OCTOPI_SPLIT_FILES = (("train_samples.json", "train"), ("val_samples.json", "test"), ("test_samples.json", "test"))
OCTOPI_LABEL_FILES = ("object_properties.json", "object_properties.csv")
PHYSICLEAR_PREFIX = "physiclear_"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# ======================================================================================================
# Labels
# ======================================================================================================
PROPERTY_ALIASES = {"hardness": "hardness", "roughness": "roughness", "bumpiness": "bumpiness", "texture": "bumpiness"}

#: SSVTP adjective -> (property, level on Octopi's 3-level scale). Documented, deliberately small.
ADJECTIVE_LEVELS = {
    **{w: ("hardness", 0) for w in ("soft", "squishy", "spongy", "fluffy", "plush", "cushioned", "pliable",
                                    "fuzzy", "furry", "elastic", "compressible")},
    **{w: ("hardness", 1) for w in ("firm", "semi-firm", "moderately hard", "flexible", "leathery")},
    **{w: ("hardness", 2) for w in ("hard", "rigid", "solid", "stiff", "unyielding", "metallic", "stony")},
    **{w: ("roughness", 0) for w in ("smooth", "sleek", "polished", "glossy", "slippery", "silky", "slick")},
    **{w: ("roughness", 1) for w in ("textured", "grainy", "slightly rough", "matte", "fibrous", "woven")},
    **{w: ("roughness", 2) for w in ("rough", "coarse", "abrasive", "gritty", "scratchy", "jagged", "prickly")},
    **{w: ("bumpiness", 0) for w in ("flat", "even", "level", "uniform", "plain")},
    **{w: ("bumpiness", 1) for w in ("ridged", "ribbed", "dimpled", "grooved", "wavy", "patterned", "porous")},
    **{w: ("bumpiness", 2) for w in ("bumpy", "lumpy", "knobby", "studded", "nubby", "bumps")},
}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"real data: cannot read {path} ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"real data: {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def _check_level(v, k: int, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= int(v) < k:
        raise UserError(f"real data: {where} is {v!r}, not an integer level in 0..{k - 1} (touch.num_levels={k})")
    return int(v)


def read_object_properties(path: Path, k: int) -> dict[str, dict[str, int]]:
    """Object -> {property: level} from an ``object_properties.json`` or ``object_properties.csv`` file."""
    if path.suffix.lower() == ".json":
        data = _read_json(path)
        if not isinstance(data, dict):
            raise UserError(f"real data: {path} must map object names to {{property: level}}")
        items = data.items()
    else:
        try:
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UserError(f"real data: cannot read {path} ({exc})") from exc
        if not rows or "object" not in rows[0]:
            raise UserError(f"real data: {path} needs a header row starting with 'object' "
                            f"(object,hardness,roughness,bumpiness)")
        items = [(r.pop("object"), {p: (int(v) if re.fullmatch(r"-?\d+", (v or "").strip()) else v)
                                     for p, v in r.items() if (v or "").strip()}) for r in rows]
    out = {}
    for obj, props in items:
        if not isinstance(props, dict):
            raise UserError(f"real data: {path} entry '{obj}' must be a mapping of property -> level")
        levels = {}
        for p, v in props.items():
            if p in PROPERTY_ALIASES:
                levels[PROPERTY_ALIASES[p]] = _check_level(v, k, f"{path} '{obj}'.{p}")
        out[str(obj)] = levels
    return out


def octopi_labels_source(cfg: TouchConfig) -> Path | None:
    """The file an Octopi folder's labels come from: ``touch.real_labels`` (a labels file, Octopi's
    ``constants.py``, or the checkout holding it), else ``object_properties.json``/``.csv`` in the folder; None
    when there is none (never raises: :func:`octopi_labels` reports the fault)."""
    if cfg.real_labels:
        src = Path(cfg.real_labels).expanduser()
        if src.is_dir():
            return next((c for c in (src / "utils" / "constants.py", src / "constants.py") if c.is_file()), None)
        return src
    root = Path(cfg.real_data)
    return next((root / n for n in OCTOPI_LABEL_FILES if (root / n).exists()), None)


def octopi_labels(cfg: TouchConfig) -> tuple[dict[str, dict[str, int]], Path]:
    """Object -> {property: level} of an Octopi/PhysiCLeAR folder, and the file they were read from.

    Raises:
        UserError: No labels at all (PhysiCLeAR ships none: the message says to set ``touch.real_labels``), or a
            missing or malformed labels file.
    """
    if cfg.real_labels and not Path(cfg.real_labels).expanduser().exists():
        raise UserError(f"real data: touch.real_labels {cfg.real_labels} does not exist; {FIX_CONSTANTS}")
    src = octopi_labels_source(cfg)
    if src is None and cfg.real_labels:
        constants_path(Path(cfg.real_labels).expanduser())  # raises: a folder without utils/constants.py
    if src is None:
        raise UserError(f"real data: no labels for {cfg.real_data}: the PhysiCLeAR release ships no labels file; set "
                        f"touch.real_labels to your Octopi checkout (git clone https://github.com/clear-nus/octopi), "
                        f"whose utils/constants.py holds HARDNESS_RANK, ROUGHNESS_RANK and TEXTURE_RANK")
    if src.suffix.lower() in (".json", ".csv"):
        return read_object_properties(src, cfg.num_levels), src
    return read_octopi_constants(src, cfg.num_levels), src


def object_labels(labels: dict[str, dict[str, int]], obj: str) -> dict[str, int] | None:
    """An object's labels, matching Octopi's ``physiclear_<object>`` names with or without the prefix.

    >>> object_labels({"physiclear_egg": {"hardness": 2}}, "egg"), object_labels({"egg": {}}, "physiclear_egg")
    ({'hardness': 2}, {})
    """
    for key in (obj, obj.removeprefix(PHYSICLEAR_PREFIX), PHYSICLEAR_PREFIX + obj):
        if key in labels:
            return labels[key]
    return None


def ssvtp_levels(adjectives: str, k: int) -> dict[str, int]:
    """Ordinal labels from an SSVTP adjective list via :data:`ADJECTIVE_LEVELS` (3 levels rescaled to K).

    >>> ssvtp_levels("Soft, smooth, flat", 3)
    {'hardness': 0, 'roughness': 0, 'bumpiness': 0}
    >>> ssvtp_levels("hard, soft, bumpy", 5)
    {'bumpiness': 4}
    """
    found: dict[str, set] = {}
    for word in (w.strip().lower() for w in adjectives.replace(";", ",").replace("\n", ",").split(",")):
        if word in ADJECTIVE_LEVELS:
            p, lv = ADJECTIVE_LEVELS[word]
            found.setdefault(p, set()).add(lv)
    return {p: int(round(next(iter(v)) / 2 * (k - 1))) for p, v in found.items() if len(v) == 1}


def resolve_sample_folder(root: Path, folder: str) -> Path:
    """Where a listed sample folder is: the path as written, else ``root/<its last name>`` (moved datasets)."""
    p = Path(folder)
    return p if p.is_dir() else root / p.name


def octopi_entries(root: Path, labels: dict[str, dict[str, int]], source: Path) -> list[tuple[str, str, str, Path]]:
    """The samples an Octopi folder lists: ``(split, object, folder as written, listing file)`` per sample.

    Args:
        root: The Octopi folder.
        labels: Its :func:`octopi_labels` (every listed object must have an entry).
        source: The file the labels came from (named in the error for an object without labels).

    Returns:
        One tuple per listed sample folder, objects in sorted order per file.

    Raises:
        UserError: A missing or malformed split file, or a listed object without labels.
    """
    entries = []
    for fname, split in OCTOPI_SPLIT_FILES:
        path = root / fname
        if not path.exists():
            if fname == "val_samples.json":
                continue
            raise UserError(f"real data: missing {path}; an Octopi folder needs train_samples.json and "
                            f"test_samples.json (object -> sample folders)")
        data = _read_json(path)
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise UserError(f"real data: {path} must map each object name to a list of sample folders")
        for obj, folders in sorted(data.items()):
            if object_labels(labels, obj) is None:
                raise UserError(f"real data: object '{obj}' of {path} has no labels in {source}")
            for folder in folders:
                entries.append((split, obj, str(folder), path))
    return entries


def octopi15_entries(root: Path, k: int) -> list[tuple[Path, str, str, dict[str, int]]]:
    """The samples of an Octopi-1.5 ``samples`` folder: ``(folder, object_id, split, levels)`` per
    ``<dataset>_<n>/data.json`` (folders without one are skipped, as Octopi-1.5 does); levels are empty for a
    sample without ``properties``.

    Raises:
        UserError: Not a folder, no sample folder at all, or a malformed ``data.json``.
    """
    if not root.is_dir():
        raise UserError(f"real data: {root} is not a folder (touch.real_data)")
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        path = folder / "data.json"
        if not path.is_file():
            continue
        data = read_data_json(path)
        out.append((folder, str(data.get("object_id") or folder.name), octopi15_split(data, path),
                    octopi15_levels(data, path, k)))
    if not out:
        raise UserError(f"real data: {root} holds no <dataset>_<n>/data.json sample folders; point touch.real_data "
                        f"at Octopi-1.5's octopi_s/data/samples (written by its process_datasets.py)")
    return out


def ssvtp_ids(root: Path) -> list[str]:
    """Sample ids of an SSVTP folder, from its tactile images ``images_tac/image_<id>_tac.jpg`` (sorted).

    Raises:
        UserError: No ``images_tac`` folder, or no tactile image in it.
    """
    tac_dir = root / "images_tac"
    if not tac_dir.is_dir():
        raise UserError(f"real data: missing folder {tac_dir} (SSVTP tactile images image_<id>_tac.jpg)")
    ids = sorted(m.group(1) for f in tac_dir.iterdir() if (m := re.fullmatch(r"image_(.+)_tac\.jpe?g", f.name)))
    if not ids:
        raise UserError(f"real data: {tac_dir} holds no image_<id>_tac.jpg files")
    return ids


def ssvtp_sample_levels(root: Path, sid: str, cfg: TouchConfig) -> dict[str, int]:
    """The levels of SSVTP sample ``sid`` among ``cfg.properties`` (from ``text/labels_<sid>.txt``).

    Raises:
        UserError: The labels file is missing or unreadable.
    """
    label_path = root / "text" / f"labels_{sid}.txt"
    if not label_path.exists():
        raise UserError(f"real data: missing labels file {label_path} for "
                        f"{root / 'images_tac' / f'image_{sid}_tac.jpg'}")
    try:
        text = label_path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"real data: cannot read labels file {label_path} ({exc})") from exc
    return {p: v for p, v in ssvtp_levels(text, cfg.num_levels).items() if p in cfg.properties}


# ======================================================================================================
# Missing labels
# ======================================================================================================
def label_gaps(cfg: TouchConfig) -> dict:
    """Per property of ``cfg.properties``, how many samples of ``cfg.real_data`` have no label for it.

    Args:
        cfg: Task settings naming a real-data folder (``real_data``, ``real_data_format``).

    Returns:
        ``{"samples": n listed, "missing_labels": {property: n without its label}, "unlabelled_samples": n
        with no label at all}``; an unlabelled sample is also counted for every property.

    Raises:
        UserError: As the loaders, for a malformed folder.
    """
    root = Path(cfg.real_data)
    if cfg.real_data_format == "octopi":
        labels, source = octopi_labels(cfg)
        per_sample = [object_labels(labels, obj) for _, obj, _, _ in octopi_entries(root, labels, source)]
    elif cfg.real_data_format == "octopi15":
        per_sample = [levels for _, _, _, levels in octopi15_entries(root, cfg.num_levels)]
    else:
        per_sample = [ssvtp_sample_levels(root, sid, cfg) for sid in ssvtp_ids(root)]
    per_sample = [{p: v for p, v in levels.items() if p in cfg.properties} for levels in per_sample]
    missing = {p: sum(p not in levels for levels in per_sample) for p in cfg.properties}
    return {"samples": len(per_sample), "missing_labels": missing,
            "unlabelled_samples": sum(not any(p in levels for p in cfg.properties) for levels in per_sample)}


def gaps_line(gaps: dict, where: str) -> str | None:
    """One line naming the missing labels of :func:`label_gaps`, or None when every sample has every label.

    >>> gaps = {"samples": 16, "missing_labels": {"hardness": 0, "roughness": 3}, "unlabelled_samples": 0}
    >>> gaps_line(gaps, "/data/octopi")
    'real data: 3 of 16 samples lack a roughness label and were skipped for roughness questions (/data/octopi)'
    """
    parts = [f"{n} of {gaps['samples']} samples lack a {p} label and were skipped for {p} questions"
             for p, n in gaps["missing_labels"].items() if n]
    if not parts:
        return None
    if gaps["unlabelled_samples"]:
        parts.append(f"{gaps['unlabelled_samples']} have no label at all and were left out")
    return f"real data: {'; '.join(parts)} ({where})"


# ======================================================================================================
# Fingerprint
# ======================================================================================================
def _feed_file(h, path: Path) -> None:
    h.update(f"\0file {path.name}\0".encode())
    try:
        h.update(path.read_bytes())
    except OSError:  # absent or unreadable: the build reports it; the key just differs from a present file's
        h.update(b"\0absent")


def _feed_listing(h, folder: Path) -> None:
    h.update(f"\0dir {folder.name}\0".encode())
    try:
        with os.scandir(folder) as it:
            stats = sorted((e.name, e.stat()) for e in it if e.name.lower().endswith(IMAGE_SUFFIXES))
    except (OSError, ValueError):  # ValueError: a listed name with a NUL byte, which os.scandir rejects
        h.update(b"\0absent")
        return
    for name, st in stats:
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())


def _feed_octopi15(h, root: Path) -> None:
    """Every sample folder's ``data.json`` in full and its ``tactile/`` listing."""
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        folders = []
    for folder in folders:
        _feed_file(h, folder / "data.json")
        _feed_listing(h, folder / "tactile")


def real_data_fingerprint(cfg: TouchConfig) -> str:
    """Digest of the real-data folder's labels, sample lists and image listing (see the module docstring).

    Never raises: a missing or malformed folder gets a digest of what is there, and the build that follows
    reports the fault in one line.

    Args:
        cfg: Task settings.

    Returns:
        16 hex digits, or "" when ``cfg.real_data`` is None.
    """
    if cfg.real_data is None:
        return ""
    root = Path(cfg.real_data)
    h = hashlib.sha1(cfg.real_data_format.encode())
    if cfg.real_data_format == "octopi15":
        _feed_octopi15(h, root)
    elif cfg.real_data_format == "octopi":
        source = octopi_labels_source(cfg)
        if source is not None:
            _feed_file(h, source)
        for name in OCTOPI_LABEL_FILES + tuple(f for f, _ in OCTOPI_SPLIT_FILES):
            _feed_file(h, root / name)
        for fname, _ in OCTOPI_SPLIT_FILES:
            try:
                listed = json.loads((root / fname).read_text())
                folders = sorted({str(f) for v in listed.values() for f in v})
            except (OSError, ValueError, AttributeError, TypeError):
                continue  # the loader raises the one-line error for this file
            for folder in folders:
                _feed_listing(h, resolve_sample_folder(root, folder))
    else:
        try:
            texts = sorted((root / "text").glob("labels_*.txt"))
        except OSError:
            texts = []
        for path in texts:
            _feed_file(h, path)
        _feed_listing(h, root / "images_tac")
        _feed_listing(h, root / "images_rgb")
    return h.hexdigest()[:16]
