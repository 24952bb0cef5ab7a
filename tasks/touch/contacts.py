"""One simulated contact: its question type, objects, presses, sensors and renderings (before any wording).

:func:`draw_contact` is the whole random part of a touch row; :func:`tasks.touch.data.contact_rows` words it,
and ``benchmarks/touch_ceiling.py`` trains a CNN on its readings. Every draw comes from a stream keyed by
(seed, split, contact) and, for a sensor, the stable key of its name (:func:`envs.tactile.stream_key`):

* objects: fresh materials from the contact's object stream (``touch.objects=fresh`` or ``fresh_parameters``, held
  out by a rule of :mod:`tasks.touch.objects`), or picks from the catalogue on the contact's own stream (``catalog``, as before);
* sensors: ``sensors_per_contact`` train sensors by rendezvous rank (:func:`rank_sensors`); in ``train`` each of
  them is swapped, with probability ``touch.random_sensor_fraction``, for a procedurally drawn sensor
  (:mod:`envs.tactile.random_sensors`) on a stream keyed by the name of the sensor it replaces; ``test``
  contacts go through the named train sensors and every held-out sensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.touch.catalog import Catalog
from tasks.touch.config import TouchConfig
from tasks.touch.objects import fresh_object_ids, fresh_objects
from tasks.touch.questions import Reading

SPLIT_CODES = {"train": 1, "test": 2}
WORDING_STREAM, VISUAL_STREAM, SENSOR_STREAM, PICK_STREAM = 2000, 3000, 1000, 5000
OBJECT_STREAM, RANDOM_SENSOR_STREAM = 6000, 7000


@dataclass
class ContactDraw:
    """What one contact drew: the question, and each sensor's readings of its presses.

    Attributes:
        contact_id: ``<split>-<index>``.
        qtype: Question type (after falling back where the catalogue cannot pose the drawn one).
        prop: The property asked about.
        row_sensors: ``(sensor, split_tag)`` of each row, train sensors first, then held-out ones.
        partners: Row sensor -> the sensor whose reading a ``cross_sensor`` row adds (empty otherwise).
        readings: Sensor -> one :class:`~tasks.touch.questions.Reading` per object, in option order.
        visual: Camera image (PIL) or None; ``visual_level`` the level it suggests (-1 without one).
    """

    contact_id: str
    qtype: str
    prop: str
    row_sensors: list
    partners: dict
    readings: dict
    visual: object = None
    visual_level: int = -1


def image_size(cfg: TouchConfig, sensor: str) -> tuple[int, int] | None:
    """Rendering size of a sensor: longest side ``cfg.image_size`` with the profile's aspect, or None (native)."""
    if cfg.image_size is None:
        return None
    from envs.tactile import resolve_sensor

    h, w = resolve_sensor(sensor).image_size
    s = cfg.image_size / max(h, w)
    return max(8, int(round(h * s))), max(8, int(round(w * s)))


def _pick_objects(qtype: str, prop: str, pool: list[int], catalog: Catalog, rng) -> tuple[str, list[int]]:
    """Catalogue objects for one question (falling back to a simpler type when the pool cannot pose it)."""
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


def train_slots(cfg: TouchConfig, seed: int, split: str, i: int) -> tuple[list[str], str | None]:
    """The sensors contact ``i`` is rendered through for its train-sensor rows, and a spare named one.

    Args:
        cfg: Task settings (``train_sensors``, ``sensors_per_contact``, ``random_sensor_fraction``).
        seed: Run seed.
        split: ``train`` or ``test``; only ``train`` contacts swap sensors for procedural ones.
        i: Contact index.

    Returns:
        ``(sensors, spare)``: ``sensors_per_contact`` names (table names or ``random_<hex>``), and the next
        ranked named sensor (a ``cross_sensor`` partner when only one slot exists) or None.
    """
    from envs.tactile import random_sensor_name, stream_key

    code = SPLIT_CODES[split]
    ranked = rank_sensors(cfg.train_sensors, seed, code, i)
    sensors = ranked[:cfg.sensors_per_contact]
    spare = ranked[cfg.sensors_per_contact] if len(ranked) > cfg.sensors_per_contact else None
    if split == "train" and cfg.random_sensor_fraction > 0:
        swap = {s: np.random.default_rng([seed, code, i, RANDOM_SENSOR_STREAM, stream_key(s)]).random()
                < cfg.random_sensor_fraction for s in sensors}
        sensors = [random_sensor_name(seed, split, i, s) if swap[s] else s for s in sensors]
    return sensors, spare


