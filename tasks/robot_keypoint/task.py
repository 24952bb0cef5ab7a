"""``robot-keypoint``: predict the next keypoint of a robosuite expert demo (Robot-R1 style), and drive it."""

from __future__ import annotations

from embodied_r1.task import Task
from tasks.robot_keypoint.config import RECIPE, REWARD_TABLE, RobotKeypointConfig
from tasks.robot_keypoint.control_options import BUILTIN_POLICIES, CONTROL_SEED, ControlOptions


class RobotKeypointTask(Task):
    """Next-keypoint reasoning from the agentview image and scene metadata.

    Rows ask for the next keypoint (continuous ``[x, y, z, g]`` or 4-option MCQ), the current state, or the
    primitive movement direction; see ``docs/CONTRACTS.md`` for the columns. ``embodied-r1 eval-control``
    runs the closed loop (:mod:`tasks.robot_keypoint.control`).
    """

    name = "robot-keypoint"
    description = "next-keypoint reasoning on robosuite expert demos (Robot-R1), with closed-loop control eval"
    config_cls = RobotKeypointConfig
    recipe = RECIPE
    #: Keypoint, MCQ, direction and format rewards; the core's default ``reward_specs`` builds them.
    reward_table = REWARD_TABLE
    control_config_cls = ControlOptions
    control_policies = BUILTIN_POLICIES
    control_seed = CONTROL_SEED

    # ------------------------------------------------------------------ data
    def build_dataset(self, cfg: RobotKeypointConfig, seed: int, num_workers: int = 1):
        """Record (or load) demos, one spawned process per simulator task up to ``num_workers``, and build the
        splits (see :func:`tasks.robot_keypoint.data.build_dataset`)."""
        from tasks.robot_keypoint.data import build_dataset

        return build_dataset(cfg, seed, num_workers=num_workers)

    def dataset_card(self, cfg: RobotKeypointConfig, ds) -> dict:
        """Extra dataset-card fields: question counts per split, the label conventions, and per simulator task
        the demo recording's outcome (``demos``: recorded, successes, ``faults`` seed -> reason and
        ``dropped_by_reason``)."""
        from collections import Counter

        from tasks.robot_keypoint.data import demo_stats

        return {
            "demos": demo_stats(cfg),
            "question_types": {split: dict(Counter(d["question_type"])) for split, d in ds.items()},
            "tasks_per_split": {split: dict(Counter(d["task_name"])) for split, d in ds.items()},
            "conventions": "world frame: +x forward, +y left, +z up (m); g = 1 closed, 0 open; docs/CONTRACTS.md",
        }

    # ------------------------------------------------------------------ answers
    def parse(self, text: str):
        """``{"vector", "choice", "direction"}`` parsed from the answer tag, or None without one."""
        from tasks.robot_keypoint.prompts import parse_answer

        return parse_answer(text)

    def sft_target(self, row: dict) -> str:
        from tasks.robot_keypoint.prompts import sft_completion

        return sft_completion(row, float(row.get("slight_threshold") or 0.05))

    def metrics(self, completions, rows, counterfactual=None, cfg=None) -> dict:
        from tasks.robot_keypoint.metrics import robot_metrics

        return robot_metrics(completions, rows)

    def baselines(self, rows, seed: int = 0, train_rows=None) -> dict[str, list[str]]:
        from tasks.robot_keypoint.metrics import baseline_answers

        return baseline_answers(rows, seed)

    def write_report(self, result: dict, rows, completions, out_dir) -> list:
        from tasks.robot_keypoint.report import plot_keypoint_errors

        title = f"robot-keypoint · {result.get('model', '')} · {result.get('split', '')}"
        p = plot_keypoint_errors(rows, completions, out_dir, title=title)
        return [p] if p else []

    # ------------------------------------------------------------------ control
    def run_control(self, ctx) -> dict:
        """Closed-loop evaluation (see :func:`tasks.robot_keypoint.control.run_control`)."""
        from tasks.robot_keypoint.control import run_control

        return run_control(ctx)
