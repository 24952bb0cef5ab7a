"""Settings of the touch task: the data part (simulated data, its splits and question mix, real data) and the
rewards part (:data:`REWARD_TABLE`: each reward's weight and parameters).

Everything here is plain data validated in ``__post_init__`` (no I/O). It nests under ``touch:`` in a run's
YAML; only the data part keys the dataset cache, so changing a reward reuses the rendered rows::

    touch:
      num_levels: 3                  # data
      train_contacts: 300
      question_mix: {level: 0.3, compare: 0.2, superlative: 0.15, conflict: 0.15, cross_sensor: 0.2}
      rewards:                       # rewards: a number is the weight, a mapping the weight and parameters
        ordinal_accuracy_reward: 1.0
        cross_sensor_consistency_reward: 0.5
        touch_format_reward: {weight: 0.2, max_chars: 1500}
        tactile_grounded_reward: {weight: 0.5, margin: 0.0, mode: binary}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from embodied_r1.errors import UserError
from embodied_r1.reward_table import RewardEntry, resolve_rewards
from rewards import (CrossSensorConsistencyReward, TactileGroundedReward, TouchFormatReward, exact_accuracy_reward,
                     ordinal_accuracy_reward)

PROPERTIES = ("hardness", "roughness", "bumpiness")
QUESTION_TYPES = ("level", "compare", "superlative", "conflict", "cross_sensor")
#: Counterfactual variant name -> the core's mode (Touch-R1: tactile removed, shuffled, noise-masked).
COUNTERFACTUAL_MODES = {"removed": "remove", "shuffled": "swap", "noise": "noise"}
REAL_FORMATS = ("octopi", "octopi15", "ssvtp")
OBJECT_MODES = ("fresh", "fresh_parameters", "catalog")
REAL_MODES = ("replace", "add")


def sim_sensors() -> tuple[str, ...]:
    """Names of the simulated sensors: the keys of ``envs.tactile.SENSORS``, the one sensor table.

    Read when called, not copied at import: a profile added to the table is a valid sensor here without
    editing the task, and registering the task does not import the simulator.

    Returns:
        Profile names in table order.
    """
    from envs.tactile import SENSORS

    return tuple(SENSORS)


#: The touch task's rewards (reward name -> how to build it, default weight, parameters); Touch-R1's four.
REWARD_TABLE = {
    "ordinal_accuracy_reward": RewardEntry(ordinal_accuracy_reward, 1.0),
    "cross_sensor_consistency_reward": RewardEntry(CrossSensorConsistencyReward, 0.5),
    "touch_format_reward": RewardEntry(TouchFormatReward, 0.2, {"max_chars": 1500},
                                       fixed={"question_types": QUESTION_TYPES}),
    "tactile_grounded_reward": RewardEntry(TactileGroundedReward, 0.5, {"margin": 0.0, "mode": "binary"},
                                           counterfactual=True),
    # Not one of Touch-R1's four: accuracy without partial credit, for the ordinal-vs-exact ablation (weight 0).
    "exact_accuracy_reward": RewardEntry(exact_accuracy_reward, 0.0),
}


def _default_mix() -> dict:
    return {"level": 0.3, "compare": 0.2, "superlative": 0.15, "conflict": 0.15, "cross_sensor": 0.2}


@dataclass
class TouchConfig:
    """Touch-R1-style tactile reasoning data and rewards.

    Args:
        num_levels: K, ordinal levels per property (3..5; Octopi uses 3).
        properties: Properties asked about, from hardness, roughness, bumpiness.
        objects: ``fresh`` (default): every contact presses new objects with fresh material parameters, and
            held-out objects are those whose level combination is reserved for ``test`` by the rule of
            :mod:`tasks.touch.objects` (sum of the three levels = K-1 modulo K); ``fresh_parameters``: fresh
            objects of every level combination on both sides, held out by their continuous parameters (bands of
            distance from the level's centre, :func:`tasks.touch.objects.is_heldout_material`), so the labels'
            joint distribution is the same in train and test; ``catalog``: a fixed catalogue
            of ``num_materials`` objects pressed again and again, ``heldout_material_fraction`` of them held out
            (the behaviour of ``data_version`` 2).
        num_materials: Objects in the simulated catalogue (``objects: catalog`` only); each has fixed physical
            parameters and is pressed many times (different pose, force, shear) like a real object.
        heldout_material_fraction: Fraction of the catalogue kept out of ``train`` (``objects: catalog`` only).
        train_contacts: Question instances ("contacts") in ``train``; each is rendered through
            ``sensors_per_contact`` sensors, one row per sensor, all sharing its ``contact_id``.
        test_contacts: Question instances on held-out materials in ``test``.
        sensors_per_contact: Train sensors each contact is rendered through (>= 2 for cross-sensor groups).
        train_sensors: Sensor profiles seen in training (names in ``envs.tactile.SENSORS``; their order does
            not matter).
        heldout_sensor: Sensor profile(s) never seen in training: a name in ``envs.tactile.SENSORS``, a list of
            names, or None; every test contact is also rendered through each (rows tagged
            ``split_tag == "heldout_sensor"``, and the split ``test_heldout_sensor``).
        random_sensor_fraction: Sensor randomisation: the chance that a train reading goes through a
            procedurally drawn sensor profile (``envs.tactile.random_sensor``: lights, gel, resolution and
            crop, markers, background, noise all varied) instead of its named train sensor; 0 turns it off.
            Test readings always use the named sensors.
        question_mix: Question type -> sampling weight (``level``, ``compare``, ``superlative``, ``conflict``,
            ``cross_sensor``); weights need not sum to 1, zero drops a type. Types not given keep their
            default weight (so ``touch.question_mix.conflict=0`` changes just that one).
        visual_context_fraction: Fraction of ``level`` rows that also show an agreeing camera image, so that
            the mere presence of a camera image does not reveal a conflict question.
        press_frames: Tactile frames per reading (rising force); 1 shows just the final press.
        image_size: Longest side of the tactile images in pixels (aspect ratio kept per sensor); None keeps
            each sensor's native size (60x80 .. 80x80).
        visual_size: Side of the camera images in pixels.
        tactile_view: What the model sees of each simulated tactile frame (:mod:`envs.tactile.views`):
            ``difference`` (default since data version 4): the frame minus the sensor's no-contact frame, each
            colour channel standardised, as GelSight pipelines subtract the reference frame; ``standardized``:
            the frame itself with each channel standardised; ``raw``: the rendered sensor image (versions <= 3).
            Real data is always shown raw.
        counterfactuals: Variants of the tactile-grounded reward and of eval, from ``removed`` (image dropped),
            ``shuffled`` (another contact's image) and ``noise`` (noise with the image's mean and std).
        real_data: Folder of a real dataset (Octopi/PhysiCLeAR processed data, Octopi-1.5 ``samples``, or TVL
            SSVTP), or None.
        real_data_format: ``octopi`` (PhysiCLeAR), ``octopi15`` (Octopi-1.5) or ``ssvtp``.
        real_labels: For ``octopi``: where the labels are, since the PhysiCLeAR release ships none: an Octopi
            checkout (its ``utils/constants.py`` is parsed, never run), that file itself, or a labels file
            (``.json``/``.csv``); None looks for ``object_properties.json``/``.csv`` in ``real_data``.
        real_data_mode: ``replace`` (only real rows) or ``add`` (real rows appended to the simulated ones).
        real_frames: Frames taken from each real Octopi sample folder (evenly spaced).
        real_heldout_fraction: For SSVTP (which ships no splits): fraction of samples hashed into ``test``.
        rewards: The rewards part, resolved against :data:`REWARD_TABLE`: reward name -> weight, or -> mapping
            of ``weight`` and parameters (``touch_format_reward.max_chars``: longest completion that passes the
            length check; ``tactile_grounded_reward.margin`` / ``.mode``: ``binary`` or ``graded``). A weight
            of 0 drops that reward; rewards and parameters not given keep their defaults (so
            ``touch.rewards.touch_format_reward=0`` changes just that weight). Not part of the cache key.
    """

    #: Settings of earlier versions, moved into the rewards part (old run configs still load and resume).
    renamed_settings: ClassVar[dict] = {"grounded_margin": "rewards.tactile_grounded_reward.margin",
                                        "grounded_mode": "rewards.tactile_grounded_reward.mode",
                                        "format_max_chars": "rewards.touch_format_reward.max_chars"}

    num_levels: int = 3
    properties: list = field(default_factory=lambda: list(PROPERTIES))
    objects: str = "fresh"
    num_materials: int = 60
    heldout_material_fraction: float = 0.2
    train_contacts: int = 300
    test_contacts: int = 50
    sensors_per_contact: int = 2
    train_sensors: list = field(default_factory=lambda: ["gelsight_mini", "digit", "gelsight_r15"])
    heldout_sensor: str | list | None = "marker_gel"
    random_sensor_fraction: float = 0.75
    question_mix: dict = field(default_factory=_default_mix)
    visual_context_fraction: float = 0.25
    press_frames: int = 1
    image_size: int | None = None
    visual_size: int = 64
    tactile_view: str = "difference"
    counterfactuals: list = field(default_factory=lambda: ["removed", "shuffled", "noise"])
    real_data: str | None = None
    real_data_format: str = "octopi"
    real_labels: str | None = None
    real_data_mode: str = "replace"
    real_frames: int = 1
    real_heldout_fraction: float = 0.2
    rewards: dict = field(default_factory=dict)

    def __post_init__(self):
        _int_range("num_levels", self.num_levels, 3, 5)
        self.properties = list(self.properties)
        _subset("properties", self.properties, PROPERTIES)
        if self.objects not in OBJECT_MODES:
            raise UserError(f"touch.objects '{self.objects}' is not one of {', '.join(OBJECT_MODES)}")
        _int_range("num_materials", self.num_materials, 4, 100000)
        _open_fraction("heldout_material_fraction", self.heldout_material_fraction)
        _int_range("train_contacts", self.train_contacts, 0, 10**7)
        _int_range("test_contacts", self.test_contacts, 0, 10**7)
        self.train_sensors = list(self.train_sensors)
        known_sensors = sim_sensors()
        _subset("train_sensors", self.train_sensors, known_sensors)
        self._check_heldout_sensors(known_sensors)
        _fraction("random_sensor_fraction", self.random_sensor_fraction)
        _int_range("sensors_per_contact", self.sensors_per_contact, 1, len(self.train_sensors))
        self._check_mix()
        _fraction("visual_context_fraction", self.visual_context_fraction)
        _int_range("press_frames", self.press_frames, 1, 8)
        if self.image_size is not None:
            _int_range("image_size", self.image_size, 16, 1024)
        _int_range("visual_size", self.visual_size, 16, 1024)
        from envs.tactile.views import VIEWS

        if self.tactile_view not in VIEWS:
            raise UserError(f"touch.tactile_view '{self.tactile_view}' is not one of {', '.join(VIEWS)}")
        self.counterfactuals = list(self.counterfactuals)
        _subset("counterfactuals", self.counterfactuals, tuple(COUNTERFACTUAL_MODES), allow_empty=True)
        self._check_real()
        self.rewards = resolve_rewards(REWARD_TABLE, self.rewards, "touch.rewards")

    def _check_heldout_sensors(self, known: tuple) -> None:
        if isinstance(self.heldout_sensor, (list, tuple)):
            self.heldout_sensor = list(self.heldout_sensor)
            _subset("heldout_sensor", self.heldout_sensor, known, allow_empty=True)
        elif self.heldout_sensor is not None and self.heldout_sensor not in known:
            raise UserError(f"touch.heldout_sensor '{self.heldout_sensor}' is not one of {', '.join(known)}")
        for name in self.heldout_sensors:
            if name in self.train_sensors:
                raise UserError(f"touch.heldout_sensor '{name}' is also in touch.train_sensors; "
                                f"a held-out sensor must not be trained on")

    @property
    def heldout_sensors(self) -> list[str]:
        """The held-out sensors as a list (``heldout_sensor`` may name one, list several, or be None)."""
        if self.heldout_sensor is None:
            return []
        return [self.heldout_sensor] if isinstance(self.heldout_sensor, str) else list(self.heldout_sensor)

    def _check_mix(self) -> None:
        if not isinstance(self.question_mix, dict):
            raise UserError("touch.question_mix must be a mapping of question type -> weight")
        self.question_mix = {**_default_mix(), **self.question_mix}
        for name, w in self.question_mix.items():
            if name not in QUESTION_TYPES:
                raise UserError(f"touch.question_mix has unknown question type '{name}'; known: "
                                f"{', '.join(QUESTION_TYPES)}")
            if not _is_number(w) or w < 0:
                raise UserError(f"touch.question_mix.{name} must be a number >= 0, got {w!r}")
        if sum(float(w) for w in self.question_mix.values()) <= 0:
            raise UserError("touch.question_mix weights are all zero; give at least one question type a weight")

    def _check_real(self) -> None:
        if self.real_data is not None and not isinstance(self.real_data, str):
            raise UserError(f"touch.real_data must be a folder path or null, got {self.real_data!r}")
        if self.real_labels is not None and not isinstance(self.real_labels, str):
            raise UserError(f"touch.real_labels must be a path (an Octopi checkout, its utils/constants.py, or a "
                            f"labels file) or null, got {self.real_labels!r}")
        if self.real_data_format not in REAL_FORMATS:
            raise UserError(f"touch.real_data_format '{self.real_data_format}' is not one of {', '.join(REAL_FORMATS)}")
        if self.real_data_mode not in REAL_MODES:
            raise UserError(f"touch.real_data_mode '{self.real_data_mode}' is not one of {', '.join(REAL_MODES)}")
        _int_range("real_frames", self.real_frames, 1, 16)
        _open_fraction("real_heldout_fraction", self.real_heldout_fraction)

    @property
    def mix(self) -> dict[str, float]:
        """Normalised question-type weights, types with weight 0 left out, in ``QUESTION_TYPES`` order."""
        total = sum(float(w) for w in self.question_mix.values())
        return {q: float(self.question_mix[q]) / total for q in QUESTION_TYPES if float(self.question_mix.get(q, 0)) > 0}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int_range(name: str, v: Any, lo: int, hi: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise UserError(f"touch.{name} must be an integer in {lo}..{hi}, got {v!r}")


def _fraction(name: str, v: Any) -> None:
    if not _is_number(v) or not 0.0 <= v <= 1.0:
        raise UserError(f"touch.{name} must be a number in [0, 1], got {v!r}")


def _open_fraction(name: str, v: Any) -> None:
    if not _is_number(v) or not 0.0 < v < 1.0:
        raise UserError(f"touch.{name} must be a number strictly between 0 and 1, got {v!r}")


def _subset(name: str, values: list, known: tuple, allow_empty: bool = False) -> None:
    if not values and not allow_empty:
        raise UserError(f"touch.{name} must not be empty; choose from {', '.join(known)}")
    bad = [v for v in values if v not in known]
    if bad:
        raise UserError(f"touch.{name} has unknown entries {bad}; known: {', '.join(known)}")
    if len(set(values)) != len(values):
        raise UserError(f"touch.{name} lists an entry twice: {values}")


#: The quickstart recipe: what a bare ``embodied-r1 train --task touch`` runs on an offline random-init preset
#: (an SFT warm start, so that GRPO's groups see parseable answers with different rewards, then GRPO).
#: ``configs/touch_quickstart.yaml`` holds the same settings as a file (a test keeps them equal).
RECIPE = {
    "stages": [
        "sft",
        "grpo"
    ],
    "sft": {
        "learning_rate": 0.005,
        "per_device_train_batch_size": 8,
        "max_steps": 200,
        "logging_steps": 1,
        "save_steps": 50,
        "warmup_steps": 2
    },
    "grpo": {
        "learning_rate": 0.0001,
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "max_completion_length": 128,
        "max_steps": 30,
        "temperature": 1.0,
        "beta": 0.0,
        "logging_steps": 1,
        "save_steps": 10,
        "num_completions_to_print": 0
    },
    "eval": {
        "max_samples": 72,
        "batch_size": 24,
        "max_new_tokens": 128
    },
    "touch": {
        "num_levels": 3,
        "train_contacts": 120,
        "test_contacts": 24,
        "sensors_per_contact": 2,
        "rewards": {
            "ordinal_accuracy_reward": 1.0,
            "cross_sensor_consistency_reward": 0.5,
            "touch_format_reward": {"weight": 0.2, "max_chars": 1500},
            "tactile_grounded_reward": {"weight": 0.5, "margin": 0.0, "mode": "binary"}
        }
    }
}
