"""Printed marker grids: rest layout, displacement with shear and indentation, and drawing.

Markers on the gel surface move with it. In the contact the gel sticks to the object, so markers follow
the object's tangential shear; around the imprint the gel is also pushed outwards, which moves markers
away from the centre in proportion to the local slope of the indentation.
"""

from __future__ import annotations

import math

import numpy as np

RADIAL_GAIN_MM = 0.6  # outward marker motion (mm) per unit slope of the indentation


def marker_rest_positions(grid: tuple[int, int], image_size: tuple[int, int]) -> np.ndarray:
    """Rest positions ``(M, 2)`` as (x, y) pixel coordinates of an evenly spaced grid with half-step margins."""
    rows, cols = grid
    h, w = image_size
    ys = (np.arange(rows) + 0.5) * h / rows - 0.5
    xs = (np.arange(cols) + 0.5) * w / cols - 0.5
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def displace_markers(rest: np.ndarray, deformation: np.ndarray, grad_x: np.ndarray, grad_y: np.ndarray,
                     shear_mm: tuple[float, float], mm_per_px: float) -> np.ndarray:
    """Marker positions after the press.

    Args:
        rest: ``(M, 2)`` rest positions (x, y) in pixels.
        deformation: ``(H, W)`` gel indentation (mm).
        grad_x, grad_y: Its slopes along x and y (mm/mm).
        shear_mm: Object's tangential displacement (mm).
        mm_per_px: Pixel pitch.

    Returns:
        ``(M, 2)`` displaced positions (x, y) in pixels.
    """
    h, w = deformation.shape
    ix = np.clip(np.rint(rest[:, 0]).astype(int), 0, w - 1)
    iy = np.clip(np.rint(rest[:, 1]).astype(int), 0, h - 1)
    peak = float(deformation.max())
    stick = np.clip(deformation[iy, ix] / (0.3 * peak), 0.0, 1.0) if peak > 0 else np.zeros(len(rest))
    ux = shear_mm[0] * stick - RADIAL_GAIN_MM * grad_x[iy, ix]
    uy = shear_mm[1] * stick - RADIAL_GAIN_MM * grad_y[iy, ix]
    return rest + np.stack([ux, uy], axis=1) / mm_per_px


def marker_coverage(positions: np.ndarray, radius_px: float, image_size: tuple[int, int]) -> np.ndarray:
    """Anti-aliased coverage ``(H, W)`` in [0, 1] of round markers at ``positions`` (x, y pixels).

    Each marker stamps a small patch; patches are accumulated with one ``bincount`` (no per-marker loop).
    """
    h, w = image_size
    half = int(math.ceil(radius_px)) + 1
    off = np.arange(-half, half + 1)
    oy, ox = np.meshgrid(off, off, indexing="ij")
    base_x = np.floor(positions[:, 0]).astype(int)
    base_y = np.floor(positions[:, 1]).astype(int)
    px = base_x[:, None] + ox.ravel()[None, :]
    py = base_y[:, None] + oy.ravel()[None, :]
    dist = np.hypot(px - positions[:, 0:1], py - positions[:, 1:2])
    val = np.clip(radius_px + 0.5 - dist, 0.0, 1.0)
    ok = (px >= 0) & (px < w) & (py >= 0) & (py < h) & (val > 0)
    cov = np.bincount((py * w + px)[ok], weights=val[ok], minlength=h * w)
    return np.minimum(cov, 1.0).reshape(h, w).astype(np.float32)
