"""Sensor profiles: resolution, LED layout and colours, gel stiffness, markers, noise, background.

Four profiles imitate real optical tactile sensors (numbers from REFERENCES, scaled down to a small
default rendering size; the field of view in mm is what stays fixed when ``image_size`` is overridden):

============  =========  ========  =========  ==========================================================
name          HxW (px)   mm/px     k_gel      look
============  =========  ========  =========  ==========================================================
gelsight_mini 60x80      0.24      5 N/mm      3 mixed-colour LEDs at 120 deg, lavender-grey background
digit         80x60      0.34      8 N/mm     3 pure R/G/B point lights at 30/150/270 deg, noise std 7
gelsight_r15  72x96      0.20      4 N/mm     4 coloured lights at 0/90/180/270 deg, finer mm/px
marker_gel    80x80      0.25      7 N/mm     2 white lights at 60/150 deg, grey gel, printed 11x11 black marker grid
tac3d         80x80      0.25      6 N/mm     Tac3D-like: dark gel, 2 unequal white lights, dense 20x20 bright markers
dm_tac        72x72      0.30      5 N/mm     DM-Tac-like: pale gel, 3 unequal warm-white lights, 14x14 black markers
============  =========  ========  =========  ==========================================================

``tac3d`` and ``dm_tac`` are "-like" profiles: a marker layout after the sensor family (Tac3D: a 20x20 marker
grid, per REFERENCES; DM-Tac X: a marker gel) with plausible optics, not calibrated numbers of those sensors.

A model trained on three of them faces a real shift on the others: different mm/px (so different
imprint sizes in pixels), gel stiffness (different depths), light colours and directions (different
shading code), background, noise and, for ``marker_gel``, markers.

:data:`SENSORS` is the one place a sensor is defined: its key is the name every other module uses (the
``sensor`` column of a touch row, the touch task's sensor lists), its ``display_name`` is what prompts,
figures and reports show, and every random stream of a sensor is keyed by :func:`stream_key` of its name,
never by its position in a list, so adding or reordering profiles leaves the others' images unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Light:
    """One LED: direction (azimuth in the image plane, elevation above the gel) and RGB colour (0..255)."""

    azimuth_deg: float
    elevation_deg: float
    color: tuple[float, float, float]

    @property
    def direction(self) -> np.ndarray:
        """Unit vector towards the light, image frame (x right, y down, z out of the gel)."""
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        # Azimuth counter-clockwise on screen, so y (pointing down) takes -sin.
        return np.array([math.cos(el) * math.cos(az), -math.cos(el) * math.sin(az), math.sin(el)])


def stream_key(name: str) -> int:
    """Stable 64-bit key of a sensor name, for seeding the sensor's random streams.

    A digest of the name rather than Python's ``hash()``, which is salted per process, and rather than the
    sensor's index in a list, which shifts when a sensor is inserted.

    Args:
        name: Sensor profile name.

    Returns:
        Non-negative integer below ``2**64``, the same on every machine and Python version.

    >>> stream_key("digit")
    6801004138980631663
    """
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class SensorProfile:
    """Everything that makes one optical tactile sensor look the way it does.

    Attributes:
        name: Profile name (the ``sensor`` column of a touch row); its :func:`stream_key` seeds the
            sensor's random streams.
        display_name: Human name shown in prompts, figures and reports (``DIGIT``, ``GelSight Mini``).
        image_size: Default rendering size ``(H, W)`` in pixels.
        mm_per_px: Pixel pitch at the default size (mm); the field of view is ``image_size * mm_per_px``.
        k_gel: Gel stiffness (N/mm): under force F the gel takes ``F / k_gel`` of the compression.
        gel_thickness_mm: Elastomer thickness; the gel's indentation saturates softly towards it.
        gel_spread_mm: Width of the Gaussian that spreads the gel deformation around the contact (Taxim).
        gel_mtf_mm: Low-pass of the gel and optics for fine texture (Gaussian sigma in mm).
        lights: LEDs used for Phong shading.
        kd, ks, alpha: Phong diffuse and specular weights and shininess.
        shading_gain: Scale of the shading change added to the background.
        background_rgb: Mean colour of the no-contact background.
        vignette: Relative darkening at the image corners.
        led_glow: Strength of each LED's coloured glow near its side of the frame.
        noise_std: Gaussian pixel noise (0..255 units).
        markers: Marker grid ``(rows, cols)`` or None.
        marker_radius_mm: Marker radius (mm).
        marker_rgb: Marker colour.
    """

    name: str
    display_name: str
    image_size: tuple[int, int]
    mm_per_px: float
    k_gel: float
    gel_thickness_mm: float
    gel_spread_mm: float
    gel_mtf_mm: float
    lights: tuple[Light, ...]
    kd: float = 1.0
    ks: float = 0.3
    alpha: float = 5.0
    shading_gain: float = 1.0
    background_rgb: tuple[float, float, float] = (150.0, 150.0, 150.0)
    vignette: float = 0.2
    led_glow: float = 0.15
    noise_std: float = 2.0
    markers: tuple[int, int] | None = None
    marker_radius_mm: float = 0.4
    marker_rgb: tuple[float, float, float] = (20.0, 20.0, 25.0)

    def __post_init__(self):
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise ValueError(f"image_size must be (H, W) with both >= 8, got {self.image_size}")
        if min(self.mm_per_px, self.k_gel, self.gel_thickness_mm, self.gel_spread_mm) <= 0:
            raise ValueError("mm_per_px, k_gel, gel_thickness_mm and gel_spread_mm must be > 0")
        if not self.lights:
            raise ValueError("a sensor needs at least one light")
        if not self.name or not self.display_name:
            raise ValueError("a sensor needs a name and a display_name")

    @property
    def stream_key(self) -> int:
        """:func:`stream_key` of the profile's name: the root of its random streams."""
        return stream_key(self.name)

    @property
    def fov_mm(self) -> tuple[float, float]:
        """Field of view ``(height, width)`` in mm."""
        return (self.image_size[0] * self.mm_per_px, self.image_size[1] * self.mm_per_px)

    def pitch_for(self, image_size: tuple[int, int] | None) -> tuple[tuple[int, int], float]:
        """Pixel size and pitch for a rendering size, keeping the field of view.

        Args:
            image_size: ``(H, W)`` override, or None for the profile's default.

        Returns:
            ``((H, W), mm_per_px)``.
        """
        if image_size is None:
            return tuple(self.image_size), self.mm_per_px
        h, w = int(image_size[0]), int(image_size[1])
        if min(h, w) < 8:
            raise ValueError(f"image_size must be >= 8 px per side, got {image_size}")
        fh, fw = self.fov_mm
        return (h, w), 0.5 * (fh / h + fw / w)


