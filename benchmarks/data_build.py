"""Touch dataset build time with 1 and N worker processes, the speed-up, and whether the rows are the same.

Usage: python benchmarks/data_build.py [--workers N] [--train-contacts 200] [--test-contacts 50] [--seed 0]

N defaults to the cores available to this process. The N-worker time includes starting the spawned workers
(a second or two each on a loaded machine), so small builds understate the speed-up.
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
    t0 = time.perf_counter()
    ds = build_touch_dataset(cfg, seed, progress=False, num_workers=workers)
    return ds, time.perf_counter() - t0


if __name__ == "__main__":  # spawned workers import this file: only the main process runs the benchmark
    args = parse_args()
    n = args.workers or available_cores()
    cfg = TouchConfig(num_materials=args.num_materials, train_contacts=args.train_contacts,
                      test_contacts=args.test_contacts)
    # ====== 1 worker (in this process), then N spawned workers ======
    one, t1 = timed_build(cfg, args.seed, 1)
    many, tn = timed_build(cfg, args.seed, n)
    same = list(one) == list(many) and all(one[s].data.table.equals(many[s].data.table) for s in one)
    rows = sum(len(d) for d in one.values())
    contacts = args.train_contacts + args.test_contacts
    print(f"touch build: {contacts} contacts, {rows} rows; cores available {available_cores()} "
          f"(os.cpu_count {os.cpu_count()}), load average {os.getloadavg()[0]:.1f}")
    print(f"  1 worker : {t1:7.2f} s  ({contacts / t1:6.1f} contacts/s)")
    print(f"  {n} workers: {tn:7.2f} s  ({contacts / tn:6.1f} contacts/s)")
    print(f"  speed-up : {t1 / tn:.2f}x   identical rows: {same}")
