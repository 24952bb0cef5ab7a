"""Two GPUs (`pytest -m gpu` on a 2-GPU device machine; skipped with fewer): the tiny preset through SFT -> GRPO
under ``accelerate launch --config_file configs/accelerate/fsdp.yaml`` (FSDP2, NCCL), with the fast engine.

accelerate applies FSDP only to GPU runs, so this is the end-to-end FSDP2 check; tests/core/test_sharded.py checks
the same code paths on the CPU with a model sharded by hand.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.gpu
ROOT = Path(__file__).resolve().parents[2]
STEPS = 3


def _launch(config: str, args, env):
    from tests.core.test_distributed import _free_port

    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / config),
            "--num_processes", "2", "--main_process_port", str(_free_port()), "-m", "embodied_r1.cli", "train", *args]


def _args(out, lora: bool):
    return ["--task", "touch", "--output", str(out), "stages=[sft,grpo]", f"model.lora={str(lora).lower()}",
            f"sft.max_steps={STEPS}", f"sft.save_steps={STEPS}", f"grpo.max_steps={STEPS}", f"grpo.save_steps={STEPS}",
            "grpo.per_device_train_batch_size=4", "grpo.num_generations=2", "grpo.max_completion_length=16",
            "sft.per_device_train_batch_size=4", "rollout.engine=fast", "touch.train_contacts=8",
            "touch.test_contacts=2"]


def _consolidated(checkpoint: Path, tmp: Path) -> dict:
    """The model weights of an FSDP2 sharded checkpoint (DCP) as one state dict."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    folder = next(p for p in checkpoint.iterdir() if p.name.startswith("pytorch_model_fsdp"))
    dcp_to_torch_save(folder, tmp / "full.pt")
    sd = torch.load(tmp / "full.pt", weights_only=True)
    return sd.get("model", sd)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
@pytest.mark.parametrize("lora", [False, True])
def test_fsdp2_sft_then_grpo_saves_the_gathered_final_model(tmp_path, lora):
    env = dict(os.environ, EMBODIED_R1_DATA=str(tmp_path / "cache"), PYTHONUNBUFFERED="1", NCCL_NVLS_ENABLE="0")
    out = tmp_path / "run"
    res = subprocess.run(_launch("configs/accelerate/fsdp.yaml", _args(out, lora), env), capture_output=True,
                         text=True, env=env, timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    for stage in ("sft", "grpo"):
        assert f"stage {stage}: rank 0 stopped at step {STEPS}" in res.stdout
        assert f"stage {stage}: rank 1 stopped at step {STEPS}" in res.stdout
    assert json.loads((out / "run.json").read_text())["done"] == ["sft", "grpo"]

    from embodied_r1.config import ModelConfig
    from embodied_r1.models.factory import make_model

    final, _ = make_model(ModelConfig(name=str(out / "final")))
    saved = final.state_dict()
    assert all(t.dtype == torch.bfloat16 for t in saved.values() if t.is_floating_point()), "the run's dtype"
    if lora:
        return  # LoRA merged by peft on the gathered copy: the CPU test compares it with an unsharded merge
    # full fine-tuning: the final folder holds the weights of the last (sharded) checkpoint, gathered
    shards = _consolidated(out / "grpo" / f"checkpoint-{STEPS}", tmp_path)
    shards = {k.removeprefix("_orig_mod."): v for k, v in shards.items()}
    common = [k for k in saved if k in shards]
    assert len(common) >= len(saved) - 1, sorted(set(saved) - set(shards))[:5]  # a tied lm_head may be absent
    for k in common:
        assert torch.equal(saved[k].cpu(), shards[k].to(saved[k].dtype).cpu()), k
