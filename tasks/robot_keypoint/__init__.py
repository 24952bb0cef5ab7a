"""The robot keypoint task (Robot-R1 style) on robosuite expert demos, with closed-loop control evaluation.

Public API: :class:`RobotKeypointTask` (registered as ``robot-keypoint``), :class:`RobotKeypointConfig`,
:class:`ControlOptions` (its ``control_config_cls``: the options of ``embodied-r1 eval-control``), and the
shared prompt builder / parser :func:`build_prompt` / :func:`parse_keypoint`. Importing this package does not
import robosuite.
"""

from tasks.robot_keypoint.config import RobotKeypointConfig
from tasks.robot_keypoint.control_options import ControlOptions
from tasks.robot_keypoint.prompts import build_prompt, parse_answer, parse_keypoint
from tasks.robot_keypoint.task import RobotKeypointTask

__all__ = ["ControlOptions", "RobotKeypointConfig", "RobotKeypointTask", "build_prompt", "parse_answer",
           "parse_keypoint"]
