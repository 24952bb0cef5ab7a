"""A preemption notice sent to the whole process group (SLURM, ``timeout``) still ends in a checkpoint when the
trainer's DataLoader has worker processes: the workers leave the signal to the main process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER = """import sys
from embodied_r1.registry import REGISTRY
from tests.fixtures.toy_task import ToyTask
REGISTRY.register("toy", ToyTask)
from embodied_r1.cli import main
sys.exit(main())
"""


def test_sigterm_to_the_process_group_saves_a_checkpoint_with_dataloader_workers(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, str(driver), "train", "--task", "toy", "--output", str(out), "stages=[sft]",
         "sft.max_steps=100000", "sft.save_steps=100000", "sft.logging_steps=1", "sft.dataloader_num_workers=2",
         "sft.per_device_train_batch_size=2", "toy.rows=400"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
