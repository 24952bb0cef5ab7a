"""Visual (camera) image of an object: appearance that usually agrees with touch, or deliberately conflicts.

Cues, each driven by the *apparent* level of a property (equal to the true level unless it conflicts):

* hardness  -> material category: foam and fabric (soft, saturated, matte), rubber, wood and plastic
  (middle), stone and metal (hard, grey, shiny metal);
* roughness -> fine grain: high-frequency albedo speckle and normal perturbation;
* bumpiness -> shaded macro bumps on the surface.

With ``conflict`` a property's apparent level is mirrored (``K-1-level``; the middle level of an odd K goes
to an end at random): a soft sponge that looks like stone, a smooth object with a printed rough texture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from envs.tactile.materials import PROPERTIES, Material


@dataclass(frozen=True)
class Appearance:
    """A visual material category: nominal hardness in [0, 1], base colour, surface pattern, shininess."""

    hardness: float
    rgb: tuple[float, float, float]
    pattern: str
    specular: float


APPEARANCES: dict[str, Appearance] = {
    "foam": Appearance(0.0, (228, 206, 112), "pores", 0.0),
    "fabric": Appearance(0.1, (98, 86, 178), "weave", 0.0),
    "rubber": Appearance(0.3, (206, 92, 112), "none", 0.1),
    "plastic": Appearance(0.55, (52, 138, 214), "none", 0.5),
    "wood": Appearance(0.6, (164, 108, 58), "grain", 0.1),
    "stone": Appearance(0.85, (134, 131, 124), "speckle", 0.05),
    "metal": Appearance(1.0, (176, 181, 191), "brushed", 0.9),
}
LIGHT_DIR = np.array([-0.45, -0.55, 0.70]) / np.linalg.norm([-0.45, -0.55, 0.70])


def categories_for_level(level: int, num_levels: int) -> list[str]:
    """Appearance categories whose nominal hardness falls in ``level`` (nearest level of ``hardness * (K-1)``)."""
    return [n for n, a in APPEARANCES.items() if int(round(a.hardness * (num_levels - 1))) == level]


def _apparent_levels(material: Material, conflicting: set[str], rng: np.random.Generator) -> dict[str, float]:
    """Apparent unit value in [0, 1] of each property; conflicting ones are mirrored."""
    k = material.num_levels
    out = {}
    for p in PROPERTIES:
        coin, jitter = rng.uniform(), rng.uniform(-0.15, 0.15)  # always drawn: fixed stream order
        if p not in conflicting:
            out[p] = material.units[p] if material.units else material.levels[p] / (k - 1)
            continue
        lvl = material.levels[p]
        app = k - 1 - lvl if k - 1 - lvl != lvl else (0 if coin < 0.5 else k - 1)
        out[p] = float(np.clip(app / (k - 1) + jitter / (k - 1), 0.0, 1.0))
    return out


def _shape_normals(shape: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator):
    """Object mask and surface normal/height of a primitive seen from above, coords in [-1, 1]."""
    angle = rng.uniform(0, np.pi)
    size = rng.uniform(0.55, 0.75)
    across = -np.sin(angle) * u + np.cos(angle) * v
    if shape == "sphere":
        r2 = (u**2 + v**2) / size**2
        mask = r2 < 1.0
        nz = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        return mask, u / size, v / size, nz
    if shape == "flat":
        d = np.maximum(np.abs(u), np.abs(v))
        mask = d < size
        bevel = np.clip((d - (size - 0.08)) / 0.08, 0.0, 1.0)
        gx = np.where(np.abs(u) >= np.abs(v), np.sign(u), 0.0) * bevel
        gy = np.where(np.abs(v) > np.abs(u), np.sign(v), 0.0) * bevel
        return mask, 0.7 * gx, 0.7 * gy, np.ones_like(u)
    half = 0.45 if shape == "cylinder" else 0.6
    mask = np.abs(across) < half
    if shape == "cylinder":
        t = np.clip(across / half, -1.0, 1.0)
        nz = np.sqrt(np.clip(1.0 - t**2, 0.0, 1.0))
        return mask, -np.sin(angle) * t, np.cos(angle) * t, nz
    s = np.sign(across) * 0.6  # edge: two flat flanks meeting at a ridge
    return mask, -np.sin(angle) * s, np.cos(angle) * s, np.ones_like(u)


def _pattern(name: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low-contrast category pattern (multiplicative albedo modulation around 1)."""
    noise = rng.standard_normal(u.shape)
    if name == "pores":
        return 1.0 - 0.15 * (gaussian_filter(noise, 1.2) > 0.35)
    if name == "weave":
        return 1.0 + 0.04 * np.sin(18 * u) * np.sin(18 * v)
    if name == "grain":
        return 1.0 + 0.10 * np.sin(25 * v + 3 * np.sin(4 * u) + 2 * gaussian_filter(noise, 3) * 6)
    if name == "speckle":
        return 1.0 + 0.08 * gaussian_filter(noise, 1.2) * 2
    if name == "brushed":
        return 1.0 + 0.04 * gaussian_filter(noise, (0.3, 6)) * 4
    return np.ones_like(u)


