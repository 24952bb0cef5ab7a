"""Pure reward functions in TRL's signature, ``fn(prompts, completions, **columns) -> list[float | None]``.

Every reward accepts string or conversational completions, ignores TRL's extra keywords, never raises,
and returns per row a finite float in its documented range, or ``None`` for a row that is not its own: each
reward scores only the question types it knows (the format rewards take theirs from their task) and returns
``None`` for any other. Each reward carries ``reward_range = (lo, hi)``: the bounds its docstring states,
declared next to it so that tests check results against it (tests/rewards/test_fuzz_tasks.py).
Parameterised rewards are callable classes with a fixed ``__name__`` (the logged metric name), as in TRL's
``trl/rewards``, so that they pickle into worker processes; the ``make_*_reward`` factories build them.
This package imports nothing else of the project (stdlib + numpy only).
"""

from rewards.columns import option_letters
from rewards.consistency import CrossSensorConsistencyReward, make_cross_sensor_consistency_reward
from rewards.format import (FormatReward, RobotFormatReward, TouchFormatReward, make_robot_format_reward,
                            make_touch_format_reward, robot_answer_parses, touch_answer_parses)
from rewards.grounded import TactileGroundedReward, make_tactile_grounded_reward
from rewards.keypoint import (DirectionReward, KeypointReward, keypoint_score, make_direction_reward,
                              make_keypoint_reward, mcq_reward)
from rewards.ordinal import exact_accuracy_reward, level_score, ordinal_accuracy_reward, ordinal_score
from rewards.text import (answer_of, choice_from, completion_text, direction_from, extract_tag, level_from,
                          parse_choice, parse_direction, parse_level, parse_vector, vector_from)

__all__ = [
    "CrossSensorConsistencyReward", "DirectionReward", "FormatReward", "KeypointReward", "RobotFormatReward",
    "TactileGroundedReward", "TouchFormatReward", "answer_of", "choice_from", "completion_text",
    "direction_from", "exact_accuracy_reward", "extract_tag", "keypoint_score", "level_from", "level_score",
    "make_cross_sensor_consistency_reward", "make_direction_reward", "make_keypoint_reward",
    "make_robot_format_reward", "make_tactile_grounded_reward", "make_touch_format_reward", "mcq_reward",
    "option_letters", "ordinal_accuracy_reward", "ordinal_score", "parse_choice", "parse_direction",
    "parse_level", "parse_vector", "robot_answer_parses", "touch_answer_parses", "vector_from",
]