@functools.lru_cache(maxsize=64)
def sensor_background(sensor: SensorProfile, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """The sensor's no-contact image (float32, HxWx3, 0..255), read-only and cached per size.

    A tinted base colour, vignetting, a coloured glow from each LED near its side of the frame, and a fixed
    pattern of faint low-frequency blotches (seeded by the name's :func:`stream_key`, so each profile has its own
and a copied profile under a new name gets new ones) standing in for gel imperfections.

    Args:
        sensor: The profile.
        image_size: ``(H, W)`` override, or None.

    Returns:
        Float32 array ``(H, W, 3)``.
    """
    from scipy.ndimage import gaussian_filter

    (h, w), _ = sensor.pitch_for(image_size)
    y = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (max(h, w) / 2)
    x = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (max(h, w) / 2)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    r2 = xx**2 + yy**2
    base = np.asarray(sensor.background_rgb, np.float32) * (1.0 - sensor.vignette * r2 / r2.max())[..., None]
    for light in sensor.lights:
        d = light.direction
        # The LED sits beyond the frame edge in its azimuth direction; its glow decays into the frame.
        lx, ly = 1.3 * d[0] / max(math.hypot(d[0], d[1]), 1e-6), 1.3 * d[1] / max(math.hypot(d[0], d[1]), 1e-6)
        dist = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2)
        base += sensor.led_glow * np.exp(-dist / 0.6)[..., None] * np.asarray(light.color, np.float32)
    rng = np.random.default_rng([BACKGROUND_STREAM, sensor.stream_key])
    blotch = gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), sigma=max(h, w) / 10)
    blotch *= 6.0 / (blotch.std() + 1e-6)
    out = np.clip(base + blotch[..., None], 0, 255).astype(np.float32)
    out.setflags(write=False)
    return out


BACKGROUND_STREAM = 1  # first word of the background's seed, apart from the streams other modules key by name


def _rgb(r, g, b):
    return (float(r), float(g), float(b))


