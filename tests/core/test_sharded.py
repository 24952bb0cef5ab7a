"""FSDP2 on the CPU: two gloo processes shard the tiny model with torch's ``fully_shard`` (as accelerate's FSDP2
plugin does) and check the rollout engines and the stage's final save against an unsharded twin.

accelerate 1.15 applies FSDP only to GPU runs (a CPU ``accelerate launch --use_fsdp`` trains with DDP), so the
whole FSDP2 SFT -> GRPO run through ``accelerate launch`` is a GPU test (tests/core/test_gpu_multi.py); these
are the same code paths, sharded by hand.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parents[1] / "fixtures" / "sharded_worker.py"
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_fsdp2_engines_decode_uneven_lengths_on_a_full_copy_and_final_equals_unsharded(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), str(WORKER), str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    for rank in (0, 1):
        r = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert r["sharded"] and not r["twin_sharded"]
        for engine in ("fast", "hf"):
            assert r[f"{engine}_same"] and r[f"{engine}_same_after_update"], (rank, engine, r)
            assert r[f"{engine}_refreshes"] == 2, "one gather per generate call"
            assert not r[f"{engine}_twin_copy"], "an unsharded model is read in place"
        assert r["final_keys_same"] and r["final_max_diff"] == 0.0, r
        assert r["final_class"] == "Qwen2_5_VLForConditionalGeneration"

    import torch

    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model

    saved = {name: make_model(ModelConfig(name=str(tmp_path / name), dtype="float32"))[0].state_dict()
             for name in ("final", "unsharded")}
    assert sorted(saved["final"]) == sorted(saved["unsharded"])
    assert all(torch.equal(saved["final"][k], saved["unsharded"][k]) for k in saved["final"])
    assert json.loads((tmp_path / "final" / "config.json").read_text())["architectures"] == [
        "Qwen2_5_VLForConditionalGeneration"]
