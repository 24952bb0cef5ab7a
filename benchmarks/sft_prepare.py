"""The one-off preparation of SFT inputs (:func:`embodied_r1.inputs.prepare_sft_inputs`: TRL's collator once per
row, then the model's rope positions) in one process and in several spawned ones. Prints seconds and rows/s per
number of processes, checks that every number stores the same rows, writes a JSON.

    # the GPU chain's case: 20,000 touch rows (touch.train_contacts=10000) for the `small` preset, 1 and 14 processes
    python benchmarks/sft_prepare.py --model small --procs 1 14 --set touch.train_contacts=10000 touch.image_size=112
    # CPU smoke run
    python benchmarks/sft_prepare.py --model tiny --procs 1 4 --rows-per-process 3 --set touch.train_contacts=6

Every measurement is cold: caching is off while it runs (``datasets.disable_caching``), so nothing is read back
from an earlier run. The dataset itself is built (or read from its cache) before the clock starts.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from sft_input import task_arguments, task_train_rows  # this folder, as the script's own

    p = task_arguments(__doc__)
    p.add_argument("--procs", nargs="+", type=int, default=[1, 4],
                   help="numbers of processes to time (below embodied_r1.inputs.MIN_PROCESSES: one)")
    p.add_argument("--rows-per-process", type=int, default=None,
                   help="the fewest rows worth a process (default: embodied_r1.inputs.ROWS_PER_PROCESS)")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()

    import datasets
    import torch

    from embodied_r1.config import ModelConfig
    from embodied_r1.data import available_cores
    from embodied_r1.inputs import ROWS_PER_PROCESS, prepare_sft_inputs, preparing_processes
    from embodied_r1.models.factory import make_model
    from embodied_r1.trainer import sft_dataset

    task, train = task_train_rows(args)
    rows = sft_dataset(task, train)
    model, processor = make_model(ModelConfig(name=args.model, dtype="float32"), seed=0)
    per = args.rows_per_process or ROWS_PER_PROCESS
    print(f"model={args.model} rows={len(rows)} cores={available_cores()} torch threads={torch.get_num_threads()}",
          flush=True)
    result = {"model": args.model, "task": args.task, "rows": len(rows), "cores": available_cores(),
              "rows_per_process": per, "settings": args.set, "runs": {}}
    reference = None
    datasets.disable_caching()
    try:
        for n in args.procs:
            used = preparing_processes(len(rows), n, per)
            t = time.perf_counter()
            out = prepare_sft_inputs(rows, processor, model, num_proc=n, rows_per_process=per)
            seconds = time.perf_counter() - t
            table = out.data.table
            same = reference is None or table.equals(reference)
            reference = table if reference is None else reference
            result["runs"][str(n)] = {"processes": used, "seconds": seconds, "rows_per_s": len(rows) / seconds,
                                      "same_rows_as_first": same}
            print(f"{n:3d} processes asked ({used} used): {seconds:7.1f} s, {len(rows) / seconds:7.1f} rows/s, "
                  f"same rows as the first: {same}", flush=True)
    finally:
        datasets.enable_caching()
    first = result["runs"][str(args.procs[0])]["seconds"]
    for n, r in result["runs"].items():
        r["speedup"] = first / r["seconds"]
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "settings"}))
    if not all(r["same_rows_as_first"] for r in result["runs"].values()):
        raise SystemExit("sft_prepare: the prepared rows differ between numbers of processes")


if __name__ == "__main__":  # preparing and data builds spawn processes that re-import this file
    main()