def _render(contacts, sensor: str, cfg: TouchConfig, seed: int, code: int, i: int, materials: list,
            ids: list[str]) -> list[Reading]:
    from PIL import Image

    from envs.tactile import render_press_sequence, resolve_sensor
    from envs.tactile.views import tactile_view

    profile = resolve_sensor(sensor)
    srng = np.random.default_rng([seed, code, i, SENSOR_STREAM, profile.stream_key])
    out = []
    for c, mat, oid in zip(contacts, materials, ids):
        renders = render_press_sequence(c, profile, srng, n_frames=cfg.press_frames, image_size=image_size(cfg, sensor),
                                        return_renders=True)
        frames = [tactile_view(r.image, r.background, cfg.tactile_view) for r in renders]
        out.append(Reading([Image.fromarray(f) for f in frames], sensor, dict(mat.levels), oid))
    return out


def _objects(cfg: TouchConfig, seed: int, split: str, i: int, qtype: str, prop: str, catalog: Catalog | None,
             rng) -> tuple[str, list, list[str]]:
    """``(question type, materials, object ids)`` of contact ``i``: fresh, or picked from the catalogue."""
    if cfg.objects == "catalog":
        qtype, idx = _pick_objects(qtype, prop, catalog.pool(split), catalog, rng)
        return qtype, [catalog.materials[j] for j in idx], [catalog.ids[j] for j in idx]
    orng = np.random.default_rng([seed, SPLIT_CODES[split], i, OBJECT_STREAM])
    rule = "parameters" if cfg.objects == "fresh_parameters" else "levels"
    materials = fresh_objects(qtype, prop, split, cfg.num_levels, orng, rule)
    return qtype, materials, fresh_object_ids(f"{split}-{i:05d}", len(materials))


def _partners(qtype: str, row_sensors: list, sensors: list[str], spare: str | None) -> dict:
    """Row sensor -> the other sensor a ``cross_sensor`` row shows (the next train slot; for a held-out
    sensor the first train slot)."""
    if qtype != "cross_sensor":
        return {}
    out = {}
    for n, (s, tag) in enumerate(row_sensors):
        if tag == "heldout_sensor":
            out[s] = sensors[0]
        elif len(sensors) > 1:
            out[s] = sensors[(n + 1) % len(sensors)]
        else:
            out[s] = spare or s
    return out


def draw_contact(cfg: TouchConfig, seed: int, split: str, i: int, catalog: Catalog | None = None) -> ContactDraw:
    """Draw and render contact ``i`` of a split (see the module docstring for its streams).

    Args:
        cfg: Task settings.
        seed: Run seed.
        split: ``train`` or ``test``.
        i: Contact index in the split.
        catalog: The object catalogue (``touch.objects=catalog`` only).

    Returns:
        A :class:`ContactDraw`.
    """
    from PIL import Image

    from envs.tactile import render_visual, sample_contact

    code = SPLIT_CODES[split]
    rng = np.random.default_rng([seed, code, i])
    mix = cfg.mix
    qtype = list(mix)[int(rng.choice(len(mix), p=list(mix.values())))]
    prop = cfg.properties[int(rng.integers(len(cfg.properties)))]
    sensors, spare = train_slots(cfg, seed, split, i)
    show_visual = rng.uniform() < cfg.visual_context_fraction
    qtype, materials, ids = _objects(cfg, seed, split, i, qtype, prop, catalog, rng)
    contacts = [sample_contact(rng, m) for m in materials]

    draw = ContactDraw(f"{split}-{i:05d}", qtype, prop, [], {}, {})
    if qtype == "conflict" or (qtype == "level" and show_visual):
        vrng = np.random.default_rng([seed, code, i, VISUAL_STREAM])
        img, info = render_visual(materials[0], vrng, conflict=prop if qtype == "conflict" else False,
                                  size=cfg.visual_size, return_info=True)
        draw.visual = Image.fromarray(img)
        draw.visual_level = int(round(info["apparent"][prop] * (cfg.num_levels - 1)))

    draw.row_sensors = [(s, "train" if split == "train" else "heldout_material") for s in sensors]
    if split == "test":
        draw.row_sensors += [(s, "heldout_sensor") for s in cfg.heldout_sensors]
    draw.partners = _partners(qtype, draw.row_sensors, sensors, spare)
    for s in [s for s, _ in draw.row_sensors] + list(draw.partners.values()):
        if s not in draw.readings:
            draw.readings[s] = _render(contacts, s, cfg, seed, code, i, materials, ids)
    return draw
