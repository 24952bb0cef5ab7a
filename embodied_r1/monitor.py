"""What a person watching a training sees: a compact progress line, and a warning when GRPO has no signal.

GRPO's advantage is a reward minus its group's mean: when every completion of a group gets the same reward, the
group contributes no gradient. TRL logs the fraction of such groups as ``frac_reward_zero_std``; when it stays
near 1, the loss and gradient are zero and the stage trains nothing while looking healthy.
"""

from __future__ import annotations

import time
from collections import deque

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

CAUSES = ("likely causes: a policy that cannot yet produce the answer format (warm it up with an SFT stage), "
          "rewards that cannot tell completions apart (check the reward weights), too few generations per "
          "prompt (grpo.num_generations) or too low a temperature (grpo.temperature)")


class SignalMonitor(TrainerCallback):
    """Say once, while training, when most groups of the last ``window`` logged steps had zero reward spread.

    Args:
        log: Where the warning line goes.
        window: Logged steps looked at.
        threshold: Mean ``frac_reward_zero_std`` over the window at or above which the stage is flagged.
    """

    def __init__(self, log=print, window: int = 10, threshold: float = 0.9):
        self.log = log
        self.window = window
        self.threshold = threshold
        self.recent: deque[float] = deque(maxlen=window)
        self.warning: str | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        value = (logs or {}).get("frac_reward_zero_std")
        if not isinstance(value, (int, float)):
            return
        self.recent.append(float(value))
        full = len(self.recent) == self.window or (state.global_step >= state.max_steps and len(self.recent) >= 3)
        if self.warning is None and full:
            mean = sum(self.recent) / len(self.recent)
            if mean >= self.threshold:
                self.warning = (f"grpo: no learning signal: at step {state.global_step}, {mean:.0%} of the groups of "
                                f"the last {len(self.recent)} logged steps gave every completion the same reward "
                                f"(frac_reward_zero_std), so their gradient is zero; {CAUSES}")
                if state.is_world_process_zero:
                    self.log(self.warning)


class CompactProgress(ProgressCallback):
    """transformers' progress bar, with one short line every ``every`` logged steps instead of the full metrics
    dict at every step (the full metrics stay in ``metrics.jsonl`` and TensorBoard).

    Args:
        stage: Stage name shown at the start of each line.
        every: Print a line every this many steps (None: about 20 lines per stage).
    """

    def __init__(self, stage: str, every: int | None = None):
        super().__init__()
        self.stage = stage
        self.every = every
        self._last_time = None
        self._last_step = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        every = self.every or max(1, state.max_steps // 20)
        last = state.global_step >= state.max_steps
        if "train_runtime" in logs or (state.global_step % every and not last):
            return
        self.training_bar.write(compact_line(self.stage, state.global_step, state.max_steps, logs, self._rate(state)))

    def _rate(self, state) -> float | None:
        now = time.time()
        rate = None
        if self._last_time is not None and state.global_step > self._last_step:
            rate = (now - self._last_time) / (state.global_step - self._last_step)
        self._last_time, self._last_step = now, state.global_step
        return rate


def compact_line(stage: str, step: int, max_steps: int, logs: dict, sec_per_step: float | None) -> str:
    """One console line of a training step.

    >>> compact_line("grpo", 10, 30, {"reward": 0.5, "rewards/fmt/mean": 0.25, "kl": 0.0}, 1.5)
    'grpo 10/30 | reward 0.500 (fmt 0.250) | kl 0.000 | 1.50 s/step'
    """
    parts = [f"{stage} {step}/{max_steps}"]
    if "reward" in logs:
        each = [f"{k.split('/')[1].removesuffix('_reward')} {v:.3f}" for k, v in logs.items()
                if k.startswith("rewards/") and k.endswith("/mean") and isinstance(v, (int, float))]
        parts.append(f"reward {logs['reward']:.3f}" + (f" ({', '.join(each)})" if each else ""))
        for key, name in (("frac_reward_zero_std", "zero-std groups"), ("kl", "kl")):
            if isinstance(logs.get(key), (int, float)):
                parts.append(f"{name} {logs[key]:.3f}")
    elif isinstance(logs.get("loss"), (int, float)):
        parts.append(f"loss {logs['loss']:.4f}")
        if isinstance(logs.get("mean_token_accuracy"), (int, float)):
            parts.append(f"token acc {logs['mean_token_accuracy']:.3f}")
    if sec_per_step is not None:
        parts.append(f"{sec_per_step:.2f} s/step")
    return " | ".join(parts)
