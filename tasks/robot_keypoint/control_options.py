"""Options of ``embodied-r1 eval-control`` for the robot keypoint task, validated into a dataclass.

The CLI hands ``run_control`` a plain dict (YAML keys plus command-line flags); every unknown key or bad
value is a one-line :class:`embodied_r1.errors.UserError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass

from embodied_r1.errors import UserError
from tasks.robot_keypoint.config import split_names

LOCAL_POLICIES = ("oracle", "zero")


@dataclass
class ControlOptions:
    """Closed-loop evaluation settings.

    Args:
        policy: ``oracle`` (the scripted expert's own next keyframe for the same seed), ``zero`` (stay in
            place: the current position and gripper), or a run directory / model folder / preset name.
        tasks: robosuite tasks (``"Lift,Stack"`` or a list).
        episodes: Episodes (seeds ``seed0 .. seed0+episodes-1``) per task.
        workers: Simulator worker processes (0: run episodes in this process, for debugging).
        max_keypoint_calls: Keypoints a policy may propose per episode.
        max_env_steps: Simulator steps per episode (the controller's steps towards all keypoints).
        output: Folder for ``results.jsonl``, ``summary.json``, videos and plots
            (default ``runs/control-<policy>-<time>``).
        video_episodes: Episodes per task recorded as video (the first ones).
        seed0: First episode seed (kept away from the training demos' seeds).
        temperature: Sampling temperature of model policies (0: greedy).
        max_new_tokens: Generation budget per keypoint answer.
        batch_size: Prompts per generation call of model policies.
        camera_size: Image side for the policy (default: the run's ``robot-keypoint.camera_size``, else 224).
        offline_eval: Also score the policy's keypoints offline on the eval split (if that dataset is cached).
        offline_max_rows: Cap on offline eval rows.
        progress: Show a progress bar.
        resume: Continue the sweep in ``output``: keep its finished episodes and run only the rest (its
            stored ``options.json`` must match these options, but for workers, progress, batch size and
            the offline eval). Without it, an ``output`` that holds results is refused.
    """

    policy: str = "oracle"
    tasks: str | list = "Lift"
    episodes: int = 10
    workers: int = 2
    max_keypoint_calls: int = 15
    max_env_steps: int = 1000
    output: str | None = None
    video_episodes: int = 2
    seed0: int = 100_000
    temperature: float = 0.0
    max_new_tokens: int = 128
    batch_size: int = 16
    camera_size: int | None = None
    offline_eval: bool = True
    offline_max_rows: int = 200
    progress: bool = True
    resume: bool = False

    def __post_init__(self):
        if not isinstance(self.policy, str) or not self.policy.strip():
            raise UserError("eval-control: --policy must be oracle, zero, or a run directory / model folder / preset")
        self.tasks = split_names(self.tasks)
        if not self.tasks:
            raise UserError("eval-control: --tasks is empty; give robosuite tasks such as Lift,Stack")
        for name, lo in (("episodes", 1), ("workers", 0), ("max_keypoint_calls", 1), ("max_env_steps", 1),
                         ("video_episodes", 0), ("seed0", 0), ("max_new_tokens", 1), ("batch_size", 1),
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
        for name in ("offline_eval", "progress", "resume"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"eval-control option '{name}' must be true or false, got {getattr(self, name)!r}")
        if self.output is not None and not isinstance(self.output, str):
            self.output = str(self.output)

    @property
    def is_local(self) -> bool:
        """Whether the policy runs inside the workers (oracle, zero) rather than as a model."""
        return self.policy in LOCAL_POLICIES


def parse_options(options: dict | None) -> ControlOptions:
    """Validate a plain options dict into :class:`ControlOptions` (unknown keys name the closest known one).

    >>> parse_options({"policy": "zero", "tasks": "Lift,Stack"}).tasks
    ['Lift', 'Stack']
    """
    options = dict(options or {})
    known = [f.name for f in dataclasses.fields(ControlOptions)]
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"
            raise UserError(f"unknown eval-control option '{key}' ({hint})")
    try:
        return ControlOptions(**options)
    except TypeError as exc:  # defensive: dataclass argument errors
        raise UserError(f"eval-control options: {exc}") from exc
