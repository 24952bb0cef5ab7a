"""Fresh simulated objects (the default): every contact presses new objects, held out from training by a rule.

A fixed catalogue (:mod:`tasks.touch.catalog`, ``touch.objects=catalog``) repeats a few dozen objects, so a
model can memorise them: a ResNet-18 trained on single tactile images of 64 catalogue objects reached only
0.74/0.67/0.66 (hardness/roughness/bumpiness) on held-out objects, against 0.89/0.96/0.79 when trained on
fresh random objects. Here each contact draws new materials (fresh stiffness, texture, bumps, shape and surface),
so no object is ever seen twice.

Held-out materials stay held out by a rule on their level combination, not by a list:

    a material is held out iff  (hardness + roughness + bumpiness) % K == K - 1.

That reserves 1/K of the K**3 combinations for ``test`` (9 of 27 for K = 3). The held-out combinations form a
Latin square, so every level of every property, and every pair of levels of two properties, occurs on both
sides: a model that reads each property on its own meets nothing new, while one that memorised whole
objects (a combination) has never seen a test object's combination.

The rule is strict on purpose: in training, given two properties' levels, the third never takes its held-out
value, and a model unsure of a property that leans on that prior is wrong on exactly the held-out objects
(``benchmarks/touch_ceiling.py`` reports a ``val`` group of fresh objects of train combinations next to
``heldout_objects`` to show how much).

``touch.objects=fresh_parameters`` holds materials out by their continuous parameters instead, at every level
combination. Within a level, each property's parameter sits at a jitter ``|offset| < 0.3`` level steps from the
level's centre (:func:`envs.tactile.materials.level_unit`); split into ``OFFSET_CELLS`` = 3 bands of
distance from the centre (cells 0, 1, 2), a material is held out iff

    (cell of hardness + cell of roughness + cell of bumpiness) % 3 == 2.

Every level combination occurs on both sides, and the cells are drawn the same way at every level, so the
labels' joint distribution is the same in ``train`` and ``test``: no prior over levels is wrong on the held-out
objects. (A prior over the bands remains: given two properties' bands, training never shows the third's
held-out band. Only a model that reads offsets to a fraction of a level step could lean on it.) What is held out are unseen points of the parameter space, interleaved with the training ones: a test
of generalising to new objects, not to new level combinations (docs/results/touch_encoder_v5/, section 5).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from envs.tactile import PROPERTIES, Material, sample_material
from envs.tactile.materials import LEVEL_JITTER

LETTERS = "ABC"
HELDOUT_RULE = "(hardness + roughness + bumpiness) % K == K - 1"
OFFSET_CELLS = 3
PARAMETER_RULE = (f"sum over the properties of floor({OFFSET_CELLS} * |offset from the level's centre| / {LEVEL_JITTER}) "
                  f"% {OFFSET_CELLS} == {OFFSET_CELLS - 1}")
RULES = ("levels", "parameters")


def is_heldout_combo(levels: dict | tuple, num_levels: int) -> bool:
    """Whether a level combination is reserved for ``test`` (sum of the three levels is K-1 modulo K).

    Args:
        levels: ``{property: level}`` of all three properties, or the levels in ``PROPERTIES`` order.
        num_levels: K.

    Returns:
        True for a held-out combination.

    >>> is_heldout_combo({"hardness": 0, "roughness": 1, "bumpiness": 1}, 3), is_heldout_combo((0, 0, 0), 3)
    (True, False)
    """
    values = [levels[p] for p in PROPERTIES] if isinstance(levels, dict) else list(levels)
    return sum(values) % num_levels == num_levels - 1


@functools.lru_cache(maxsize=16)
def level_combos(split: str, num_levels: int) -> tuple[tuple[int, ...], ...]:
    """The level combinations (in ``PROPERTIES`` order) a split may draw: held-out ones for ``test``, the rest
    for ``train``, every one for ``all``.

    >>> len(level_combos("train", 3)), len(level_combos("test", 3)), len(level_combos("test", 4))
    (18, 9, 16)
    >>> len(level_combos("all", 3))
    27
    """
    combos = itertools.product(range(num_levels), repeat=len(PROPERTIES))
    if split == "all":
        return tuple(combos)
    return tuple(c for c in combos if is_heldout_combo(c, num_levels) == (split == "test"))


def offset_cells(material: Material) -> dict[str, int]:
    """Per property, the band (``0..OFFSET_CELLS-1``) of the material's distance from its level's centre.

    ``units[p] * (K - 1) - level`` is the jitter that :func:`envs.tactile.materials.level_unit` drew (its
    reflection at 0 and 1 keeps the distance), uniform on ``[0, 0.3)`` at every level.

    >>> m = sample_material(np.random.default_rng(1), {"hardness": 0, "roughness": 1, "bumpiness": 2}, 3)
    >>> sorted(offset_cells(m)) == sorted(PROPERTIES), all(0 <= c < OFFSET_CELLS for c in offset_cells(m).values())
    (True, True)
    """
    k = material.num_levels
    out = {}
    for p in PROPERTIES:
        dist = abs(material.units[p] * (k - 1) - material.levels[p])
        out[p] = min(OFFSET_CELLS - 1, int(OFFSET_CELLS * dist / LEVEL_JITTER))
    return out


def is_heldout_material(material: Material) -> bool:
    """Whether ``touch.objects=fresh_parameters`` reserves this material for ``test`` (its offset bands sum to
    2 modulo 3: a third of the materials of every level combination)."""
    return sum(offset_cells(material).values()) % OFFSET_CELLS == OFFSET_CELLS - 1


def _draw(combos: list, rng: np.random.Generator) -> dict:
    return dict(zip(PROPERTIES, combos[int(rng.integers(len(combos)))]))


def fresh_levels(qtype: str, prop: str, split: str, num_levels: int, rng: np.random.Generator,
                 rule: str = "levels") -> list[dict]:
    """Level combinations of the objects of one question, drawn from the split's combinations.

    Args:
        qtype: Question type; ``compare`` draws two objects that differ in ``prop``, ``superlative`` a top object
            and two objects below it (in random order), every other type one object.
        prop: The property asked about.
        split: ``train`` or ``test``.
        num_levels: K.
        rng: The contact's object stream.
        rule: ``levels`` (the split's combinations) or ``parameters`` (every combination, for both splits).

    Returns:
        One ``{property: level}`` per object, in option order.
    """
    combos = level_combos(split if rule == "levels" else "all", num_levels)
    p = PROPERTIES.index(prop)
    if qtype == "compare":
        first = _draw(combos, rng)
        second = _draw([c for c in combos if c[p] != first[prop]], rng)
        return [first, second]
    if qtype == "superlative":
        top = int(rng.integers(1, num_levels))
        trio = [_draw([c for c in combos if c[p] == top], rng)]
        trio += [_draw([c for c in combos if c[p] < top], rng) for _ in range(2)]
        return [trio[int(i)] for i in rng.permutation(3)]
    return [_draw(combos, rng)]


def fresh_objects(qtype: str, prop: str, split: str, num_levels: int,
                  rng: np.random.Generator, rule: str = "levels") -> list[Material]:
    """New materials for one question: :func:`fresh_levels`, then continuous parameters drawn for each.

    Args:
        qtype: Question type.
        prop: The property asked about.
        split: ``train`` or ``test``.
        num_levels: K.
        rng: The contact's object stream.
        rule: ``levels`` (held out by level combination, the default) or ``parameters`` (held out by
            :func:`is_heldout_material`: each material is drawn again until it falls on its split's side).

    Returns:
        One :class:`envs.tactile.Material` per object, in option order.

    Example:
        >>> mats = fresh_objects("compare", "hardness", "test", 3, np.random.default_rng(0))
        >>> len(mats), mats[0].levels["hardness"] != mats[1].levels["hardness"]
        (2, True)
        >>> all(is_heldout_combo(m.levels, 3) for m in mats)
        True
    """
    if rule not in RULES:
        raise ValueError(f"unknown held-out rule {rule!r}; known: {RULES}")
    out = []
    for levels in fresh_levels(qtype, prop, split, num_levels, rng, rule):
        material = sample_material(rng, levels, num_levels)
        while rule == "parameters" and is_heldout_material(material) != (split == "test"):
            material = sample_material(rng, levels, num_levels)
        out.append(material)
    return out


def fresh_object_ids(contact_id: str, n: int) -> list[str]:
    """Ids of a contact's fresh objects: the contact id and the option letter (each object exists once).

    >>> fresh_object_ids("train-00012", 2)
    ['train-00012-A', 'train-00012-B']
    """
    return [f"{contact_id}-{LETTERS[k]}" for k in range(n)]
