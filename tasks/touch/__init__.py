"""The touch task: Touch-R1-style ordinal tactile reasoning on simulated (and real) optical tactile images.

``TouchTask`` is registered as ``touch`` through the ``embodied_r1.tasks`` entry point. Importing this package
imports only the task class and its config (no ``datasets``, simulator or plotting).

Modules:

* :mod:`tasks.touch.config`: ``TouchConfig`` (the ``touch:`` section of a run's YAML);
* :mod:`tasks.touch.objects`: fresh objects per contact (the default) and the rules that hold materials out (by level
  combination, the default, or by continuous parameters); :mod:`tasks.touch.catalog`: the older fixed catalogue (``touch.objects=catalog``);
* :mod:`tasks.touch.contacts`: one contact's draws (question, objects, press, sensors, randomised sensors) and
  renderings;
* :mod:`tasks.touch.questions`: question templates (level, compare, superlative, conflict, cross-sensor) and
  the gold ``<perceive>/<compare>/<conclude>/<answer>`` completions for SFT;
* :mod:`tasks.touch.data`: contacts -> rows -> ``DatasetDict`` (``train``, ``test``, ``test_heldout_sensor``);
* :mod:`tasks.touch.real_data`: Octopi/PhysiCLeAR, Octopi-1.5 and TVL SSVTP loaders into the same rows;
  :mod:`tasks.touch.octopi_labels`: Octopi's rank dicts (parsed from its ``utils/constants.py``) and
  Octopi-1.5's ``data.json`` ratings;
* :mod:`tasks.touch.real_labels`: their label and sample-list files: missing-label counts and the content
  fingerprint that keys the dataset cache;
* :mod:`tasks.touch.metrics`: the TouchSim bench (OMAE, exact match, CSC, conflict and held-out-sensor
  accuracy, counterfactual gap) and the random / majority baselines;
* :mod:`tasks.touch.report`: eval plots; :mod:`tasks.touch.figures`: docs/images/touch_example.png.

The TouchSim bench is ``embodied-r1 eval --model RUN`` on the ``test`` split: held-out objects seen through the
train sensors and, on the very same presses, through the held-out sensor (``split_tag`` tells them apart).
"""

from tasks.touch.config import TouchConfig
from tasks.touch.task import TouchTask

__all__ = ["TouchConfig", "TouchTask"]
