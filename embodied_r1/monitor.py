"""Watching a GRPO stage for groups that carry no learning signal.

GRPO's advantage is a reward minus its group's mean: when every completion of a group gets the same reward, the
group contributes no gradient. TRL logs the fraction of such groups as ``frac_reward_zero_std``; when it stays
near 1, the loss and gradient are zero and the stage trains nothing while looking healthy.
"""

from __future__ import annotations

from collections import deque

from transformers import TrainerCallback

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
