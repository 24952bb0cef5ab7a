"""Pure reward functions in TRL's signature, ``fn(prompts, completions, **columns) -> list[float | None]``.

Every reward accepts string or conversational completions, ignores TRL's extra keywords, never raises,
and returns per row a finite float in its documented range, or ``None`` for a row that is not its own.
Each reward function carries ``reward_range = (lo, hi)``: the bounds its docstring states, declared next to
the function so that tests check results against it (tests/rewards/test_fuzz_tasks.py). Parameterised
rewards come from ``make_*_reward`` factories; the returned function's ``__name__`` is the logged metric name.
This package imports nothing else of the project (stdlib + numpy only).
"""

from rewards.consistency import make_cross_sensor_consistency_reward
from rewards.format import (make_robot_format_reward, make_touch_format_reward, robot_answer_parses,
                            touch_answer_parses)
from rewards.grounded import make_tactile_grounded_reward
from rewards.keypoint import keypoint_score, make_direction_reward, make_keypoint_reward, mcq_reward
from rewards.ordinal import level_score, ordinal_accuracy_reward, ordinal_score
from rewards.text import (answer_of, choice_from, completion_text, direction_from, extract_tag, level_from,
                          parse_choice, parse_direction, parse_level, parse_vector, vector_from)

__all__ = [
    "answer_of", "choice_from", "completion_text", "direction_from", "extract_tag", "keypoint_score",
    "level_from", "level_score", "make_cross_sensor_consistency_reward", "make_direction_reward",
    "make_keypoint_reward", "make_robot_format_reward", "make_tactile_grounded_reward",
    "make_touch_format_reward", "mcq_reward", "ordinal_accuracy_reward", "ordinal_score", "parse_choice",
    "parse_direction", "parse_level", "parse_vector", "robot_answer_parses", "touch_answer_parses",
    "vector_from",
]
