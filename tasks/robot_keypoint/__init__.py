"""The robot keypoint task (Robot-R1 style) on robosuite expert demos, with closed-loop control evaluation.

Public API: :class:`RobotKeypointTask` (registered as ``robot-keypoint``), :class:`RobotKeypointConfig`,
:class:`ControlOptions` and :func:`run_control` (``embodied-r1 eval-control``), and the shared prompt
builder / parser :func:`build_prompt` / :func:`parse_keypoint`. Importing this package does not import
robosuite.
"""

from tasks.robot_keypoint.config import RobotKeypointConfig
from tasks.robot_keypoint.control_options import ControlOptions, parse_options
from tasks.robot_keypoint.prompts import build_prompt, parse_answer, parse_keypoint
from tasks.robot_keypoint.task import RobotKeypointTask


def run_control(options: dict, policy_factory, log=print) -> dict:
    """Closed-loop evaluation (see :mod:`tasks.robot_keypoint.control`)."""
    from tasks.robot_keypoint.control import run_control as _run

    return _run(options, policy_factory, log=log)


__all__ = ["ControlOptions", "RobotKeypointConfig", "RobotKeypointTask", "build_prompt", "parse_answer",
           "parse_keypoint", "parse_options", "run_control"]
