"""Press sequences for the ``encoder`` stage (Touch-R1 stage 1): one simulated press, force rising over the frames,
seen through several sensors.

The presses are the task's own contacts (:func:`tasks.touch.contacts.draw_contact`, with ``press_frames`` set to
the stage's frame count), so they follow the data settings exactly: fresh objects held out by the level rule (or
by their parameters, or the catalogue), train readings through procedurally randomised sensors, held-out sensors only on test contacts.
Changing the frame count changes no QA row (the rows are built with the task's own ``press_frames``).

* ``train``: every object of each train contact through its train sensors (named or randomised);
* ``heldout_objects``: the test contacts' objects through the train sensors;
* ``heldout_sensor``: the same presses through the held-out sensor(s) (when there are any).

Each sequence carries every property's level of its object (the property head and the linear probe read them);
the readings of one object of one contact by several sensors share a group (the contrastive positives).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from embodied_r1.task import EncoderData, EncoderSequence
from tasks.touch.config import TouchConfig


def touch_encoder_data(cfg: TouchConfig, seed: int, frames: int, events: int | None = None,
                       num_workers: int = 1) -> EncoderData:
    """Tactile press sequences of the task's contacts (see the module docstring).

    Args:
        cfg: Touch settings (objects, contacts per split, sensors, image size).
        seed: Run seed; the same seed gives the same frames.
        frames: Frames per press (force rising).
        events: Train contacts to render (None: ``cfg.train_contacts``). Contacts past the QA rows' are new
            presses of the train distribution (fresh objects of the train level combinations), so the stage can
            see many more presses than SFT has rows; the held-out sets stay the ``cfg.test_contacts``.
        num_workers: Processes that render (the sequences are the same for any number).

    Returns:
        An :class:`embodied_r1.task.EncoderData` with ``train`` and the held-out sets.
    """
    from tasks.touch.catalog import make_catalog
    from tasks.touch.data import render_contacts

    c = dataclasses.replace(cfg, press_frames=frames)
    catalog = (make_catalog(cfg.num_materials, cfg.num_levels, cfg.heldout_material_fraction, seed, cfg.properties)
               if cfg.objects == "catalog" else None)
    counts = {"train": cfg.train_contacts if events is None else int(events), "test": cfg.test_contacts}
    rendered = render_contacts(c, seed, counts, catalog, num_workers=num_workers, work=_sequence_chunk,
                               desc="encoder presses")
    sets: dict[str, list] = {"train": [], "heldout_objects": [], "heldout_sensor": []}
    for split in ("train", "test"):
        for key, seq in rendered[split]:
            sets[key].append(seq)
    held = {k: v for k, v in sets.items() if k != "train" and v}
    return EncoderData(train=sets["train"], eval=held, num_levels={p: cfg.num_levels for p in cfg.properties})


def _sequence_chunk(cfg: TouchConfig, seed: int, split: str, indices: range, catalog) -> list[tuple]:
    """``(set name, EncoderSequence)`` of every reading of contacts ``indices`` of a split (a worker's task)."""
    from tasks.touch.contacts import draw_contact

    out = []
    for i in indices:
        draw = draw_contact(cfg, seed, split, i, catalog)
        for sensor, tag in draw.row_sensors:
            key = "train" if split == "train" else ("heldout_sensor" if tag == "heldout_sensor" else "heldout_objects")
            for k, reading in enumerate(draw.readings[sensor]):
                out.append((key, EncoderSequence(
                    frames=[np.asarray(f.convert("RGB")) for f in reading.frames], group=f"{draw.contact_id}-{k}",
                    view=sensor, labels={p: int(reading.levels[p]) for p in cfg.properties})))
    return out
