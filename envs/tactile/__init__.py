"""Procedural, physically motivated optical tactile simulator (GelSight / DIGIT / marker gels).

One sample is one contact rendered through one sensor::

    rng = np.random.default_rng(seed)
    mat = sample_material(rng, levels={"hardness": 2}, num_levels=3)   # missing levels are drawn
    contact = sample_contact(rng, mat)                                  # pose, force (N), shear
    tac = render_tactile(contact, SENSORS["digit"], rng)                # TactileRender: .image uint8 HxWx3, maps
    vis = render_visual(mat, rng, conflict=False)                       # 64x64x3 uint8 camera image
    frames = render_press_sequence(contact, SENSORS["digit"], rng, n_frames=5)
    blank = counterfactual_image(tac.image, "removed", background=tac.background)
    rand = render_tactile(contact, random_sensor_name(0, "train", 7, 1), rng)  # a procedurally drawn sensor

Physical model (details in :mod:`envs.tactile.contact`): gel and object are springs in series, so a force F
compresses the stack by ``delta = F/k_gel + F/k_obj``; the object's imprint (local compression
``max(0, delta - h)``) is shallower and narrower for a harder object. The gel takes the share
``k_obj/(k_gel+k_obj)`` of it, drapes around it (Taxim smoothing) and is shaded with multi-light Phong
onto the sensor's background. Same seed, same bytes.
"""

from envs.tactile.contact import Contact, compression_split, sample_contact
from envs.tactile.counterfactual import counterfactual_image
from envs.tactile.materials import PROPERTIES, SHAPES, Material, sample_material
from envs.tactile.random_sensors import RANDOM_RANGES, is_random_sensor, random_sensor, random_sensor_name
from envs.tactile.render import TactileRender, render_press_sequence, render_tactile, resolve_sensor
from envs.tactile.sensors import SENSORS, Light, SensorProfile, sensor_background, stream_key
from envs.tactile.visual import APPEARANCES, render_visual

__all__ = [
    "APPEARANCES",
    "PROPERTIES",
    "RANDOM_RANGES",
    "SENSORS",
    "SHAPES",
    "Contact",
    "Light",
    "Material",
    "SensorProfile",
    "TactileRender",
    "compression_split",
    "counterfactual_image",
    "is_random_sensor",
    "random_sensor",
    "random_sensor_name",
    "render_press_sequence",
    "render_tactile",
    "render_visual",
    "resolve_sensor",
    "sample_contact",
    "sample_material",
    "sensor_background",
    "stream_key",
]
