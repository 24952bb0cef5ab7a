"""Regenerate docs/images/tactile_sensors.png and docs/images/tactile_properties.png.

Usage: MPLBACKEND=Agg python docs/make_tactile_images.py [--out docs/images] [--seed 7]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from envs.tactile import (SENSORS, render_tactile, render_visual, sample_contact,  # noqa: E402
                          sample_material)

ROOT = Path(__file__).resolve().parent


def sensors_figure(out: Path, seed: int) -> None:
    """One contact through every sensor of the table, its visual image and a conflicting visual image."""
    rng = np.random.default_rng(seed)
    mat = sample_material(rng, {"hardness": 2, "roughness": 1, "bumpiness": 2}, shape="sphere")
    contact = dataclasses.replace(sample_contact(rng, mat, force=3.0), position_mm=(0.5, -0.3),
                                  shear_mm=(0.35, 0.15))
    aspects = [s.image_size[1] / s.image_size[0] for s in SENSORS.values()]  # one panel per sensor, at its W/H
    fig, axes = plt.subplots(1, len(aspects) + 2, figsize=(2.3 * sum(aspects) + 5, 3.2),
                             gridspec_kw={"width_ratios": aspects + [1, 1]})
    for ax, sensor in zip(axes, SENSORS.values()):
        tac = render_tactile(contact, sensor, np.random.default_rng(seed))
        ax.imshow(tac.image)
        h, w = tac.image.shape[:2]
        ax.set_title(f"{sensor.display_name}\n{h}x{w} px, {tac.mm_per_px:.2f} mm/px, gel {tac.gel_depth_mm:.2f} mm",
                     fontsize=9)
        if tac.markers is not None:
            d = tac.markers - tac.marker_rest
            moved = np.hypot(d[:, 0], d[:, 1]) > 0.3
            ax.quiver(tac.marker_rest[moved, 0], tac.marker_rest[moved, 1], d[moved, 0], -d[moved, 1], color="yellow",
                      angles="xy", scale_units="xy", scale=0.4, width=0.006)
    lv = mat.levels
    vis, info = render_visual(mat, np.random.default_rng(seed), return_info=True)
    conf, cinfo = render_visual(mat, np.random.default_rng(seed), conflict=True, return_info=True)
    axes[-2].imshow(vis)
    axes[-2].set_title(f"visual (agrees): {info['category']}\nH{lv['hardness']} R{lv['roughness']} "
                      f"B{lv['bumpiness']}", fontsize=9)
    axes[-1].imshow(conf)
    looks = ", ".join(f"{p[0].upper()}~{a:.1f}" for p, a in cinfo["apparent"].items())
    axes[-1].set_title(f"visual (conflict): {cinfo['category']}\nlooks {looks} (unit scale)", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"One contact (sphere R={mat.size_mm:.1f} mm, F={contact.force:.1f} N, shear "
                 f"{contact.shear_mm[0]:.2f},{contact.shear_mm[1]:.2f} mm; marker arrows x2.5) through the "
                 f"{len(SENSORS)} sensor profiles", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "tactile_sensors.png", dpi=110)
    plt.close(fig)


def properties_figure(out: Path, seed: int, num_levels: int = 3) -> None:
    """Rows: one property varied over its levels (others fixed); columns: levels; tactile + cross-section."""
    sensor = SENSORS["gelsight_mini"]
    rows = [("hardness", "sphere", {"roughness": 0, "bumpiness": 0}),
            ("roughness", "flat", {"hardness": 2, "bumpiness": 0}),
            ("bumpiness", "flat", {"hardness": 2, "roughness": 0})]
    fig, axes = plt.subplots(len(rows), num_levels + 1, figsize=(3.2 * (num_levels + 1), 2.6 * len(rows)))
    for r, (prop, shape, fixed) in enumerate(rows):
        profiles = []
        for lvl in range(num_levels):
            mat = sample_material(np.random.default_rng(seed), {**fixed, prop: lvl}, num_levels, shape=shape)
            contact = dataclasses.replace(sample_contact(np.random.default_rng(seed), mat, force=3.0),
                                          position_mm=(0.0, 0.0))
            tac = render_tactile(contact, sensor, np.random.default_rng(seed))
            ax = axes[r, lvl]
            ax.imshow(tac.image)
            ax.set_title(f"{prop} {lvl}: k_obj={mat.k_obj:.0f} N/mm\nimprint {tac.depth_mm:.2f} mm, "
                         f"{tac.contact_area_mm2:.0f} mm2" if prop == "hardness" else
                         f"{prop} {lvl}: " + (f"rms {mat.rough_amp_mm * 1000:.0f} um @ {mat.rough_freq:.1f}/mm"
                                              if prop == "roughness" else
                                              f"{mat.bump_count} bumps x {mat.bump_amp_mm:.2f} mm"), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            mid = tac.deformation.shape[0] // 2
            profiles.append((lvl, tac.deformation[mid], tac.compression[mid], tac.mm_per_px))
        ax = axes[r, num_levels]
        for lvl, gel, comp, mmpp in profiles:
            xs = (np.arange(len(gel)) - len(gel) / 2) * mmpp
            line, = ax.plot(xs, -gel, label=f"level {lvl} gel")
            if prop == "hardness":
                ax.plot(xs, -comp, "--", color=line.get_color(), lw=0.8, label=f"level {lvl} imprint")
        ax.set_title(f"{prop}: centre row profile (mm)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    fig.suptitle(f"Property levels through {sensor.display_name} (force 3 N); imprint = gel+object compression, "
                 "gel = what the camera sees", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "tactile_properties.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "images")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sensors_figure(args.out, args.seed)
    properties_figure(args.out, args.seed)
    print(f"wrote {args.out / 'tactile_sensors.png'} and {args.out / 'tactile_properties.png'}")
