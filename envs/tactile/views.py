"""What the model sees of a tactile reading: the raw sensor image, or it normalised as tactile pipelines do.

Optical tactile sensors differ mostly in what carries no contact information: background colour, LED colours and
brightness, vignetting, gain. Real GelSight pipelines therefore subtract the no-contact reference frame before
reading the imprint, and a sensor's gain and colour balance drop out when each channel is standardised. Three
views:

* ``raw``: the rendered sensor image, unchanged;
* ``standardized``: each colour channel of the image standardised over its pixels (mean 0, std 1), shown as
  ``128 + 40 z`` in uint8;
* ``difference``: the same standardisation applied to ``image - background`` (the sensor's no-contact frame), so
  the background, vignetting and LED glow drop out before the gain does.

All three keep the image's shape and dtype (uint8 HxWx3), so everything downstream (processor, counterfactual
variants, plots) is unchanged.
"""

from __future__ import annotations

import numpy as np

VIEWS = ("raw", "standardized", "difference")
#: Grey level of zero and pixels per standard deviation of the normalised views.
CENTRE, SCALE = 128.0, 40.0
#: Added to each channel's std (in uint8 levels), so that a nearly flat image (a feather-light press seen as a
#: difference image) is not blown up into amplified sensor noise.
STD_FLOOR = 2.0


def tactile_view(image: np.ndarray, background: np.ndarray | None, view: str) -> np.ndarray:
    """The ``view`` of one tactile image (see the module docstring).

    Args:
        image: ``(H, W, 3)`` uint8 sensor image.
        background: ``(H, W, 3)`` no-contact frame of the same sensor (``TactileRender.background``); needed
            for ``difference`` only.
        view: One of :data:`VIEWS`.

    Returns:
        A ``(H, W, 3)`` uint8 image.

    Raises:
        ValueError: Unknown view, or ``difference`` without a background of the image's shape.

    >>> img = np.full((4, 4, 3), 90, np.uint8); img[1, 1] = 200
    >>> out = tactile_view(img, None, "standardized")
    >>> int(out[0, 0, 0]) < 128 < int(out[1, 1, 0]), out.dtype.name
    (True, 'uint8')
    >>> flat = tactile_view(np.full((4, 4, 3), 90, np.uint8), np.full((4, 4, 3), 90, np.uint8), "difference")
    >>> int(flat.min()), int(flat.max())
    (128, 128)
    """
    if view == "raw":
        return image
    x = np.asarray(image, dtype=np.float32)
    if view == "difference":
        if background is None or np.shape(background) != x.shape:
            raise ValueError("tactile view 'difference' needs the sensor's no-contact background of the image's shape")
        x = x - np.asarray(background, dtype=np.float32)
    elif view != "standardized":
        raise ValueError(f"unknown tactile view '{view}' (one of {', '.join(VIEWS)})")
    mean = x.mean(axis=(0, 1), keepdims=True)
    std = x.std(axis=(0, 1), keepdims=True)
    z = (x - mean) / (std + STD_FLOOR)
    return np.clip(np.rint(CENTRE + SCALE * z), 0, 255).astype(np.uint8)
