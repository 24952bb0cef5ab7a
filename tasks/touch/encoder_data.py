"""Press sequences for the ``encoder`` stage (Touch-R1 stage 1): one simulated press, force rising over the frames,
seen through several sensors.

Events are drawn from the same object catalogue as the QA rows (:mod:`tasks.touch.catalog`) but from random
streams of their own (split codes 11 and 12), so asking for encoder data changes no QA row:

* ``train``: ``train_contacts`` presses of seen objects, each through ``sensors_per_contact`` train sensors;
* ``heldout_objects``: ``test_contacts`` presses of held-out objects through the train sensors;
* ``heldout_sensor``: the very same presses through ``heldout_sensor`` (when there is one).

Each sequence carries every property's level of its object (the property head and the linear probe read them).
"""

from __future__ import annotations

import numpy as np

from embodied_r1.task import EncoderData, EncoderSequence
from tasks.touch.catalog import Catalog, make_catalog
from tasks.touch.config import TouchConfig

#: Split codes of the encoder's random streams, apart from the QA rows' (tasks.touch.data.SPLIT_CODES).
ENCODER_SPLIT_CODES = {"train": 11, "test": 12}


def touch_encoder_data(cfg: TouchConfig, seed: int, frames: int) -> EncoderData:
    """Tactile press sequences of the simulated catalogue (see the module docstring).

    Args:
        cfg: Touch settings (catalogue, contacts per split, sensors, image size).
        seed: Run seed; the same seed gives the same frames.
        frames: Frames per press (force ``F * (i + 1) / frames``).

    Returns:
        An :class:`embodied_r1.task.EncoderData` with ``train`` and the held-out sets.

    Example:
        >>> from tasks.touch.config import TouchConfig
        >>> d = touch_encoder_data(TouchConfig(num_materials=8, train_contacts=2, test_contacts=1), 0, 2)
        >>> len(d.train), sorted(d.eval), len(d.train[0].frames), d.num_levels["hardness"]
        (4, ['heldout_objects', 'heldout_sensor'], 2, 3)
    """
    catalog = make_catalog(cfg.num_materials, cfg.num_levels, cfg.heldout_material_fraction, seed, cfg.properties)
    train = [s for i in range(cfg.train_contacts) for s in _press(cfg, seed, "train", i, catalog, frames, None)]
    held_objects, held_sensor = [], []
    for i in range(cfg.test_contacts):
        held_objects += _press(cfg, seed, "test", i, catalog, frames, None)
        if cfg.heldout_sensor:
            held_sensor += _press(cfg, seed, "test", i, catalog, frames, cfg.heldout_sensor)
    held = {"heldout_objects": held_objects}
    if held_sensor:
        held["heldout_sensor"] = held_sensor
    return EncoderData(train=train, eval=held, num_levels={p: cfg.num_levels for p in cfg.properties})


def _press(cfg: TouchConfig, seed: int, split: str, i: int, catalog: Catalog, frames: int,
           sensor: str | None) -> list[EncoderSequence]:
    """Press ``i`` of a split through its ranked train sensors, or through ``sensor`` alone."""
    from envs.tactile import SENSORS, render_press_sequence, sample_contact
    from tasks.touch.data import SENSOR_STREAM, _image_size, rank_sensors

    code = ENCODER_SPLIT_CODES[split]
    rng = np.random.default_rng([seed, code, i])
    pool = catalog.pool(split)
    obj = pool[int(rng.integers(len(pool)))]
    material = catalog.materials[obj]
    contact = sample_contact(rng, material)
    sensors = [sensor] if sensor else rank_sensors(cfg.train_sensors, seed, code, i)[:cfg.sensors_per_contact]
    labels = {p: int(material.levels[p]) for p in cfg.properties}
    out = []
    for s in sensors:
        srng = np.random.default_rng([seed, code, i, SENSOR_STREAM, SENSORS[s].stream_key])
        seq = render_press_sequence(contact, SENSORS[s], srng, n_frames=frames, image_size=_image_size(cfg, s))
        out.append(EncoderSequence(frames=seq, group=f"{split}-{i:05d}", view=s, labels=labels))
    return out
