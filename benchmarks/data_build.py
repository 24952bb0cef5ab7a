"""Touch dataset build time with 1 and N worker processes, the speed-up, and whether the rows are the same.

Usage: python benchmarks/data_build.py [--workers N] [--train-contacts 200] [--test-contacts 50] [--seed 0]

N defaults to the cores available to this process. The N-worker time includes starting the spawned workers
(about half a second each), so small builds understate the speed-up. numpy's BLAS threads already let the
1-worker build use idle cores (its CPU time can exceed its wall time), so for a clean comparison run both
with ``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

from embodied_r1.data import available_cores
from tasks.touch import TouchConfig
from tasks.touch.data import build_touch_dataset


@dataclass
class Args:
    workers: int = 0
    """worker processes of the parallel build (0: the cores available)"""
    train_contacts: int = 200
    test_contacts: int = 50
    num_materials: int = 24
    seed: int = 0


def parse_args() -> Args:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workers", type=int, default=Args.workers)
    p.add_argument("--train-contacts", type=int, default=Args.train_contacts)
    p.add_argument("--test-contacts", type=int, default=Args.test_contacts)
    p.add_argument("--num-materials", type=int, default=Args.num_materials)
    p.add_argument("--seed", type=int, default=Args.seed)
    a = p.parse_args()
    return Args(a.workers, a.train_contacts, a.test_contacts, a.num_materials, a.seed)


def timed_build(cfg: TouchConfig, seed: int, workers: int):
    """The dataset, its wall time and its CPU time (this process plus its finished workers): on a shared
    machine the wall time shows what other work left free, the CPU time what the build itself spent."""
    c0, t0 = os.times(), time.perf_counter()
    ds = build_touch_dataset(cfg, seed, progress=False, num_workers=workers)
    c1, t1 = os.times(), time.perf_counter()
    cpu = sum(getattr(c1, f) - getattr(c0, f) for f in ("user", "system", "children_user", "children_system"))
    return ds, t1 - t0, cpu


if __name__ == "__main__":  # spawned workers import this file: only the main process runs the benchmark
    args = parse_args()
    n = args.workers or available_cores()
    cfg = TouchConfig(num_materials=args.num_materials, train_contacts=args.train_contacts,
                      test_contacts=args.test_contacts)
    load = os.getloadavg()[0]  # other work on the machine: the speed-up needs N free cores
    # ====== 1 worker (in this process), then N spawned workers ======
    one, t1, cpu1 = timed_build(cfg, args.seed, 1)
    many, tn, cpun = timed_build(cfg, args.seed, n)
    same = list(one) == list(many) and all(one[s].data.table.equals(many[s].data.table) for s in one)
    rows = sum(len(d) for d in one.values())
    contacts = args.train_contacts + args.test_contacts
    print(f"touch build: {contacts} contacts, {rows} rows; cores available {available_cores()} "
          f"(os.cpu_count {os.cpu_count()}), load average before {load:.1f}")
    print(f"  1 worker : {t1:7.2f} s wall  {cpu1:7.2f} s CPU  ({contacts / t1:6.1f} contacts/s)")
    print(f"  {n} workers: {tn:7.2f} s wall  {cpun:7.2f} s CPU  ({contacts / tn:6.1f} contacts/s)")
    print(f"  speed-up : {t1 / tn:.2f}x   CPU overhead of the workers: {cpun / cpu1:.2f}x   identical rows: {same}")
