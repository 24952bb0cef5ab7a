"""A preemption notice sent to the whole process group (SLURM, ``timeout``) still ends in a checkpoint when the
trainer's DataLoader has worker processes: the workers leave the signal to the main process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER = """import os, sys
import embodied_r1.run as run_mod
from embodied_r1.registry import REGISTRY
from tests.fixtures.toy_task import ToyTask
REGISTRY.register("toy", ToyTask)
if os.environ.get("BOOM_AT_STEP"):
    class Boom(run_mod.MetricsCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == int(os.environ["BOOM_AT_STEP"]):
                raise RuntimeError("boom at step " + os.environ["BOOM_AT_STEP"])
            return super().on_step_end(args, state, control, **kw)
    run_mod.MetricsCallback = Boom
from embodied_r1.cli import main
sys.exit(main())
"""


def _start(tmp_path, **env_extra):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **env_extra}
    proc = subprocess.Popen(
        [sys.executable, str(driver), "train", "--task", "toy", "--output", str(out), "stages=[sft]",
         "sft.max_steps=100000", "sft.save_steps=100000", "sft.logging_steps=1", "sft.dataloader_num_workers=2",
         "sft.per_device_train_batch_size=2", "toy.rows=400"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, out


def test_sigterm_to_the_process_group_saves_a_checkpoint_with_dataloader_workers(tmp_path):
    proc, out = _start(tmp_path)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and sum('"stage": "sft"' in x for x in metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    os.killpg(proc.pid, signal.SIGTERM)  # what `timeout` and a cluster's preemption do: every process of the job
    output = proc.communicate(timeout=180)[0]
    assert proc.returncode == 3, output[-3000:]
    assert "preempted at step" in output and "killed by signal" not in output
    assert list((out / "sft").glob("checkpoint-*")), "no checkpoint saved"


def test_a_crash_during_training_still_ends_the_process(tmp_path):
    """Workers that ignore SIGTERM must not keep a crashed run alive: at exit, multiprocessing terminates its daemon
    children with SIGTERM and then waits for them without a timeout."""
    proc, _ = _start(tmp_path, BOOM_AT_STEP="3")
    try:
        output = proc.communicate(timeout=150)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the crashed run did not exit within 150 s: " + proc.communicate()[0][-2000:])
    assert proc.returncode not in (0, 3) and "boom at step 3" in output, output[-3000:]
