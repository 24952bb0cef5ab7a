"""Tactile rendering: contact -> gel deformation -> normals -> multi-light Phong shading -> sensor image.

Pipeline (Taxim-style geometry, Phong shading as in Gomes et al.):

1. object height map on the sensor's pixel grid (``geometry.object_height``);
2. compression ``c = max(0, delta - h)`` with ``delta = F/k_gel + F/k_obj`` (``contact.compression_split``);
3. gel indentation = gel share of ``c``, saturating at the gel thickness, spread beyond the contact by
   repeated Gaussian smoothing with the contact core re-imposed;
4. normals ``N = normalize(-dz/dx, -dz/dy, 1)`` of the gel surface ``z = -indentation``;
5. per light ``kd max(0, N.L) + ks max(0, R.V)^alpha`` with ``V = (0, 0, 1)``, times the light colour; the
   change from the flat gel's shading is added to the sensor's no-contact background;
6. markers (if the sensor has them) moved by shear and indentation, then pixel noise; uint8 out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from envs.tactile.contact import Contact, compression_split
from envs.tactile.geometry import object_height, pixel_axes
from envs.tactile.markers import displace_markers, marker_coverage, marker_rest_positions
from envs.tactile.random_sensors import is_random_sensor, random_sensor
from envs.tactile.sensors import SENSORS, SensorProfile, sensor_background

GEL_SMOOTH_ITERS = 3
BACKGROUND_GAIN_JITTER = 0.03  # per-sample LED brightness variation (relative std)


@dataclass(frozen=True, eq=False)
class TactileRender:
    """One contact seen through one sensor.

    Attributes:
        image: ``(H, W, 3)`` uint8 tactile image.
        deformation: ``(H, W)`` float32 gel indentation (mm, >= 0): what the camera sees.
        compression: ``(H, W)`` float32 local compression of the gel+object stack (mm, >= 0): the object's
            imprint, ``max(0, delta - h)``; its maximum is the total approach ``delta``.
        contact_mask: ``(H, W)`` bool, where the object touches the gel (``compression > 0``).
        depth_mm: Imprint depth, ``compression.max()`` (= F/k_gel + F/k_obj).
        gel_depth_mm: Peak gel indentation, ``deformation.max()``.
        contact_area_mm2: Footprint area of the contact.
        background: ``(H, W, 3)`` uint8 no-contact image of this sensor (noise-free).
        markers: ``(M, 2)`` float32 marker positions (x, y) in pixels after the press, or None.
        marker_rest: ``(M, 2)`` float32 marker rest positions, or None.
        mm_per_px: Pixel pitch of this rendering.
        sensor: Sensor profile name.
        force: Normal force (N).
    """

    image: np.ndarray
    deformation: np.ndarray
    compression: np.ndarray
    contact_mask: np.ndarray
    depth_mm: float
    gel_depth_mm: float
    contact_area_mm2: float
    background: np.ndarray
    markers: np.ndarray | None
    marker_rest: np.ndarray | None
    mm_per_px: float
    sensor: str
    force: float

    @property
    def height_map(self) -> np.ndarray:
        """Gel surface height (mm; 0 at rest, negative where pressed in): ``-deformation``."""
        return -self.deformation


def _gel_deformation(gel_core: np.ndarray, mask: np.ndarray, sigma_px: float) -> np.ndarray:
    """Taxim: smooth repeatedly, re-imposing the contact core each time, so the gel drapes around the imprint."""
    out = gel_core
    for _ in range(GEL_SMOOTH_ITERS):
        out = gaussian_filter(out, sigma=sigma_px, truncate=3.0, mode="nearest")
        out = np.where(mask, gel_core, out)
    return out


def _phong_delta(grad_x: np.ndarray, grad_y: np.ndarray, sensor: SensorProfile) -> np.ndarray:
    """Shading of the deformed gel minus the shading of the flat gel, ``(H, W, 3)``."""
    dirs = np.array([light.direction for light in sensor.lights], dtype=np.float32)  # (M, 3)
    colors = np.array([light.color for light in sensor.lights], dtype=np.float32)  # (M, 3)
    inv_norm = 1.0 / np.sqrt(grad_x**2 + grad_y**2 + 1.0)  # z = -def, so -dz/dx = ddef/dx
    n_dot_l = (grad_x[..., None] * dirs[:, 0] + grad_y[..., None] * dirs[:, 1] + dirs[:, 2]) * inv_norm[..., None]
    r_dot_v = 2.0 * n_dot_l * inv_norm[..., None] - dirs[:, 2]  # R = 2(N.L)N - L, V = (0, 0, 1)
    shade = sensor.kd * np.maximum(n_dot_l, 0.0) + sensor.ks * np.maximum(r_dot_v, 0.0) ** sensor.alpha
    flat = sensor.kd * np.maximum(dirs[:, 2], 0.0) + sensor.ks * np.maximum(dirs[:, 2], 0.0) ** sensor.alpha
    return (shade - flat) @ colors


def resolve_sensor(sensor: SensorProfile | str) -> SensorProfile:
    """A profile, its name in ``SENSORS``, or a procedural profile's name (``random_<hex>``, see
    :mod:`envs.tactile.random_sensors`); unknown names raise and list the known ones."""
    if isinstance(sensor, SensorProfile):
        return sensor
    if sensor in SENSORS:
        return SENSORS[sensor]
    if is_random_sensor(sensor):
        return random_sensor(sensor)
    raise KeyError(f"unknown sensor {sensor!r}; known: {sorted(SENSORS)} or random_<hex>")


def render_tactile(contact: Contact, sensor: SensorProfile | str, rng: np.random.Generator,
                   image_size: tuple[int, int] | None = None) -> TactileRender:
    """Render one contact through one sensor.

    Args:
        contact: The press (object, pose, force, shear).
        sensor: Sensor profile, e.g. ``SENSORS["digit"]``, or its name.
        rng: Random generator for the per-sample LED brightness jitter and pixel noise.
        image_size: ``(H, W)`` override; the field of view in mm is kept.

    Returns:
        A :class:`TactileRender` (image, deformation and compression maps, depth, area, markers).

    Example:
        >>> import numpy as np
        >>> from envs.tactile import SENSORS, sample_contact, sample_material
        >>> rng = np.random.default_rng(0)
        >>> tac = render_tactile(sample_contact(rng, sample_material(rng)), SENSORS["digit"], rng)
        >>> tac.image.shape, tac.image.dtype.name, tac.depth_mm > tac.gel_depth_mm > 0
        ((80, 60, 3), 'uint8', True)
    """
    sensor = resolve_sensor(sensor)
    (h, w), mmpp = sensor.pitch_for(image_size)
    x, y = pixel_axes((h, w), mmpp)
    mat = contact.material
    height = object_height(mat, contact.position_mm, contact.angle, x, y, sensor.gel_mtf_mm)
    delta, gel_share = compression_split(contact.force, sensor.k_gel, mat.k_obj)
    compression = np.maximum(delta - height, 0.0).astype(np.float32)
    mask = compression > 0
    t = sensor.gel_thickness_mm
    gel_core = (t * np.tanh(gel_share * compression / t)).astype(np.float32)
    deformation = _gel_deformation(gel_core, mask, sensor.gel_spread_mm / mmpp)
    grad_y, grad_x = np.gradient(deformation, mmpp)

    background = sensor_background(sensor, None if image_size is None else (h, w))
    gain = 1.0 + BACKGROUND_GAIN_JITTER * float(rng.standard_normal())
    img = background * gain + sensor.shading_gain * _phong_delta(grad_x, grad_y, sensor)

    markers = rest = None
    if sensor.markers is not None:
        rest = marker_rest_positions(sensor.markers, (h, w))
        markers = displace_markers(rest, deformation, grad_x, grad_y, contact.shear_mm, mmpp)
        cov = marker_coverage(markers, sensor.marker_radius_mm / mmpp, (h, w))[..., None]
        img = img * (1.0 - cov) + np.asarray(sensor.marker_rgb, np.float32) * cov
        markers, rest = markers.astype(np.float32), rest.astype(np.float32)
    img = img + sensor.noise_std * rng.standard_normal((h, w, 3), dtype=np.float32)
    return TactileRender(
        image=np.clip(img + 0.5, 0, 255).astype(np.uint8),
        deformation=deformation.astype(np.float32),
        compression=compression,
        contact_mask=mask,
        depth_mm=float(compression.max()),
        gel_depth_mm=float(deformation.max()),
        contact_area_mm2=float(mask.sum()) * mmpp * mmpp,
        background=np.clip(background + 0.5, 0, 255).astype(np.uint8),
        markers=markers,
        marker_rest=rest,
        mm_per_px=float(mmpp),
        sensor=sensor.name,
        force=float(contact.force),
    )


def render_press_sequence(contact: Contact, sensor: SensorProfile | str, rng: np.random.Generator, n_frames: int = 1,
                          image_size: tuple[int, int] | None = None,
                          return_renders: bool = False) -> list:
    """Render a press as the force rises linearly to ``contact.force`` (shear grows with it).

    Args:
        contact: The final press.
        sensor: Sensor profile or its name.
        rng: Random generator (noise of every frame).
        n_frames: Number of frames; frame i has force ``F * (i + 1) / n_frames`` (default 1: just the press).
        image_size: ``(H, W)`` override.
        return_renders: Return the :class:`TactileRender` of each frame instead of its image.

    Returns:
        List of ``n_frames`` uint8 images (or renders), in order of rising force.

    Example:
        >>> import numpy as np
        >>> from envs.tactile import SENSORS, sample_contact, sample_material
        >>> rng = np.random.default_rng(0)
        >>> c = sample_contact(rng, sample_material(rng))
        >>> len(render_press_sequence(c, SENSORS["gelsight_mini"], rng, n_frames=3))
        3
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    out = []
    for i in range(n_frames):
        frac = (i + 1) / n_frames
        frame = dataclasses.replace(contact, force=contact.force * frac,
                                    shear_mm=(contact.shear_mm[0] * frac, contact.shear_mm[1] * frac))
        r = render_tactile(frame, sensor, rng, image_size=image_size)
        out.append(r if return_renders else r.image)
    return out
