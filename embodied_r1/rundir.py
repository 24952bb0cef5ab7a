"""The run directory: resolved config, per-stage checkpoints, metrics.jsonl, TensorBoard, samples and plots.

Layout::

    runs/<task>-<time>/
      run.json            task, stages and which of them are done
      config.yaml         the resolved config
      metrics.jsonl       one JSON line per logging step, every stage ("stage" field)
      sft/, grpo/         TRL output folders: checkpoint-N/, runs/ (TensorBoard), completions/*.parquet
      samples.jsonl       a sample of GRPO completions with their rewards
      final/              the trained model and processor (LoRA merged)
      plots/*.png         reward and metric curves
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from transformers import TrainerCallback

from embodied_r1.config import TrainConfig, dump_config
from embodied_r1.errors import UserError


class RunDir:
    """One run's folder.

    Args:
        path: The folder.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    def info(self) -> dict:
        p = self.path / "run.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def write_info(self, **updates) -> None:
        info = {**self.info(), **updates}
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / "run.json.tmp"
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(self.path / "run.json")  # atomic: a crash never leaves half a run.json

    def prepare(self, cfg: TrainConfig, resume: bool, write: bool = True) -> None:
        """Create the folder for a new run, or check that ``--resume`` continues the same task.

        Args:
            cfg: The resolved config.
            resume: Continue an existing run.
            write: Create files (only the main process of a distributed run does; all of them check).

        Raises:
            UserError: The folder holds another run and ``resume`` is off, or resume has nothing to continue.
        """
        info = self.info()
        if info and not resume:
            raise UserError(f"output directory {self.path} already holds a run of task '{info.get('task')}'; pass "
                            f"--resume to continue it or choose another --output")
        if not info and self.path.exists() and any(self.path.iterdir()) and not resume:
            raise UserError(f"output directory {self.path} is not empty and holds no run; choose another --output")
        if resume and not info:
            raise UserError(f"--resume: {self.path} holds no run to continue (no run.json); drop --resume to start one")
        if resume and info.get("task") != cfg.task:
            raise UserError(f"--resume: {self.path} holds a run of task '{info.get('task')}', not '{cfg.task}'")
        if not write:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if not info:
            self.write_info(task=cfg.task, stages=list(cfg.stages), done=[], created=time.strftime("%Y-%m-%d %H:%M:%S"))
        else:
            self.write_info(stages=list(cfg.stages))
        dump_config(cfg, self.path / "config.yaml")

    def mark_done(self, stage: str) -> None:
        done = list(self.info().get("done", []))
        if stage not in done:
            done.append(stage)
        self.write_info(done=done)

    def is_done(self, stage: str) -> bool:
        return stage in self.info().get("done", [])

    def last_checkpoint(self, stage: str) -> str | None:
        """Newest ``checkpoint-N`` of a stage, or None."""
        d = self.stage_dir(stage)
        cks = sorted(d.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
        return str(cks[-1]) if cks else None

    def read_metrics(self) -> list[dict]:
        """All rows of ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows


class MetricsCallback(TrainerCallback):
    """Appends every Trainer log to ``metrics.jsonl`` with its stage and step (flushed line by line)."""

    def __init__(self, run: RunDir, stage: str):
        self.run = run
        self.stage = stage

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"stage": self.stage, "step": state.global_step, "time": round(time.time(), 3)}
        for k, v in logs.items():
            if isinstance(v, (int, float)) and not (isinstance(v, float) and not math.isfinite(v)):
                row[k] = v
        with self.run.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def write_samples(run: RunDir, limit: int = 64) -> Path | None:
    """Collect the GRPO completions TRL logged (parquet) into a readable ``samples.jsonl``."""
    files = sorted((run.stage_dir("grpo") / "completions").glob("completions_*.parquet"))
    if not files:
        return None
    import pandas as pd

    df = pd.concat([pd.read_parquet(f) for f in files[-4:]], ignore_index=True).tail(limit)
    out = run.path / "samples.jsonl"
    with out.open("w") as f:
        for rec in df.to_dict(orient="records"):
            f.write(json.dumps(rec, default=str) + "\n")
    return out