#: Every simulated sensor, by name (table order is only the order of listings; nothing is seeded by it).
#: Adding a profile here is all it takes to render through it and to use it in the touch task.
SENSORS: dict[str, SensorProfile] = {profile.name: profile for profile in (
    SensorProfile(
        name="gelsight_mini", display_name="GelSight Mini", image_size=(60, 80), mm_per_px=0.24, k_gel=5.0,
        gel_thickness_mm=2.5, gel_spread_mm=0.45, gel_mtf_mm=0.10,
        lights=(Light(90, 35, _rgb(230, 80, 80)), Light(210, 35, _rgb(70, 210, 100)),
                Light(330, 35, _rgb(80, 100, 235))),
        kd=1.0, ks=0.25, shading_gain=1.1, background_rgb=_rgb(168, 160, 180), vignette=0.25, led_glow=0.12,
        noise_std=3.0,
    ),
    SensorProfile(
        name="digit", display_name="DIGIT", image_size=(80, 60), mm_per_px=0.34, k_gel=8.0, gel_thickness_mm=2.0,
        gel_spread_mm=0.6, gel_mtf_mm=0.12,
        lights=(Light(30, 30, _rgb(255, 0, 0)), Light(150, 30, _rgb(0, 255, 0)), Light(270, 30, _rgb(0, 0, 255))),
        kd=1.0, ks=0.35, shading_gain=1.4, background_rgb=_rgb(120, 125, 130), vignette=0.35, led_glow=0.45,
        noise_std=7.0,
    ),
    SensorProfile(
        name="gelsight_r15", display_name="GelSight R1.5", image_size=(72, 96), mm_per_px=0.20, k_gel=4.0,
        gel_thickness_mm=3.0, gel_spread_mm=0.4, gel_mtf_mm=0.08,
        lights=(Light(0, 40, _rgb(220, 60, 60)), Light(90, 40, _rgb(60, 200, 80)),
                Light(180, 40, _rgb(70, 90, 230)), Light(270, 40, _rgb(230, 210, 120))),
        kd=0.9, ks=0.2, shading_gain=1.0, background_rgb=_rgb(140, 128, 118), vignette=0.3, led_glow=0.10,
        noise_std=2.0,
    ),
    SensorProfile(
        name="marker_gel", display_name="marker gel", image_size=(80, 80), mm_per_px=0.25, k_gel=7.0,
        gel_thickness_mm=2.0, gel_spread_mm=0.5, gel_mtf_mm=0.12,
        lights=(Light(60, 25, _rgb(235, 222, 196)), Light(150, 30, _rgb(170, 190, 225))),
        kd=1.0, ks=0.15, shading_gain=1.5, background_rgb=_rgb(150, 152, 146), vignette=0.25, led_glow=0.06,
        noise_std=4.0, markers=(11, 11), marker_radius_mm=0.45, marker_rgb=_rgb(18, 18, 22),
    ),
    SensorProfile(
        name="tac3d", display_name="Tac3D-like", image_size=(80, 80), mm_per_px=0.25, k_gel=6.0,
        gel_thickness_mm=2.5, gel_spread_mm=0.5, gel_mtf_mm=0.12,
        lights=(Light(60, 25, _rgb(225, 225, 230)), Light(200, 35, _rgb(120, 120, 130))),
        kd=1.0, ks=0.1, shading_gain=1.4, background_rgb=_rgb(58, 58, 64), vignette=0.3, led_glow=0.05,
        noise_std=3.0, markers=(20, 20), marker_radius_mm=0.25, marker_rgb=_rgb(235, 235, 235),
    ),
    SensorProfile(
        name="dm_tac", display_name="DM-Tac-like", image_size=(72, 72), mm_per_px=0.30, k_gel=5.0,
        gel_thickness_mm=3.0, gel_spread_mm=0.55, gel_mtf_mm=0.1,
        lights=(Light(10, 30, _rgb(250, 230, 205)), Light(130, 45, _rgb(190, 182, 172)),
                Light(250, 30, _rgb(140, 140, 152))),
        kd=0.95, ks=0.25, shading_gain=1.5, background_rgb=_rgb(182, 176, 165), vignette=0.2, led_glow=0.08,
        noise_std=2.5, markers=(14, 14), marker_radius_mm=0.35, marker_rgb=_rgb(25, 22, 20),
    ),
)}
