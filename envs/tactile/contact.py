"""One press of an object on a sensor, and the contact mechanics that turn force into indentation.

Physical model (springs in series, Hertz-style split of the compression):

1. Under a normal force F the gel and the object act as springs in series; the total compression
   (approach of the object towards the gel) is ``delta = F / k_gel + F / k_obj``.
2. The local compression at each point is the interference of the rigid profiles,
   ``c(x, y) = max(0, delta - h(x, y))`` with ``h`` the object's gap to the gel plane. ``c`` is the object's
   imprint in the gel+object stack: its depth is ``delta`` and its footprint is where ``c > 0`` (for a sphere
   of radius R, contact radius ``sqrt(2 R delta)``). A harder object has a smaller ``delta``: under the same
   force its imprint is shallower AND narrower; a soft object sinks in and wraps around the gel, spreading
   the load over a wider footprint.
3. Each body takes a share of the local compression in proportion to its compliance (as in Hertz contact,
   where the surface displacements of the two bodies scale with 1/E). The gel's share is
   ``k_obj / (k_gel + k_obj)``, so its displacement in the contact is ``gel_share * c``: its peak is
   ``F / k_gel`` whatever the object, while a soft object spreads it wider with weaker gradients (the cue
   REFERENCES names: "a softer object gives a shallower, wider imprint with weaker gradients" refers to
   this gel share, which for a soft object is shallower everywhere except the very centre).
4. The camera sees only the gel. Its deformation is spread beyond the contact by repeated Gaussian
   smoothing with the contact core re-imposed (Taxim), and saturates softly at the gel thickness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.tactile.materials import Material

FORCE_RANGE = (1.0, 4.0)  # N
MAX_OFFSET_MM = 2.0
MAX_SHEAR_MM = 0.5


@dataclass(frozen=True)
class Contact:
    """One press: which object, where, how hard, with how much tangential shear.

    Attributes:
        material: The object pressed.
        force: Normal force (N).
        position_mm: Contact centre ``(x, y)`` relative to the sensor centre (mm; x right, y down).
        angle: In-plane rotation of the object (rad).
        shear_mm: Tangential displacement ``(x, y)`` of the object's surface relative to the gel (mm);
            it drags the gel surface (and any markers) in the contact.
    """

    material: Material
    force: float
    position_mm: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0
    shear_mm: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        if not (self.force > 0 and math.isfinite(self.force)):
            raise ValueError(f"force must be a positive finite number of newtons, got {self.force}")


def sample_contact(rng: np.random.Generator, material: Material, force: float | None = None,
                   force_range: tuple[float, float] = FORCE_RANGE) -> Contact:
    """Draw a press of ``material``: position, rotation, force and a small random shear.

    The rng stream is consumed in the same order whether or not ``force`` is given, so equal seeds give the
    same pose for different materials or forces.

    Args:
        rng: Random generator.
        material: The object.
        force: Normal force (N); drawn uniformly from ``force_range`` if None.
        force_range: ``(low, high)`` in N for a drawn force.

    Returns:
        A :class:`Contact`.

    Example:
        >>> import numpy as np
        >>> from envs.tactile.materials import sample_material
        >>> rng = np.random.default_rng(0)
        >>> sample_contact(rng, sample_material(rng), force=3.0).force
        3.0
    """
    drawn_force = float(rng.uniform(*force_range))
    offset = rng.uniform(-MAX_OFFSET_MM, MAX_OFFSET_MM, 2)
    angle = float(rng.uniform(0, np.pi))
    shear_dir = float(rng.uniform(0, 2 * np.pi))
    shear_mag = MAX_SHEAR_MM * float(rng.uniform()) ** 2  # mostly small, occasionally a clear drag
    return Contact(
        material=material,
        force=drawn_force if force is None else float(force),
        position_mm=(float(offset[0]), float(offset[1])),
        angle=angle,
        shear_mm=(shear_mag * math.cos(shear_dir), shear_mag * math.sin(shear_dir)),
    )


def compression_split(force: float, k_gel: float, k_obj: float) -> tuple[float, float]:
    """Total approach and the gel's share of it, for springs in series.

    Args:
        force: Normal force (N).
        k_gel: Gel stiffness (N/mm).
        k_obj: Object stiffness (N/mm).

    Returns:
        ``(delta_mm, gel_share)`` with ``delta = F/k_gel + F/k_obj`` and ``gel_share = k_obj / (k_gel + k_obj)``.

    Example:
        >>> compression_split(2.0, k_gel=4.0, k_obj=4.0)
        (1.0, 0.5)
    """
    return force / k_gel + force / k_obj, k_obj / (k_gel + k_obj)
