"""robot-keypoint settings: the config section's validation, and the rewards it names."""

from __future__ import annotations

import pytest

from embodied_r1.errors import UserError
from tasks.robot_keypoint import RobotKeypointConfig, RobotKeypointTask


def test_reward_specs_follow_the_config_weights():
    task = RobotKeypointTask()
    names = [s.name for s in task.reward_specs(RobotKeypointConfig())]
    assert names == ["keypoint_reward", "mcq_reward", "direction_reward", "robot_format_reward"]
    cfg = RobotKeypointConfig(rewards={"keypoint_reward": {"weight": 2.0, "tau": 0.2}, "mcq_reward": 0.0})
    specs = task.reward_specs(cfg)  # rewards not given keep their default weight
    assert [(s.name, s.weight) for s in specs] == [("keypoint_reward", 2.0), ("direction_reward", 1.0),
                                                   ("robot_format_reward", 0.5)]
    assert specs[0].fn.tau == 0.2 and specs[0].fn.gripper_weight == 0.25


@pytest.mark.parametrize("kwargs,msg", [
    (dict(tasks=""), "tasks is empty"), (dict(tasks="Lift,Lift"), "twice"),
    (dict(heldout_task="Lift"), "also a training task"), (dict(episodes=0), "positive integer"),
    (dict(question_mix={"keypoint": 2.0}), "probability"), (dict(question_mix={"kp": 1.0}), "unknown question type"),
    (dict(rewards={"foo": 1.0}), "unknown reward"), (dict(mcq_min_dist=0.3), "below mcq_max_dist"),
    (dict(camera_size=8), "camera_size"),
    (dict(rewards={"keypoint_reward": {"gripper_weight": 1.5}}), "gripper_weight"),
])
def test_config_validation(kwargs, msg):
    with pytest.raises(UserError, match=msg):
        RobotKeypointConfig(**kwargs)


def test_config_normalises_tasks():
    cfg = RobotKeypointConfig(tasks="Lift, Stack", heldout_task="")
    assert cfg.tasks == ["Lift", "Stack"] and cfg.heldout_task is None and cfg.all_tasks == ["Lift", "Stack"]
