"""Materials: ordinal property levels and the continuous physical parameters drawn from them.

A :class:`Material` is one object instance. Its three ordinal levels (hardness, roughness, bumpiness,
each ``0..K-1``) are the labels; its continuous parameters are what the renderer uses:

* hardness  -> object stiffness ``k_obj`` (N/mm), log-spaced from foam (~1 N/mm) to metal (~80 N/mm,
  10-20x the gel stiffness, so the gel takes almost all of the compression);
* roughness -> micro-texture RMS amplitude (mm) and spatial frequency (cycles/mm);
* bumpiness -> macro-bump count and height (mm);

plus a shape primitive (``sphere``, ``flat``, ``cylinder``, ``edge``) with its size, and a
``surface_seed`` that fixes the exact texture waves and bump layout, so one material renders the same
surface through every sensor.

Within a level the parameters are jittered (by the rng) over the middle 60 % of the level's band, so
neighbouring levels never overlap and a level is always recoverable from its parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

PROPERTIES: tuple[str, ...] = ("hardness", "roughness", "bumpiness")
SHAPES: tuple[str, ...] = ("sphere", "flat", "cylinder", "edge")

# Continuous ranges spanned by the level axis (unit value u in [0, 1] maps onto them).
K_OBJ_RANGE = (1.0, 80.0)  # N/mm, log-spaced: foam .. metal; the middle (~9) is about the gels' 4-8 N/mm
ROUGH_AMP_RANGE = (0.003, 0.045)  # mm RMS micro-texture height
ROUGH_FREQ_RANGE = (0.35, 1.0)  # cycles/mm (periods 2.9 .. 1 mm): resolvable by the coarsest sensor
BUMP_AMP_RANGE = (0.02, 0.30)  # mm bump height
BUMP_COUNT_MAX = 8
# Shape size (mm): sphere/cylinder radius of curvature, flat-punch face radius, edge tip radius.
SHAPE_SIZE_RANGE = {"sphere": (4.0, 10.0), "flat": (2.5, 5.0), "cylinder": (3.0, 8.0), "edge": (0.4, 1.5)}
LEVEL_JITTER = 0.3  # +-fraction of one level step; keeps a gap of 0.4 steps between levels


@dataclass(frozen=True)
class Material:
    """One object: true ordinal levels plus the continuous parameters the renderer uses.

    Attributes:
        levels: ``{"hardness": int, "roughness": int, "bumpiness": int}``, each in ``0..num_levels-1``.
        num_levels: K, the number of ordinal levels of every property.
        k_obj: Object stiffness (N/mm); the gel and the object act as springs in series.
        rough_amp_mm: RMS height of the micro-texture (mm).
        rough_freq: Centre spatial frequency of the micro-texture (cycles/mm).
        bump_amp_mm: Height of the macro bumps (mm).
        bump_count: Number of macro bumps on the contact face.
        shape: Shape primitive, one of ``SHAPES``.
        size_mm: Shape size (mm): radius of a sphere/cylinder, face radius of a flat punch, tip radius of an edge.
        surface_seed: Seed of the texture waves and bump layout (the object's exact surface).
        units: Unit position of each property inside ``[0, 1]`` (level plus jitter, divided by K-1).
    """

    levels: dict
    num_levels: int
    k_obj: float
    rough_amp_mm: float
    rough_freq: float
    bump_amp_mm: float
    bump_count: int
    shape: str
    size_mm: float
    surface_seed: int
    units: dict = field(default_factory=dict)

    def __post_init__(self):
        if not 2 <= self.num_levels <= 10:
            raise ValueError(f"num_levels must be in 2..10, got {self.num_levels}")
        if set(self.levels) != set(PROPERTIES):
            raise ValueError(f"levels must have exactly the keys {PROPERTIES}, got {sorted(self.levels)}")
        for name, lvl in self.levels.items():
            if not (isinstance(lvl, (int, np.integer)) and 0 <= lvl < self.num_levels):
                raise ValueError(f"level {name}={lvl!r} is not an int in 0..{self.num_levels - 1}")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; known: {SHAPES}")
        if min(self.k_obj, self.size_mm, self.rough_freq) <= 0 or min(self.rough_amp_mm, self.bump_amp_mm) < 0:
            raise ValueError("k_obj, size_mm, rough_freq must be > 0 and amplitudes >= 0")
        if self.bump_count < 0:
            raise ValueError(f"bump_count must be >= 0, got {self.bump_count}")


def level_unit(rng: np.random.Generator, level: int, num_levels: int) -> float:
    """Unit position in [0, 1] of one level, jittered within its band.

    Args:
        rng: Random generator.
        level: Ordinal level in ``0..num_levels-1``.
        num_levels: K.

    Returns:
        ``(level + U(-0.3, 0.3)) / (K - 1)``, reflected at 0 and 1 so the end bands stay uniform.
    """
    u = (level + rng.uniform(-LEVEL_JITTER, LEVEL_JITTER)) / (num_levels - 1)
    if u < 0.0:
        u = -u
    elif u > 1.0:
        u = 2.0 - u
    return float(u)


def _lerp(lo_hi: tuple[float, float], u: float) -> float:
    return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * u


def sample_material(rng: np.random.Generator, levels: dict | None = None, num_levels: int = 3,
                    shape: str | None = None) -> Material:
    """Draw a material; given levels are kept, missing ones are drawn uniformly.

    The rng stream is consumed in a fixed order whatever the given levels, so two calls with equal seeds that
    differ only in one level yield the same shape, size and surface (only that property's parameters change).

    Args:
        rng: Random generator (``np.random.default_rng(seed)``).
        levels: Optional ``{property: level}``; properties left out are drawn.
        num_levels: K, levels per property (default 3; 3..5 are the tested settings).
        shape: Optional shape primitive; drawn from ``SHAPES`` if None.

    Returns:
        A :class:`Material`.

    Example:
        >>> import numpy as np
        >>> m = sample_material(np.random.default_rng(0), {"hardness": 2}, num_levels=3)
        >>> m.levels["hardness"], m.k_obj > 20
        (2, True)
    """
    levels = dict(levels or {})
    unknown = set(levels) - set(PROPERTIES)
    if unknown:
        raise ValueError(f"unknown properties {sorted(unknown)}; known: {PROPERTIES}")
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")
    drawn = {p: int(rng.integers(num_levels)) for p in PROPERTIES}  # always drawn: fixed stream order
    full = {p: int(levels.get(p, drawn[p])) for p in PROPERTIES}
    units = {p: level_unit(rng, full[p], num_levels) for p in PROPERTIES}
    shape_drawn = SHAPES[int(rng.integers(len(SHAPES)))]
    shape = shape or shape_drawn
    size = _lerp(SHAPE_SIZE_RANGE[shape], float(rng.uniform()))
    surface_seed = int(rng.integers(2**31 - 1))

    u_h, u_r, u_b = units["hardness"], units["roughness"], units["bumpiness"]
    log_k = _lerp((math.log(K_OBJ_RANGE[0]), math.log(K_OBJ_RANGE[1])), u_h)
    return Material(
        levels=full,
        num_levels=num_levels,
        k_obj=float(math.exp(log_k)),
        rough_amp_mm=_lerp(ROUGH_AMP_RANGE, u_r),
        rough_freq=_lerp(ROUGH_FREQ_RANGE, u_r),
        bump_amp_mm=_lerp(BUMP_AMP_RANGE, u_b),
        bump_count=int(round(BUMP_COUNT_MAX * u_b)),
        shape=shape,
        size_mm=size,
        surface_seed=surface_seed,
        units=units,
    )
