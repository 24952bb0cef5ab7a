"""Counterfactual tactile inputs: the image removed, swapped for another contact's, or masked by noise.

These are the env-side versions of the core's ``remove`` / ``swap`` / ``noise`` variants, for building
offline probes and for tests; they only transform numpy images.
"""

from __future__ import annotations

import numpy as np

MODES = {"removed": "removed", "remove": "removed", "shuffled": "shuffled", "swap": "shuffled",
         "noise_masked": "noise_masked", "noise": "noise_masked"}


def counterfactual_image(image: np.ndarray, mode: str, rng: np.random.Generator | None = None, *,
                         other: np.ndarray | None = None, background: np.ndarray | None = None):
    """Counterfactual version of a tactile (or any uint8 RGB) image.

    Args:
        image: ``(H, W, 3)`` uint8 image.
        mode: ``removed`` (alias ``remove``): the sensor's blank no-contact ``background`` if given, else None;
            ``shuffled`` (alias ``swap``): ``other`` (an image from another contact), resized to ``image``'s
            shape if needed; ``noise_masked`` (alias ``noise``): Gaussian noise with ``image``'s per-channel
            mean and std (needs ``rng``).
        rng: Random generator for ``noise_masked``.
        other: The other contact's image for ``shuffled``.
        background: The blank image for ``removed`` (e.g. ``TactileRender.background``).

    Returns:
        A new uint8 array of ``image``'s shape, or None for ``removed`` without a background.

    Example:
        >>> import numpy as np
        >>> img = np.full((4, 4, 3), 100, np.uint8)
        >>> counterfactual_image(img, "removed") is None
        True
        >>> int(counterfactual_image(img, "noise", np.random.default_rng(0)).mean())
        100
    """
    if mode not in MODES:
        raise ValueError(f"unknown counterfactual mode {mode!r}; known: {sorted(MODES)}")
    image = np.asarray(image)
    mode = MODES[mode]
    if mode == "removed":
        return None if background is None else np.array(background, dtype=np.uint8, copy=True)
    if mode == "shuffled":
        if other is None:
            raise ValueError("mode 'shuffled' needs other=<image of another contact>")
        other = np.asarray(other, dtype=np.uint8)
        if other.shape != image.shape:
            from PIL import Image

            other = np.asarray(Image.fromarray(other).resize((image.shape[1], image.shape[0]), Image.BILINEAR))
        return other.copy()
    if rng is None:
        raise ValueError("mode 'noise_masked' needs rng")
    a = image.astype(np.float32)
    axes = tuple(range(a.ndim - 1)) if a.ndim == 3 else None
    mean, std = a.mean(axis=axes), a.std(axis=axes)
    noise = mean + std * rng.standard_normal(a.shape, dtype=np.float32)
    return np.clip(noise + 0.5, 0, 255).astype(np.uint8)
