"""Procedurally varied sensor profiles: sensor randomisation for training, so an unseen sensor is one more draw.

A named profile in :data:`envs.tactile.SENSORS` is one fixed optical tactile sensor. :func:`random_sensor` makes
a :class:`~envs.tactile.sensors.SensorProfile` of the same physics (springs in series, Taxim gel, Phong shading,
optional printed markers) with every optical and mechanical setting drawn from :data:`RANDOM_RANGES`:

* lights: count (1-5), colours (saturated to near-white), azimuths (evenly spread with jitter) and elevations;
* gel: stiffness ``k_gel``, thickness, drape width, blur;
* resolution (pixels per side) and crop (field of view in mm, hence mm/px);
* markers: present or not, grid density, radius, dark or bright ink;
* background colour, vignetting, LED glow, pixel noise, Phong weights and shading gain.

The ranges are physical ones chosen to span the families of real optical sensors (GelSight-style LED-lit gels,
DIGIT, marker gels), not read off the held-out profiles; they do contain the named profiles' values.

A random profile is a pure function of its name: :func:`random_sensor` seeds its draws with the name's
:func:`~envs.tactile.sensors.stream_key`, so the name written in a row's ``sensor`` column is enough to render
through the very same sensor again (:func:`envs.tactile.render.resolve_sensor` accepts it like a table name).
Names are :data:`RANDOM_PREFIX` plus a hex tag, e.g. ``random_3fa2c1d09b7e``; :func:`random_sensor_name` makes
the tag from any keys (seed, split, contact, slot).
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import math

import numpy as np

from envs.tactile.sensors import Light, SensorProfile, stream_key

RANDOM_PREFIX = "random_"
RANDOM_DISPLAY_NAME = "randomised optical"
RANDOM_STREAM = 7  # first word of a random profile's seed, apart from the background and per-sample streams

#: Ranges of the procedural sensor family: ``(low, high)``, drawn uniformly (``k_gel`` log-uniformly).
RANDOM_RANGES = {
    "longest_side_px": (56, 100),
    "aspect_hw": (0.7, 1.4),  # H / W
    "fov_longest_mm": (15.0, 28.0),
    "k_gel": (3.0, 10.0),  # N/mm, drawn log-uniformly
    "gel_thickness_mm": (1.5, 3.5),
    "gel_spread_mm": (0.35, 0.7),
    "gel_mtf_mm": (0.06, 0.14),
    "light_count": (1, 5),
    "light_elevation_deg": (20.0, 50.0),
    "light_azimuth_jitter_deg": (-25.0, 25.0),
    "light_saturation": (0.0, 1.0),
    "light_value": (170.0, 255.0),
    "kd": (0.8, 1.1),
    "ks": (0.1, 0.4),
    "alpha": (3.0, 8.0),
    "shading_gain": (0.8, 1.6),
    "background_level": (70.0, 185.0),
    "background_tint": (-25.0, 25.0),
    "vignette": (0.1, 0.4),
    "led_glow": (0.03, 0.45),
    "noise_std": (1.0, 8.0),
    "marker_spacing_mm": (0.9, 2.2),
    "marker_radius_frac": (0.18, 0.32),  # of the marker spacing
}
MARKER_PROBABILITY = 0.5  # share of profiles with a printed marker grid
BRIGHT_MARKER_PROBABILITY = 0.3  # share of marker grids printed in bright ink on a darker gel (Tac3D-style)


def is_random_sensor(name: str) -> bool:
    """Whether ``name`` names a procedural profile (``random_<hex>``) rather than a table entry.

    >>> is_random_sensor("random_00ff"), is_random_sensor("digit"), is_random_sensor("random_xyz")
    (True, False, False)
    """
    tag = name[len(RANDOM_PREFIX):] if name.startswith(RANDOM_PREFIX) else ""
    return bool(tag) and all(c in "0123456789abcdef" for c in tag)


def random_sensor_name(*keys) -> str:
    """A random profile's name from keys (ints or strings), through a stable digest (never Python's ``hash()``).

    >>> random_sensor_name(0, "train", 12, 1)
    'random_ca899c191f15'
    """
    text = "/".join(str(k) for k in keys)
    return RANDOM_PREFIX + hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def _uniform(rng: np.random.Generator, key: str) -> float:
    lo, hi = RANDOM_RANGES[key]
    return float(rng.uniform(lo, hi))


def _log_uniform(rng: np.random.Generator, key: str) -> float:
    lo, hi = RANDOM_RANGES[key]
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _lights(rng: np.random.Generator) -> tuple[Light, ...]:
    """1-5 LEDs spread evenly around the gel (random rotation and jitter), colours from saturated to white."""
    lo, hi = RANDOM_RANGES["light_count"]
    n = int(rng.integers(lo, hi + 1))
    start, hue0 = float(rng.uniform(0, 360)), float(rng.uniform())
    lights = []
    for k in range(n):
        az = start + 360.0 * k / n + _uniform(rng, "light_azimuth_jitter_deg")
        hue = (hue0 + k / n + 0.1 * rng.standard_normal()) % 1.0  # spread hues, like RGB LED rings
        rgb = colorsys.hsv_to_rgb(hue, _uniform(rng, "light_saturation"), 1.0)
        value = _uniform(rng, "light_value")
        lights.append(Light(az % 360.0, _uniform(rng, "light_elevation_deg"), tuple(float(value * c) for c in rgb)))
    return tuple(lights)


def _geometry(rng: np.random.Generator) -> tuple[tuple[int, int], float]:
    """Pixel size ``(H, W)`` and mm/px: resolution and crop (field of view) drawn apart."""
    side = int(rng.integers(RANDOM_RANGES["longest_side_px"][0], RANDOM_RANGES["longest_side_px"][1] + 1))
    aspect = _uniform(rng, "aspect_hw")
    h, w = (side, max(8, round(side / aspect))) if aspect >= 1 else (max(8, round(side * aspect)), side)
    return (int(h), int(w)), _uniform(rng, "fov_longest_mm") / max(h, w)


def _markers(rng: np.random.Generator, size: tuple[int, int], mm_per_px: float) -> dict:
    """Marker settings: none, or a grid at a drawn spacing with a drawn radius and dark or bright ink.

    Every value is drawn whether or not the grid is present, so the stream stays in step either way."""
    present = rng.uniform() < MARKER_PROBABILITY
    spacing = _uniform(rng, "marker_spacing_mm")
    radius = spacing * _uniform(rng, "marker_radius_frac")
    bright = rng.uniform() < BRIGHT_MARKER_PROBABILITY
    ink = float(rng.uniform(215, 245)) if bright else float(rng.uniform(10, 45))
    if not present:
        return {}
    fov = (size[0] * mm_per_px, size[1] * mm_per_px)
    grid = (max(3, round(fov[0] / spacing)), max(3, round(fov[1] / spacing)))
    return {"markers": grid, "marker_radius_mm": radius, "marker_rgb": (ink, ink, ink + (5.0 if not bright else 0.0))}


@functools.lru_cache(maxsize=256)
def random_sensor(name: str) -> SensorProfile:
    """The procedural profile named ``name`` (drawn from :data:`RANDOM_RANGES`, seeded by the name).

    Args:
        name: A name for which :func:`is_random_sensor` holds (see :func:`random_sensor_name`).

    Returns:
        A :class:`~envs.tactile.sensors.SensorProfile`; the same one for the same name, on every machine.

    Raises:
        ValueError: ``name`` is not a random profile's name.

    Example:
        >>> a = random_sensor(random_sensor_name(1, 2))
        >>> a == random_sensor(random_sensor_name(1, 2)), a.display_name
        (True, 'randomised optical')
    """
    if not is_random_sensor(name):
        raise ValueError(f"{name!r} is not a random sensor name ({RANDOM_PREFIX}<hex>)")
    rng = np.random.default_rng([RANDOM_STREAM, stream_key(name)])
    size, mmpp = _geometry(rng)
    lights = _lights(rng)
    level = _uniform(rng, "background_level")
    background = tuple(float(np.clip(level + _uniform(rng, "background_tint"), 30, 230)) for _ in range(3))
    return SensorProfile(
        name=name, display_name=RANDOM_DISPLAY_NAME, image_size=size, mm_per_px=mmpp,
        k_gel=_log_uniform(rng, "k_gel"),
        gel_thickness_mm=_uniform(rng, "gel_thickness_mm"), gel_spread_mm=_uniform(rng, "gel_spread_mm"),
        gel_mtf_mm=_uniform(rng, "gel_mtf_mm"), lights=lights, kd=_uniform(rng, "kd"), ks=_uniform(rng, "ks"),
        alpha=_uniform(rng, "alpha"), shading_gain=_uniform(rng, "shading_gain"), background_rgb=background,
        vignette=_uniform(rng, "vignette"), led_glow=_uniform(rng, "led_glow"), noise_std=_uniform(rng, "noise_std"),
        **_markers(rng, size, mmpp),
    )
