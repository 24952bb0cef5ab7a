"""The simulated object catalogue and its material split (seen objects for ``train``, held-out for ``test``).

Like Octopi's 74 household objects, the simulator's world is a fixed set of objects: each has fixed physical
parameters (stiffness, texture, bumps, shape, surface) drawn once from its ordinal levels, and is pressed many
times with different poses and forces. Held-out materials are objects never pressed in ``train``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.tactile import PROPERTIES, Material, sample_material

#: Stream codes that keep the random streams of the catalogue, the splits and each contact apart.
STREAM_CATALOG, STREAM_SPLIT = 101, 102


@dataclass
class Catalog:
    """Objects of the simulated world and which of them each split may use.

    Attributes:
        materials: One :class:`envs.tactile.Material` per object.
        ids: Object ids (``m000`` ...), aligned with ``materials``.
        train: Indices of the objects seen in training.
        test: Indices of the held-out objects.
    """

    materials: list
    ids: list
    train: list
    test: list

    def pool(self, split: str) -> list[int]:
        """Object indices of a split (``train`` or ``test``)."""
        return self.train if split == "train" else self.test


def balanced_levels(rng: np.random.Generator, n: int, k: int) -> dict[str, list[int]]:
    """Per property, ``n`` levels with each of the ``k`` levels equally often (up to one), shuffled.

    >>> lv = balanced_levels(np.random.default_rng(0), 6, 3)
    >>> sorted(lv["hardness"])
    [0, 0, 1, 1, 2, 2]
    """
    return {p: [int(x) for x in rng.permutation([i % k for i in range(n)])] for p in PROPERTIES}


def _covers(levels: dict, idx: list[int], k: int, props) -> bool:
    need = min(k, len(idx))
    return all(len({levels[p][i] for i in idx}) >= need for p in props)


def make_catalog(num_materials: int, num_levels: int, heldout_fraction: float, seed: int,
                 properties=PROPERTIES, tries: int = 200) -> Catalog:
    """Draw the object catalogue and split it into seen and held-out objects.

    Levels are balanced per property; the held-out objects are chosen so that, where their number allows, every
    level of every asked property occurs among them (so ``test`` can ask about every level).

    Args:
        num_materials: Objects in the catalogue.
        num_levels: K.
        heldout_fraction: Fraction of objects held out (at least one object on each side).
        seed: Run seed.
        properties: Properties that must be covered by the held-out objects.
        tries: Random splits tried before settling for the best-covered one.

    Returns:
        A :class:`Catalog`.
    """
    rng = np.random.default_rng([seed, STREAM_CATALOG])
    levels = balanced_levels(rng, num_materials, num_levels)
    materials: list[Material] = []
    for i in range(num_materials):
        mrng = np.random.default_rng([seed, STREAM_CATALOG, i])
        materials.append(sample_material(mrng, {p: levels[p][i] for p in PROPERTIES}, num_levels))
    n_test = min(num_materials - 1, max(1, int(round(heldout_fraction * num_materials))))
    srng = np.random.default_rng([seed, STREAM_SPLIT])
    best = None
    for _ in range(tries):
        perm = [int(x) for x in srng.permutation(num_materials)]
        test = sorted(perm[:n_test])
        if _covers(levels, test, num_levels, properties) and _covers(levels, sorted(perm[n_test:]), num_levels,
                                                                       properties):
            best = perm
            break
        best = best or perm
    test = sorted(best[:n_test])
    train = sorted(best[n_test:])
    return Catalog(materials=materials, ids=[f"m{i:03d}" for i in range(num_materials)], train=train, test=test)
