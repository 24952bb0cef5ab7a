"""Throughput of the tactile simulator: samples/s, one sample = one contact through one sensor + visual image.

Usage: python benchmarks/tactile_throughput.py [--samples 400] [--seed 0] [--image-size H W]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from envs.tactile import SENSORS, render_tactile, render_visual, sample_contact, sample_material


@dataclass
class Args:
    samples: int = 400
    """samples per sensor"""
    seed: int = 0
    num_levels: int = 3
    image_size: tuple[int, int] | None = None
    """(H, W) override of each sensor's default rendering size"""


def parse_args() -> Args:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--samples", type=int, default=Args.samples)
    p.add_argument("--seed", type=int, default=Args.seed)
    p.add_argument("--num-levels", type=int, default=Args.num_levels)
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"))
    a = p.parse_args()
    return Args(a.samples, a.seed, a.num_levels, None if a.image_size is None else tuple(a.image_size))


def one_sample(rng: np.random.Generator, sensor, args: Args) -> None:
    mat = sample_material(rng, num_levels=args.num_levels)
    contact = sample_contact(rng, mat)
    render_tactile(contact, sensor, rng, image_size=args.image_size)
    render_visual(mat, rng)


if __name__ == "__main__":
    args = parse_args()
    rng = np.random.default_rng(args.seed)

    # ---- warm-up: imports, cached backgrounds ----
    for sensor in SENSORS.values():
        for _ in range(5):
            one_sample(rng, sensor, args)

    # ---- timed loop, per sensor ----
    total_n, total_t = 0, 0.0
    for name, sensor in SENSORS.items():
        t0 = time.perf_counter()
        for _ in range(args.samples):
            one_sample(rng, sensor, args)
        dt = time.perf_counter() - t0
        total_n, total_t = total_n + args.samples, total_t + dt
        h, w = sensor.pitch_for(args.image_size)[0]
        ms = 1000 * dt / args.samples
        print(f"{name:14s} {h:4d}x{w:<4d} {args.samples / dt:8.1f} samples/s  ({ms:.2f} ms/sample)")
    print(f"{'overall':14s} {'':9s} {total_n / total_t:8.1f} samples/s")
