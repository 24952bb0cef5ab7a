"""Control options of the robot keypoint task: the ``control_config_cls`` of ``embodied-r1 eval-control``.

The core validates the YAML keys and ``--name value`` flags against this dataclass (``build_dataclass``: an
unknown key names the closest field); ``__post_init__`` checks the values. The generic settings (policy,
output, resume, first seed) are not options of the task: they reach it in the
:class:`embodied_r1.task.ControlContext`. Every bad value is a one-line :class:`embodied_r1.errors.UserError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from embodied_r1.errors import UserError
from tasks.robot_keypoint.config import split_names

#: Policies the workers answer themselves (no model): the first is the default.
BUILTIN_POLICIES = ("oracle", "zero")

#: First episode seed when ``--seed`` is not given: away from the training demos' seeds (``seed_offset + 1000 * t
#: + i`` and the held-out task's ``50_000 + i``).
CONTROL_SEED = 100_000


@dataclass
class ControlOptions:
    """Closed-loop evaluation settings of robot-keypoint.

    The policy is ``oracle`` (the scripted expert's own next keyframe for the same seed), ``zero`` (stay in
    place: the current position and gripper), or a model (a run directory, model folder or preset).

    Args:
        tasks: robosuite tasks (``"Lift,Stack"`` or a list).
        episodes: Episodes (seeds ``seed .. seed+episodes-1``, ``--seed``) per task.
        workers: Simulator worker processes (0: run episodes in this process, for debugging).
        max_keypoint_calls: Keypoints a policy may propose per episode.
        max_env_steps: Simulator steps per episode (the controller's steps towards all keypoints).
        video_episodes: Episodes per task recorded as video (the first ones).
        temperature: Sampling temperature of model policies (0: greedy).
        max_new_tokens: Generation budget per keypoint answer.
        batch_size: Prompts per generation call of model policies.
        camera_size: Image side for the policy (default: the run's ``robot-keypoint.camera_size``, else 224).
        offline_eval: Also score a model policy's keypoints offline on the eval split of its run's dataset.
        offline_max_rows: Cap on offline eval rows.
        progress: Show a progress bar.
    """

    tasks: str | list = "Lift"
    episodes: int = 10
    workers: int = 2
    max_keypoint_calls: int = 15
    max_env_steps: int = 1000
    video_episodes: int = 2
    temperature: float = 0.0
    max_new_tokens: int = 128
    batch_size: int = 16
    camera_size: int | None = None
    offline_eval: bool = True
    offline_max_rows: int = 200
    progress: bool = True

    def __post_init__(self):
        from envs.robosuite import SUPPORTED_TASKS  # pure data: no simulator is imported

        self.tasks = split_names(self.tasks)
        if not self.tasks:
            raise UserError("eval-control: --tasks is empty; give robosuite tasks such as Lift,Stack")
        unknown = [t for t in self.tasks if t not in SUPPORTED_TASKS]
        if unknown:
            raise UserError(f"eval-control: unknown task(s) {', '.join(unknown)}; supported: {', '.join(SUPPORTED_TASKS)}")
        for name, lo in (("episodes", 1), ("workers", 0), ("max_keypoint_calls", 1), ("max_env_steps", 1),
                         ("video_episodes", 0), ("max_new_tokens", 1), ("batch_size", 1),
                         ("offline_max_rows", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise UserError(f"eval-control option '{name}' must be an integer >= {lo}, got {v!r}")
        if self.camera_size is not None and (isinstance(self.camera_size, bool) or not isinstance(self.camera_size, int)
                                             or not 16 <= self.camera_size <= 1024):
            raise UserError(f"eval-control option 'camera_size' must be an integer in [16, 1024], got {self.camera_size!r}")
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not math.isfinite(self.temperature) or self.temperature < 0:
            raise UserError(f"eval-control option 'temperature' must be a number >= 0, got {self.temperature!r}")
        for name in ("offline_eval", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"eval-control option '{name}' must be true or false, got {getattr(self, name)!r}")
