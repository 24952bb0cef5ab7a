"""Settings of the robot keypoint task (the ``robot-keypoint:`` section of a YAML config).

Two parts: the data part (demos, splits, questions; it keys the dataset cache) and the rewards part, the
``rewards`` field resolved against :data:`REWARD_TABLE` (each reward's weight and parameters)::

    robot-keypoint:
      tasks: Lift,Stack                                  # data
      episodes: 20
      rewards:
        keypoint_reward: {weight: 1.0, tau: 0.10, gripper_weight: 0.25}
        mcq_reward: 1.0
        direction_reward: {weight: 1.0, partial: 0.5}
        robot_format_reward: {weight: 0.5, max_chars: 1500}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from embodied_r1.errors import UserError
from embodied_r1.reward_table import RewardEntry, resolve_rewards
from rewards import DirectionReward, KeypointReward, RobotFormatReward, mcq_reward

QUESTION_TYPES = ("keypoint", "mcq", "current_state", "direction")

#: The robot task's rewards (reward name -> how to build it, default weight, parameters). ``keypoint_reward``:
#: ``tau`` is the distance (m) at which its position term reaches 0, ``gripper_weight`` the weight of its gripper
#: term in [0, 1]; ``direction_reward``: ``partial`` is the credit for the right direction with the wrong
#: "slightly"; ``robot_format_reward``: ``max_chars`` is the longest completion that passes its length check.
REWARD_TABLE = {
    "keypoint_reward": RewardEntry(KeypointReward, 1.0, {"tau": 0.10, "gripper_weight": 0.25}),
    "mcq_reward": RewardEntry(mcq_reward, 1.0),
    "direction_reward": RewardEntry(DirectionReward, 1.0, {"partial": 0.5}),
    "robot_format_reward": RewardEntry(RobotFormatReward, 0.5, {"max_chars": 1500},
                                       fixed={"question_types": QUESTION_TYPES}),
}


def split_names(value) -> list[str]:
    """``"Lift,Stack"`` or ``["Lift", "Stack"]`` -> ``["Lift", "Stack"]`` (blank entries dropped).

    >>> split_names("Lift, Stack"), split_names(["Lift"])
    (['Lift', 'Stack'], ['Lift'])
    """
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(s).strip() for s in items if str(s).strip()]


@dataclass
class RobotKeypointConfig:
    """Data and question settings of ``robot-keypoint`` (the data part), and its rewards part.

    Args:
        tasks: robosuite tasks whose demos make the train/test splits (``"Lift,Stack"`` or a list).
        episodes: Expert demos recorded per task.
        test_fraction: Fraction of each task's episodes (whole episodes) that go to ``test``.
        heldout_task: A task never trained on; its demos form ``test_heldout_task`` (None or "" for none).
        heldout_episodes: Demos recorded for the held-out task.
        sample_every: Take a sample every this many frames of a demo.
        camera_size: Side of the square agentview image (pixels) shown to the model.
        question_mix: Probability that a sampled frame yields a row of each question type
            (``keypoint``, ``mcq``, ``current_state``, ``direction``); 1.0 = every frame.
        slight_threshold: Dominant-axis displacement (m) under which a move is "slightly ...".
        direction_min_move: Rows whose next keypoint is closer than this (m) on every axis get no
            direction question (the dominant axis of a gripper-only move is noise).
        mcq_min_dist, mcq_max_dist: Distance band (m) of MCQ distractors from the true keypoint.
        mcq_min_separation: Minimum distance (m) between any two MCQ options.
        seed_offset: First demo seed: train/test episode ``i`` of task ``t`` is recorded with seed
            ``seed_offset + 1000 * t + i``. The run seed does not enter: runs of any seed share the recorded demos
            (and so the keypoint rows and the train/test episodes); the seed draws the other question types'
            details and the training. Set ``seed_offset`` to record other demos.
        heldout_seed_offset: Seed of the first held-out demo.
        rewards: The rewards part, resolved against :data:`REWARD_TABLE`: reward name -> weight, or -> mapping
            of ``weight`` and parameters (``keypoint_reward.tau`` / ``.gripper_weight``,
            ``direction_reward.partial``, ``robot_format_reward.max_chars``). Weight 0 drops a reward; rewards
            and parameters not given keep their defaults. Not part of the dataset cache key.
    """

    #: Settings of earlier versions, moved into the rewards part (old run configs still load and resume).
    renamed_settings: ClassVar[dict] = {"tau": "rewards.keypoint_reward.tau",
                                        "gripper_weight": "rewards.keypoint_reward.gripper_weight",
                                        "direction_partial": "rewards.direction_reward.partial",
                                        "format_max_chars": "rewards.robot_format_reward.max_chars"}

    tasks: str | list = "Lift,Stack"
    episodes: int = 20
    test_fraction: float = 0.2
    heldout_task: str | None = "PickPlaceCan"
    heldout_episodes: int = 4
    sample_every: int = 10
    camera_size: int = 224
    question_mix: dict = field(default_factory=lambda: {"keypoint": 1.0, "mcq": 1.0, "current_state": 0.5,
                                                        "direction": 1.0})
    slight_threshold: float = 0.05
    direction_min_move: float = 0.01
    mcq_min_dist: float = 0.05
    mcq_max_dist: float = 0.25
    mcq_min_separation: float = 0.04
    seed_offset: int = 0
    heldout_seed_offset: int = 50_000
    rewards: dict = field(default_factory=dict)

    def __post_init__(self):
        where = "robot-keypoint"
        self.tasks = split_names(self.tasks)
        if not self.tasks:
            raise UserError(f"{where}.tasks is empty; give robosuite tasks such as 'Lift,Stack'")
        if len(set(self.tasks)) != len(self.tasks):
            raise UserError(f"{where}.tasks lists a task twice: {self.tasks}")
        if self.heldout_task in ("", "none", "None"):
            self.heldout_task = None
        if self.heldout_task is not None and self.heldout_task in self.tasks:
            raise UserError(f"{where}.heldout_task '{self.heldout_task}' is also a training task; pick another")
        _positive_int(self.episodes, f"{where}.episodes")
        _positive_int(self.sample_every, f"{where}.sample_every")
        if self.heldout_task is not None:
            _positive_int(self.heldout_episodes, f"{where}.heldout_episodes")
        if not isinstance(self.camera_size, int) or not 16 <= self.camera_size <= 1024:
            raise UserError(f"{where}.camera_size must be an integer in [16, 1024], got {self.camera_size!r}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise UserError(f"{where}.test_fraction must be in [0, 1), got {self.test_fraction}")
        self._check_mix(where)
        for name in ("slight_threshold", "mcq_min_dist", "mcq_max_dist", "mcq_min_separation"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise UserError(f"{where}.{name} must be a positive distance in metres, got {v!r}")
        if self.direction_min_move < 0 or self.direction_min_move >= self.slight_threshold:
            raise UserError(f"{where}.direction_min_move must be in [0, slight_threshold={self.slight_threshold}), "
                            f"got {self.direction_min_move}")
        if self.mcq_min_dist >= self.mcq_max_dist:
            raise UserError(f"{where}.mcq_min_dist ({self.mcq_min_dist}) must be below mcq_max_dist ({self.mcq_max_dist})")
        self.rewards = resolve_rewards(REWARD_TABLE, self.rewards, f"{where}.rewards")

    def _check_mix(self, where: str) -> None:
        if not isinstance(self.question_mix, dict):
            raise UserError(f"{where}.question_mix must map question types to probabilities")
        for k, v in self.question_mix.items():
            if k not in QUESTION_TYPES:
                raise UserError(f"unknown question type '{where}.question_mix.{k}'; known: {', '.join(QUESTION_TYPES)}")
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise UserError(f"{where}.question_mix.{k} must be a probability in [0, 1], got {v!r}")
        if not any(v > 0 for v in self.question_mix.values()):
            raise UserError(f"{where}.question_mix gives every question type probability 0")

    @property
    def all_tasks(self) -> list[str]:
        """Training tasks plus the held-out one."""
        return self.tasks + ([self.heldout_task] if self.heldout_task else [])


def _positive_int(v, where: str) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise UserError(f"{where} must be a positive integer, got {v!r}")


#: The quickstart recipe: what a bare ``embodied-r1 train --task robot-keypoint`` runs on an offline random-init preset
#: (an SFT warm start, so that GRPO's groups see parseable answers with different rewards, then GRPO).
#: ``configs/robot_keypoint_quickstart.yaml`` holds the same settings as a file (a test keeps them equal).
RECIPE = {
    "stages": [
        "sft",
        "grpo"
    ],
    "sft": {
        "learning_rate": 0.005,
        "per_device_train_batch_size": 8,
        "max_steps": 300,
        "logging_steps": 5,
        "save_steps": 50,
        "warmup_steps": 2
    },
    "grpo": {
        "learning_rate": 0.0001,
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "max_completion_length": 160,
        "max_steps": 20,
        "temperature": 1.0,
        "beta": 0.0,
        "logging_steps": 1,
        "save_steps": 10,
        "num_completions_to_print": 0
    },
    "eval": {
        "max_samples": 64,
        "batch_size": 16,
        "max_new_tokens": 160
    },
    "robot-keypoint": {
        "tasks": "Lift,Stack",
        "episodes": 3,
        "test_fraction": 0.34,
        "heldout_task": "PickPlaceCan",
        "heldout_episodes": 1,
        "sample_every": 10,
        "camera_size": 64,
        "question_mix": {
            "keypoint": 1.0,
            "mcq": 1.0,
            "current_state": 0.5,
            "direction": 1.0
        },
        "rewards": {
            "keypoint_reward": {"weight": 1.0, "tau": 0.1, "gripper_weight": 0.25},
            "mcq_reward": 1.0,
            "direction_reward": {"weight": 1.0, "partial": 0.5},
            "robot_format_reward": {"weight": 0.5, "max_chars": 1500}
        }
    }
}
