"""Octopi's own label sources: the rank dicts of a checkout's ``utils/constants.py``, and Octopi-1.5's per-sample
``data.json``.

**PhysiCLeAR (clear-nus/octopi)** ships no labels file: the labels are three dicts in the repository's
``utils/constants.py``, object -> level on Octopi's 3-level scale (0-2)::

    HARDNESS_RANK = {'physiclear_sponge_soft': 0, ...}     # soft / moderately hard / hard
    ROUGHNESS_RANK = {...}                                  # smooth / slightly rough / rough
    TEXTURE_RANK = {...}                                    # no bumps / small bumps / big bumps (our bumpiness)

:func:`read_octopi_constants` reads them by parsing the file with :mod:`ast` and evaluating only those three
literals: the file is never imported or executed (it is someone else's code, and its neighbours import cv2).

**Octopi-1.5 (clear-nus/octopi-1.5)**: ``process_datasets.py`` writes ``samples/<dataset>_<n>/`` with the frames in
``tactile/`` and a ``data.json``::

    {"object_id": "physiclear_potato", "object": "a potato",
     "properties": {"hardness": 7.67, "roughness": 3.0},      # human ratings, 0-10
     "tactile_format": "video", "exploratory_procedure": "pressing", "tactile_path": "...", "split": "train"}

:func:`octopi15_levels` bins each rating into K levels as Octopi-1.5's ``get_categorical_labels(label, bins=K)``
does (width 10/K, an upper bin edge belongs to the lower bin). Samples of other datasets carry no ``properties``
and are counted as unlabelled.

Every fault is one :class:`embodied_r1.errors.UserError` line naming the file and how to fix it.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from embodied_r1.errors import UserError

#: Dict name in Octopi's constants.py -> our property.
RANK_DICTS = {"HARDNESS_RANK": "hardness", "ROUGHNESS_RANK": "roughness", "TEXTURE_RANK": "bumpiness"}
OCTOPI_LEVELS = 3
OCTOPI15_PROPERTIES = ("hardness", "roughness")
FIX_CONSTANTS = ("point touch.real_labels at an Octopi checkout (git clone https://github.com/clear-nus/octopi) "
                 "or its unmodified utils/constants.py")


def constants_path(labels: Path) -> Path:
    """The constants file a ``touch.real_labels`` path names: the file itself, or ``utils/constants.py`` (else
    ``constants.py``) inside a checkout folder."""
    if labels.is_dir():
        for candidate in (labels / "utils" / "constants.py", labels / "constants.py"):
            if candidate.is_file():
                return candidate
        raise UserError(f"real data: {labels} holds no utils/constants.py; {FIX_CONSTANTS}")
    return labels


def _literal_assignments(path: Path) -> dict[str, ast.expr]:
    """Top-level ``NAME = <expr>`` of a Python file, parsed (never run)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL byte in the source
        raise UserError(f"real data: cannot read {path} ({type(exc).__name__}); {FIX_CONSTANTS}") from exc
    except SyntaxError as exc:
        raise UserError(f"real data: {path} is not valid Python (line {exc.lineno}: {exc.msg}); "
                        f"{FIX_CONSTANTS}") from exc
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
    return out


def _rank_dict(path: Path, name: str, node: ast.expr) -> dict:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise UserError(f"real data: {name} in {path} (line {node.lineno}) is not a plain dict of object -> "
                        f"level; {FIX_CONSTANTS}") from exc
    if not isinstance(value, dict):
        raise UserError(f"real data: {name} in {path} (line {node.lineno}) is a {type(value).__name__}, not a dict "
                        f"of object -> level; {FIX_CONSTANTS}")
    return value


def read_octopi_constants(path: Path, k: int) -> dict[str, dict[str, int]]:
    """Object -> {property: level} from Octopi's ``HARDNESS_RANK`` / ``ROUGHNESS_RANK`` / ``TEXTURE_RANK``.

    Octopi's levels 0-2 are rescaled to K levels (``round(level / 2 * (K - 1))``: the same for K = 3). An object
    missing from one dict simply lacks that label (Octopi's ``TEXTURE_RANK`` has no ``physiclear_skin``).

    Args:
        path: Octopi's ``utils/constants.py``.
        k: ``touch.num_levels``.

    Returns:
        ``{object: {property: level}}`` with Octopi's object names (``physiclear_<object>``).

    Raises:
        UserError: An unreadable or invalid file, a missing rank dict, a dict that is not a literal, or a value
            that is not an integer level 0-2.
    """
    found = _literal_assignments(path)
    missing = [name for name in RANK_DICTS if name not in found]
    if missing:
        raise UserError(f"real data: {path} defines no {', '.join(missing)}; {FIX_CONSTANTS}")
    out: dict[str, dict[str, int]] = {}
    for name, prop in RANK_DICTS.items():
        for obj, level in _rank_dict(path, name, found[name]).items():
            if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < OCTOPI_LEVELS:
                raise UserError(f"real data: {name}['{obj}'] in {path} is {level!r}, not an integer level 0-2; "
                                f"fix that entry or {FIX_CONSTANTS}")
            out.setdefault(str(obj), {})[prop] = int(round(level / (OCTOPI_LEVELS - 1) * (k - 1)))
    return out


def bin_rating(rating: float, bins: int) -> int:
    """A 0-10 rating's bin among ``bins`` equal bins, as Octopi-1.5's ``get_categorical_labels``.

    >>> [bin_rating(r, 4) for r in (0, 2.5, 2.6, 5.0, 7.67, 10)]
    [0, 0, 1, 1, 3, 3]
    """
    rating = max(0.0, min(10.0, float(rating)))
    width = 10.0 / bins
    category = int(rating // width)
    if category > 0 and rating % width == 0:
        category -= 1
    return min(category, bins - 1)


def read_data_json(path: Path) -> dict:
    """One Octopi-1.5 ``data.json`` (a JSON object), or a one-line error naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"real data: cannot read {path} ({type(exc).__name__}); re-run Octopi-1.5's "
                        f"process_datasets.py or remove that sample folder") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"real data: {path} is not valid JSON (line {exc.lineno}: {exc.msg}); re-run Octopi-1.5's "
                        f"process_datasets.py or remove that sample folder") from exc
    if not isinstance(data, dict):
        raise UserError(f"real data: {path} must hold a JSON object (object_id, properties, split, ...)")
    return data


def octopi15_levels(data: dict, path: Path, k: int) -> dict[str, int]:
    """The K-level labels of one Octopi-1.5 sample: its 0-10 ``properties`` binned (none without them).

    Raises:
        UserError: ``properties`` that is not a mapping, or a rating that is not a number in 0-10.
    """
    props = data.get("properties")
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise UserError(f"real data: 'properties' in {path} must map hardness/roughness to 0-10 ratings")
    out = {}
    for prop in OCTOPI15_PROPERTIES:
        if prop not in props or props[prop] is None:
            continue
        v = props[prop]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 10.0:
            raise UserError(f"real data: properties.{prop} in {path} is {v!r}, not a rating in 0-10; "
                            f"fix it or remove that sample folder")
        out[prop] = bin_rating(v, k)
    return out


def octopi15_split(data: dict, path: Path) -> str:
    """``train`` or ``test`` (Octopi-1.5's ``val`` joins ``test``) from a sample's ``split``."""
    split = data.get("split")
    if split not in ("train", "val", "test"):
        raise UserError(f"real data: 'split' in {path} is {split!r}, not train, val or test")
    return "train" if split == "train" else "test"
