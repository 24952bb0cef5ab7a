"""Real tactile data in the touch schema: Octopi/PhysiCLeAR and TVL's SSVTP.

**Octopi / PhysiCLeAR** (GelSight, Octopi's processed layout)::

    root/
      train_samples.json          {"<object>": ["<path>/physiclear_<object>_<n>", ...], ...}
      val_samples.json            optional, same shape (joins test)
      test_samples.json           same shape; Octopi's test objects are held out from train
      object_properties.json      {"<object>": {"hardness": 0-2, "roughness": 0-2, "bumpiness": 0-2}, ...}
                                  (or object_properties.csv with columns object,hardness,roughness,bumpiness;
                                  Octopi's name "texture" is read as bumpiness)
      physiclear_<object>_<n>/    frames 0000000012.jpg ... (sorted by name)

Sample paths in the JSON files may be absolute or relative; a path that does not exist is looked up as
``root/<folder name>``. Labels are ordinal levels ``0..K-1`` (Octopi: soft / moderately hard / hard, smooth /
slightly rough / rough, no / small / big bumps). ``touch.real_frames`` frames are taken evenly spaced (one
frame: the middle one, near the deepest press).

**TVL SSVTP** (DIGIT with a paired camera image)::

    root/
      images_tac/image_<id>_tac.jpg     tactile image (required)
      images_rgb/image_<id>_rgb.jpg     camera image (optional; shown as agreeing visual context)
      text/labels_<id>.txt              comma-separated adjectives, e.g. "soft, smooth, flat"

Adjectives map to 3-level labels with :data:`ADJECTIVE_LEVELS` (rescaled to K levels); a property whose
adjectives disagree (e.g. "soft, hard") or that no adjective names stays unlabelled for that sample, and a
sample with no label among ``touch.properties`` is skipped. SSVTP has no splits: a stable hash of the id puts
``touch.real_heldout_fraction`` of the samples into ``test``.

Both produce rows in the schema of :func:`tasks.touch.data.features` (``source`` ``octopi`` / ``ssvtp``,
``sensor`` ``gelsight`` / ``digit``), with ``level`` questions plus ``compare`` / ``superlative`` questions
between samples of different objects, by the config's question mix (``conflict`` and ``cross_sensor`` need
the simulator and are not posed on real data). A malformed folder raises :class:`embodied_r1.errors.UserError`
with one line naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embodied_r1.errors import UserError
from tasks.touch.config import TouchConfig
from tasks.touch.questions import Reading, make_row

REAL_STREAM = 4000
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


def read_object_properties(root: Path, k: int) -> dict[str, dict[str, int]]:
    """Object -> {property: level} from ``object_properties.json`` or ``object_properties.csv`` in ``root``."""
    jpath, cpath = root / "object_properties.json", root / "object_properties.csv"
    if jpath.exists():
        data = _read_json(jpath)
        if not isinstance(data, dict):
            raise UserError(f"real data: {jpath} must map object names to {{property: level}}")
        items = data.items()
        src = jpath
    elif cpath.exists():
        try:
            with cpath.open(newline="") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UserError(f"real data: cannot read {cpath} ({exc})") from exc
        if not rows or "object" not in rows[0]:
            raise UserError(f"real data: {cpath} needs a header row starting with 'object' "
                            f"(object,hardness,roughness,bumpiness)")
        items = [(r.pop("object"), {p: (int(v) if re.fullmatch(r"-?\d+", (v or "").strip()) else v)
                                     for p, v in r.items() if (v or "").strip()}) for r in rows]
        src = cpath
    else:
        raise UserError(f"real data: missing labels file {jpath} (or {cpath.name}); it maps each object to its "
                        f"hardness/roughness/bumpiness levels")
    out = {}
    for obj, props in items:
        if not isinstance(props, dict):
            raise UserError(f"real data: {src} entry '{obj}' must be a mapping of property -> level")
        levels = {}
        for p, v in props.items():
            if p in PROPERTY_ALIASES:
                levels[PROPERTY_ALIASES[p]] = _check_level(v, k, f"{src} '{obj}'.{p}")
        out[str(obj)] = levels
    return out


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
    labels = read_object_properties(root, cfg.num_levels)
    entries = []
    for fname, split in (("train_samples.json", "train"), ("val_samples.json", "test"), ("test_samples.json", "test")):
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
            if obj not in labels:
                raise UserError(f"real data: object '{obj}' of {path} has no labels in {root / 'object_properties.json'}")
            for folder in folders:
                entries.append((split, obj, str(folder), path))
    max_side = cfg.image_size or 160
    out = []
    for split, obj, folder, src in tqdm(entries, desc="octopi", unit="sample", disable=not progress):
        p = Path(folder)
        if not p.is_dir():
            p = root / Path(folder).name
        if not p.is_dir():
            raise UserError(f"real data: sample folder '{folder}' listed in {src} does not exist (also not as {p})")
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not files:
            raise UserError(f"real data: sample folder {p} (listed in {src}) holds no JPG frames")
        frames = [_read_image(f, max_side) for f in _pick_frames(files, cfg.real_frames)]
        out.append(RealSample(p.name, obj, split, frames, dict(labels[obj]), "gelsight"))
    return out


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
    if not tac_dir.is_dir():
        raise UserError(f"real data: missing folder {tac_dir} (SSVTP tactile images image_<id>_tac.jpg)")
    ids = sorted(m.group(1) for f in tac_dir.iterdir() if (m := re.fullmatch(r"image_(.+)_tac\.jpe?g", f.name)))
    if not ids:
        raise UserError(f"real data: {tac_dir} holds no image_<id>_tac.jpg files")
    max_side = cfg.image_size or 160
    out = []
    for sid in tqdm(ids, desc="ssvtp", unit="sample", disable=not progress):
        label_path = root / "text" / f"labels_{sid}.txt"
        if not label_path.exists():
            raise UserError(f"real data: missing labels file {label_path} for {tac_dir / f'image_{sid}_tac.jpg'}")
        try:
            text = label_path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"real data: cannot read labels file {label_path} ({exc})") from exc
        levels = {p: v for p, v in ssvtp_levels(text, cfg.num_levels).items() if p in cfg.properties}
        if not levels:
            continue
        tac = next(tac_dir.glob(f"image_{sid}_tac.jp*g"))
        rgb = next((root / "images_rgb").glob(f"image_{sid}_rgb.jp*g"), None) if (root / "images_rgb").is_dir() else None
        out.append(RealSample(sid, sid, "test" if _in_test(sid, cfg.real_heldout_fraction) else "train",
                              [_read_image(tac, max_side)], levels, "digit",
                              _read_image(rgb, cfg.visual_size) if rgb else None))
    if not out:
        raise UserError(f"real data: no sample in {root / 'text'} has an adjective that labels "
                        f"{', '.join(cfg.properties)} (see tasks.touch.real_data.ADJECTIVE_LEVELS)")
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
        source: ``octopi`` or ``ssvtp`` (the ``source`` column and the ``contact_id`` prefix).

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
    """Rows of the real dataset named by ``cfg.real_data`` / ``cfg.real_data_format``."""
    loader = load_octopi if cfg.real_data_format == "octopi" else load_ssvtp
    return samples_to_rows(loader(cfg.real_data, cfg, progress=progress), cfg, seed, cfg.real_data_format)