def render_visual(material: Material, rng: np.random.Generator, conflict: bool | str | tuple = False,
                  size: int = 64, return_info: bool = False):
    """Camera image of the object on a table, top view.

    Args:
        material: The object.
        rng: Random generator (category choice, pose, lighting, patterns).
        conflict: False (appearance agrees with touch), True (all properties conflict), or a property name or
            tuple of names whose visual cue should contradict the true level.
        size: Image side in pixels (default 64).
        return_info: Also return ``{"category": str, "apparent": {property: unit value}}``.

    Returns:
        ``(size, size, 3)`` uint8 image, or ``(image, info)`` with ``return_info``.

    Example:
        >>> import numpy as np
        >>> from envs.tactile import sample_material
        >>> rng = np.random.default_rng(0)
        >>> render_visual(sample_material(rng), rng).shape
        (64, 64, 3)
    """
    if conflict is True:
        conflicting = set(PROPERTIES)
    elif conflict is False or conflict is None:
        conflicting = set()
    else:
        conflicting = {conflict} if isinstance(conflict, str) else set(conflict)
    if conflicting - set(PROPERTIES):
        raise ValueError(f"unknown conflict properties {sorted(conflicting - set(PROPERTIES))}; known: {PROPERTIES}")
    apparent = _apparent_levels(material, conflicting, rng)
    k = material.num_levels
    cats = categories_for_level(int(round(apparent["hardness"] * (k - 1))), k)
    category = cats[int(rng.integers(len(cats)))]
    look = APPEARANCES[category]

    c = (np.arange(size) - (size - 1) / 2) / (size / 2)
    v, u = np.meshgrid(c, c, indexing="ij")
    mask, nx, ny, nz = _shape_normals(material.shape, u, v, rng)

    # Bumps and grain perturb the surface normal (height gradients) and, for grain, the albedo too.
    n_bumps = int(round(8 * apparent["bumpiness"]))
    bump_h = np.zeros_like(u)
    centres = rng.uniform(-0.6, 0.6, (8, 2))
    for bx, by in centres[:n_bumps]:  # at most 8 small vectorised terms
        bump_h += np.exp(-((u - bx) ** 2 + (v - by) ** 2) / (2 * 0.09**2))
    bump_h *= 0.03 + 0.25 * apparent["bumpiness"] ** 1.5
    grain = gaussian_filter(rng.standard_normal((size, size)), 0.6) * (0.005 + 0.35 * apparent["roughness"] ** 2)
    gy, gx = np.gradient(bump_h * size / 2 + grain * 6)
    nx, ny = nx - gx, ny - gy
    norm = np.sqrt(nx**2 + ny**2 + nz**2) + 1e-9
    n_dot_l = np.clip((nx * LIGHT_DIR[0] + ny * LIGHT_DIR[1] + nz * LIGHT_DIR[2]) / norm, 0.0, 1.0)
    half_vec = (LIGHT_DIR + np.array([0, 0, 1.0])) / np.linalg.norm(LIGHT_DIR + np.array([0, 0, 1.0]))
    n_dot_h = np.clip((nx * half_vec[0] + ny * half_vec[1] + nz * half_vec[2]) / norm, 0.0, 1.0)

    albedo = np.asarray(look.rgb, float) * rng.uniform(0.92, 1.08, 3)
    tex = _pattern(look.pattern, u, v, rng) * (1.0 + grain * 1.5)
    lit = albedo * (0.35 + 0.75 * n_dot_l)[..., None] * tex[..., None]
    lit += 255 * look.specular * (n_dot_h**40)[..., None]

    table = np.asarray([196, 190, 178], float) * rng.uniform(0.9, 1.1) * (1 - 0.12 * v)[..., None]
    shadow = gaussian_filter(mask.astype(float), 2.0, mode="constant")
    shadow = np.roll(shadow, (2, 2), axis=(0, 1))
    out = np.where(mask[..., None], lit, table * (1 - 0.35 * shadow)[..., None])
    out = out + 2.0 * rng.standard_normal(out.shape)
    img = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if return_info:
        return img, {"category": category, "apparent": apparent}
    return img
