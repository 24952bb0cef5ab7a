"""The run directory: resolved config, per-stage checkpoints, metrics.jsonl, TensorBoard, samples and plots.

Layout::

    runs/<task>-<time>/
      run.json            task, stages and which of them are done
      config.yaml         the resolved config
      metrics.jsonl       one JSON line per logged training step ("kind": "train") and one per finished stage
                          ("kind": "summary"), every stage ("stage" field); each step appears once, resumed or not;
                          the encoder stage adds its linear-probe accuracies ("kind": "probe")
      config_changes.jsonl  settings changed on a resume with --allow-config-change
      .lock               held by the training process (another train in the same folder is refused)
      encoder/, sft/, grpo/  stage folders: checkpoint-N/, runs/ (TensorBoard), completions/*.parquet, final/
                          (the stage's model, which the next stage starts from)
      samples.jsonl       a sample of GRPO completions with their rewards
      final/              the trained model and processor (LoRA merged)
      plots/*.png         reward and metric curves
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from transformers import TrainerCallback

from embodied_r1.checkpoints import find_checkpoints
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

    def check(self, cfg: TrainConfig, resume: bool) -> None:
        """Check that the folder can hold this run: empty or absent for a new one, the same task for ``--resume``.

        Args:
            cfg: The resolved config (for a resume, already checked against the run's own config).
            resume: Continue an existing run.

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

    def create(self, cfg: TrainConfig) -> bool:
        """Lock the folder and, for a new run, write ``run.json`` and ``config.yaml`` (after :meth:`check`; only
        the main process of a distributed run calls it).

        Returns:
            True when this call created the folder (a failed start may then remove it whole).
        """
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        self.lock()
        if not self.info():
            self.write_info(task=cfg.task, stages=list(cfg.stages), done=[], created=time.strftime("%Y-%m-%d %H:%M:%S"))
            dump_config(cfg, self.path / "config.yaml")
        return created

    def lock(self) -> None:
        """Hold an exclusive lock on the run for this process's lifetime (released by the OS, even on kill -9).

        Raises:
            UserError: Another live process is training in this run directory.
        """
        import fcntl

        if getattr(self, "_lock", None) is not None:
            return
        f = (self.path / ".lock").open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.seek(0)
            who = f.read().strip() or "another process"
            f.close()
            raise UserError(f"{self.path} is in use by {who}; wait for it to end or choose another --output") from exc
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        self._lock = f

    def remove_new(self, created: bool) -> None:
        """Undo :meth:`create` of a new run whose start failed: the folder if this run created it, else the
        files it wrote into the (empty) folder it was given."""
        import shutil

        if created:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for name in ("run.json", "config.yaml", ".lock"):
            (self.path / name).unlink(missing_ok=True)

    def unlock(self) -> None:
        f = getattr(self, "_lock", None)
        if f is not None:
            f.close()  # closing the descriptor releases the flock
            self._lock = None

    def record_config_change(self, cfg: TrainConfig, changes: list[str]) -> None:
        """Write the new config and append what changed to ``config_changes.jsonl`` (a resume that was allowed
        to change settings)."""
        with (self.path / "config_changes.jsonl").open("a") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "changes": changes}) + "\n")
        dump_config(cfg, self.path / "config.yaml")
        self.write_info(stages=list(cfg.stages))

    def mark_done(self, stage: str) -> None:
        done = list(self.info().get("done", []))
        if stage not in done:
            done.append(stage)
        self.write_info(done=done)

    def is_done(self, stage: str) -> bool:
        return stage in self.info().get("done", [])

    def last_checkpoint(self, stage: str) -> tuple[str | None, list[tuple[str, str]]]:
        """Newest complete ``checkpoint-N`` of a stage (or None), and the incomplete ones newer than it."""
        return find_checkpoints(self.stage_dir(stage))

    def read_metrics(self, kind: str | None = "train") -> list[dict]:
        """Rows of ``metrics.jsonl`` (a torn last line from a crash is skipped).

        Args:
            kind: ``train`` (one row per logged training step), ``summary`` (one per finished stage) or None (all).
        """
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and (kind is None or row_kind(row) == kind):
                rows.append(row)
        return rows

    def append_metrics(self, row: dict) -> None:
        """Append one row to ``metrics.jsonl`` (flushed with the line)."""
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def truncate_metrics(self, stage: str, step: int) -> int:
        """Drop the rows a resume from ``step`` will log again: the stage's training rows past ``step``, its
        end-of-stage rows (summary, probe), and every row of the stages after it. Rewritten atomically.

        Returns:
            The number of rows removed.
        """
        if not self.metrics_path.exists():
            return 0
        stages = list(self.info().get("stages", []))
        later = set(stages[stages.index(stage) + 1:]) if stage in stages else set()
        keep, dropped = [], 0
        for line in self.metrics_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                dropped += 1  # a torn line from the kill
                continue
            mine = row.get("stage") == stage
            if row.get("stage") in later or (mine and (row_kind(row) != "train" or row.get("step", 0) > step)):
                dropped += 1
                continue
            keep.append(line)
        tmp = self.metrics_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(x + "\n" for x in keep))
        tmp.replace(self.metrics_path)
        return dropped


def row_kind(row: dict) -> str:
    """``summary`` for a stage's end-of-training row (TRL logs ``train_runtime`` there), else ``train``."""
    return row.get("kind") or ("summary" if "train_runtime" in row else "train")


class MetricsCallback(TrainerCallback):
    """Appends every Trainer log to ``metrics.jsonl`` with its stage and step (flushed line by line)."""

    def __init__(self, run: RunDir, stage: str):
        self.run = run
        self.stage = stage

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        kind = "summary" if "train_runtime" in logs else "train"
        row = {"stage": self.stage, "kind": kind, "step": state.global_step, "time": round(time.time(), 3)}
        for k, v in logs.items():
            if isinstance(v, (int, float)) and not (isinstance(v, float) and not math.isfinite(v)):
                row[k] = v
        self.run.append_metrics(row)


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
