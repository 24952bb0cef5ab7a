"""Object surface geometry on a sensor's pixel grid: shape primitive + micro-texture + macro bumps.

Everything is evaluated analytically in millimetres, so the same object renders consistently through
sensors of different pitch. The texture is a sum of plane waves and the bumps are isotropic Gaussians;
both are separable in x and y, so each is one small complex/real matrix product instead of a per-wave
loop over pixels.
"""

from __future__ import annotations

import numpy as np

from envs.tactile.materials import BUMP_COUNT_MAX, Material

N_WAVES = 12
BUMP_SPREAD_MM = 4.5  # bumps sit within this radius of the object's contact centre
FLAT_FILLET_MM = 1.5  # edge rounding of the flat punch
EDGE_SLOPE = 0.6  # flank slope of the edge (wedge) primitive


def pixel_axes(image_size: tuple[int, int], mm_per_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in mm, origin at the image centre (x right, y down).

    Args:
        image_size: ``(H, W)``.
        mm_per_px: Pixel pitch.

    Returns:
        ``(x, y)`` float64 arrays of length W and H.
    """
    h, w = image_size
    return ((np.arange(w) - (w - 1) / 2) * mm_per_px, (np.arange(h) - (h - 1) / 2) * mm_per_px)


def _surface_layout(material: Material) -> tuple[np.ndarray, np.ndarray]:
    """Texture waves ``(N, 4)``: fx, fy (cycles/mm), phase, amplitude; bumps ``(M, 4)``: x, y, sigma, height."""
    rng = np.random.default_rng(material.surface_seed)
    f = material.rough_freq * np.exp(0.2 * rng.standard_normal(N_WAVES))
    theta = rng.uniform(0, np.pi, N_WAVES)
    phase = rng.uniform(0, 2 * np.pi, N_WAVES)
    weight = rng.uniform(0.5, 1.0, N_WAVES)
    amp = material.rough_amp_mm * np.sqrt(2.0) * weight / np.linalg.norm(weight)  # RMS of the sum = rough_amp_mm
    waves = np.stack([f * np.cos(theta), f * np.sin(theta), phase, amp], axis=1)
    r = BUMP_SPREAD_MM * np.sqrt(rng.uniform(0, 1, BUMP_COUNT_MAX))
    phi = rng.uniform(0, 2 * np.pi, BUMP_COUNT_MAX)
    sigma = rng.uniform(0.6, 1.1, BUMP_COUNT_MAX)
    height = material.bump_amp_mm * rng.uniform(0.7, 1.0, BUMP_COUNT_MAX)
    bumps = np.stack([r * np.cos(phi), r * np.sin(phi), sigma, height], axis=1)[: material.bump_count]
    return waves, bumps


def _shape_height(shape: str, size: float, dx: np.ndarray, dy: np.ndarray, angle: float) -> np.ndarray:
    """Gap (mm) between the shape primitive and the plane through its lowest point."""
    if shape == "sphere":
        return (dx**2 + dy**2) / (2.0 * size)
    if shape == "flat":
        r = np.sqrt(dx**2 + dy**2)
        return np.maximum(r - size, 0.0) ** 2 / (2.0 * FLAT_FILLET_MM)
    u = -np.sin(angle) * dx + np.cos(angle) * dy  # distance across the axis / ridge line
    if shape == "cylinder":
        return u**2 / (2.0 * size)
    if shape == "edge":
        return EDGE_SLOPE * (np.sqrt(u**2 + size**2) - size)
    raise ValueError(f"unknown shape {shape!r}")


def object_height(material: Material, position_mm: tuple[float, float], angle: float, x: np.ndarray,
                  y: np.ndarray, mtf_sigma_mm: float) -> np.ndarray:
    """Height of the object's rigid surface above its first-contact point, on the pixel grid.

    Args:
        material: The object.
        position_mm: Contact centre ``(x, y)`` in sensor mm.
        angle: In-plane rotation of the object (rad): axis of a cylinder/edge, texture and bump layout.
        x: Pixel x coordinates (mm), length W.
        y: Pixel y coordinates (mm), length H.
        mtf_sigma_mm: Gaussian low-pass of the gel/optics applied to each texture wave; waves above 0.9 of
            the pixel Nyquist frequency are dropped (they would alias).

    Returns:
        ``(H, W)`` float64 gap in mm, minimum 0 (the first point to touch the gel).
    """
    px, py = position_mm
    dx = x[None, :] - px
    dy = y[:, None] - py
    h = _shape_height(material.shape, material.size_mm, dx, dy, angle)
    waves, bumps = _surface_layout(material)
    c, s = np.cos(angle), np.sin(angle)
    if material.rough_amp_mm > 0:
        fx = c * waves[:, 0] - s * waves[:, 1]
        fy = s * waves[:, 0] + c * waves[:, 1]
        fmag = np.hypot(fx, fy)
        nyquist = 0.5 / max(x[1] - x[0], 1e-9) if len(x) > 1 else np.inf
        amp = waves[:, 3] * np.exp(-2.0 * (np.pi * mtf_sigma_mm * fmag) ** 2) * (fmag < 0.9 * nyquist)
        # cos(2pi(fx(x-px) + fy(y-py)) + phase) = Re[e^{i2pi fy y} * coef * e^{i2pi fx x}]
        coef = amp * np.exp(1j * (waves[:, 2] - 2 * np.pi * (fx * px + fy * py)))
        ey = np.exp(2j * np.pi * np.outer(y, fy)) * coef
        ex = np.exp(2j * np.pi * np.outer(fx, x))
        h = h + (ey @ ex).real
    if len(bumps):
        bx = px + c * bumps[:, 0] - s * bumps[:, 1]
        by = py + s * bumps[:, 0] + c * bumps[:, 1]
        gy = np.exp(-((y[:, None] - by) ** 2) / (2 * bumps[:, 2] ** 2)) * bumps[:, 3]
        gx = np.exp(-((x[None, :] - bx[:, None]) ** 2) / (2 * bumps[:, 2, None] ** 2))
        h = h - gy @ gx  # bumps protrude towards the gel: they close the gap
    return h - h.min()
