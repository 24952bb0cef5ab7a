"""The one place that decides where a process computes, in which precision, and on how many threads its workers do.

The device comes from accelerate's process state (so each rank of ``accelerate launch`` gets its own GPU, and a
CPU-only machine gets the CPU); the precision comes from the config (``model.dtype``), with ``auto`` meaning
bf16 where that device supports it.
"""

from __future__ import annotations


def process_state():
    """Accelerate's ``PartialState`` of this process (one process, or one rank of ``accelerate launch``).

    On a machine without an accelerator the state is asked for the CPU explicitly: a plain ``PartialState()``
    there sees no distributed run, so every rank of a CPU ``accelerate launch`` (gloo) would take itself for the
    main process until transformers' ``TrainingArguments(use_cpu=True)`` reset the state.
    """
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.accelerator.is_available())


def process_device():
    """This process's ``torch.device`` (accelerate's ``PartialState().device``)."""
    return process_state().device


def supports_bf16(device=None) -> bool:
    """Whether ``device`` (default: this process's) computes in bf16 natively."""
    import torch

    device = device or process_device()
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def torch_dtype(spec: str, device=None):
    """The torch dtype of a ``model.dtype`` setting.

    Args:
        spec: ``auto``, ``bfloat16``, ``float16`` or ``float32``.
        device: Where the model runs (default: this process's device).

    >>> str(torch_dtype("float32"))
    'torch.float32'
    """
    import torch

    if spec == "auto":
        return torch.bfloat16 if supports_bf16(device) else torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[spec]


def trainer_precision(device=None) -> dict:
    """``TrainingArguments`` keys for this device: bf16 where supported, ``use_cpu`` on a CPU."""
    device = device or process_device()
    if device.type == "cpu":
        return {"use_cpu": True, "bf16": False}
    return {"bf16": supports_bf16(device)}


def end_process_group(synchronise: bool = False) -> None:
    """Tear down this process's ``torch.distributed`` group, if one is up (the ranks of ``accelerate launch``).

    A rank that exits with its group still up can abort in its C++ teardown ("terminate called without an active
    exception", SIGABRT after the work had finished: seen in the 2-process benchmark smoke run), which fails the
    launch. With ``synchronise`` (for work every rank ends at the same point, as the benchmarks' ranks do) the
    ranks first meet at a barrier, so that no rank tears its connections down while a peer still uses it; it gives
    up after 60 s (a peer that died), and the teardown goes on either way. Without it (the CLI, whose ranks may
    leave at different times: ``eval-control`` runs on rank 0 alone) no collective runs, so a rank whose peer has
    already failed or left does not wait for it.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if synchronise:
            from datetime import timedelta

            try:
                dist.barrier(async_op=True).wait(timeout=timedelta(seconds=60))
            except Exception:  # a peer failed or left: tear down regardless
                pass
        dist.destroy_process_group()


def single_threaded_worker() -> None:
    """Initializer of a rendering / simulation worker process: one thread for its BLAS and OpenMP pools (and torch's).

    Without it each of N workers runs numpy's OpenBLAS with one thread per core, so N x cores threads spin on the
    cores. On a 16-core GPU node, three encoder stages rendering side by side with 5 workers each took 4 minutes
    for 200 test presses; with one thread per worker two stages with 7 workers each rendered, trained and probed
    in 197 s (nvidia-h100-x1, ``docs/results/touch_encoder_v5/``). Libraries loaded later in the worker read the
    environment variables set here.
    """
    import os
    import sys

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an environment installed before it was a dependency: slower, never broken
        pass
    else:
        threadpool_limits(limits=1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
