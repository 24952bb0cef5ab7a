"""Supervised ceiling of the touch data: a small CNN trained on single simulated tactile images.

How much of hardness / roughness / bumpiness can be read off one tactile image, on held-out objects (through the
train sensors) and through each held-out sensor? A ResNet-style CNN (3 stages of basic blocks, one 3-way head per
property) is trained on the train readings of the touch task's own contacts (``tasks.touch.contacts.draw_contact``,
level questions only) and scored on the test contacts: accuracy and OMAE (ordinal mean absolute error, in levels)
per property. A ``val`` group of unseen train-split contacts (named sensors) separates memorising objects (old:
the seen catalogue objects, pressed anew) and combination priors (new: fresh objects of the train level
combinations) from reading the image.

``--data new`` uses the touch task's defaults (fresh objects held out by the level rule, sensor randomisation;
``--objects fresh_parameters`` holds them out by their continuous parameters instead);
``--data old`` the ``data_version`` 2 behaviour (a catalogue of ``--catalog-size`` objects, 20 % held out, named
sensors only). The goal for the data: the ceiling through a held-out sensor within 0.1 of the ceiling on held-out
objects.

Usage:
    python benchmarks/touch_ceiling.py --data new --out ceiling_new.json            # GPU-sized defaults
    python benchmarks/touch_ceiling.py --data old --smoke                           # seconds on a CPU
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from envs.tactile.views import VIEWS

PROPS = ("hardness", "roughness", "bumpiness")
TRAIN_SENSORS = ["gelsight_mini", "digit", "gelsight_r15"]


@dataclass
class Args:
    data: str = "new"
    """new: the touch task's defaults; old: the data_version 2 catalogue without sensor randomisation"""
    train_contacts: int = 6000
    """train contacts; each is read through 2 train sensors (2 images)"""
    test_contacts: int = 400
    image_size: int = 64
    """images are rendered with this longest side, then resized to a square"""
    press_frames: int = 1
    """frames per press (force rising): each frame of a train reading is an image, other parts keep the last"""
    catalog_size: int = 80
    """--data old: catalogue objects (80: 64 seen, 16 held out)"""
    random_sensor_fraction: float | None = None
    """override of touch.random_sensor_fraction (--data new only)"""
    tactile_view: str | None = None
    """override of touch.tactile_view (--data new only; old data is always raw, as data version 2 was)"""
    objects: str | None = None
    """override of touch.objects (--data new only): fresh (held out by level combination, the default) or
    fresh_parameters (held out by continuous parameters at every level combination)"""
    width: int = 32
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    workers: int = 1
    """processes rendering the data (the data are the same for any number)"""
    threads: int = 0
    """torch CPU threads (0: torch's default; 1 is much faster on a CPU shared with other work)"""
    device: str = "auto"
    out: str | None = None
    smoke: bool = False


def parse_args() -> Args:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=("new", "old"), default=Args.data)
    for name in ("train_contacts", "test_contacts", "image_size", "press_frames", "catalog_size", "width", "epochs",
                 "batch_size", "seed", "workers", "threads"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(Args, name))
    p.add_argument("--lr", type=float, default=Args.lr)
    p.add_argument("--random-sensor-fraction", type=float, default=None)
    p.add_argument("--objects", choices=("fresh", "fresh_parameters"), default=None,
                   help="--data new: how held-out objects are chosen (default: the task's, fresh)")
    p.add_argument("--tactile-view", choices=VIEWS, default=None,
                   help="what the CNN sees of each frame (--data new; default: the touch task's default)")
    p.add_argument("--device", default=Args.device, help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: runs in seconds on a CPU")
    args = Args(**{k: v for k, v in vars(p.parse_args()).items()})
    if args.smoke:
        args.train_contacts, args.test_contacts, args.image_size = 24, 6, 32
        args.width, args.epochs, args.batch_size, args.threads = 8, 1, 16, 1
    return args


# ==========================================================================================================
# Data: the touch task's own contacts, one image per reading
# ==========================================================================================================
def data_config(args: Args):
    """The touch settings of ``--data``: level questions only, ``press_frames`` frames (default one), every non-train
    profile held out."""
    from envs.tactile import SENSORS
    from tasks.touch import TouchConfig

    common = dict(question_mix={"level": 1, "compare": 0, "superlative": 0, "conflict": 0, "cross_sensor": 0},
                  visual_context_fraction=0.0, press_frames=args.press_frames, image_size=args.image_size,
                  sensors_per_contact=2,
                  train_sensors=TRAIN_SENSORS, heldout_sensor=[s for s in SENSORS if s not in TRAIN_SENSORS],
                  train_contacts=args.train_contacts, test_contacts=args.test_contacts)
    if args.data == "old":
        return TouchConfig(**common, objects="catalog", num_materials=args.catalog_size,
                           heldout_material_fraction=0.2, random_sensor_fraction=0.0, tactile_view="raw")
    extra = {} if args.random_sensor_fraction is None else {"random_sensor_fraction": args.random_sensor_fraction}
    if args.tactile_view is not None:
        extra["tactile_view"] = args.tactile_view
    if args.objects is not None:
        extra["objects"] = args.objects
    return TouchConfig(**common, **extra)


def readings(cfg, seed: int, part: str, indices: range, catalog, size: int) -> list[tuple]:
    """``(image uint8 size x size x 3, levels (3,), group)`` of every reading of contacts ``indices`` of a part:

    * ``train``: train contacts (group ``train``);
    * ``val``: more train-split contacts, past the training ones, through the named train sensors only (group
      ``val``): old data, new presses of the seen catalogue objects; new data, fresh objects of the train
      level combinations;
    * ``test``: test contacts, through the train sensors (group ``heldout_objects``) and each held-out sensor
      (group: its name).
    """
    import dataclasses

    from PIL import Image

    from tasks.touch.contacts import draw_contact

    if part == "val":
        cfg = dataclasses.replace(cfg, random_sensor_fraction=0.0)
    out = []
    for i in indices:
        draw = draw_contact(cfg, seed, "test" if part == "test" else "train", i, catalog)
        for sensor, tag in draw.row_sensors:
            r = draw.readings[sensor][0]
            group = {"train": part, "heldout_material": "heldout_objects"}.get(tag, sensor)
            levels = np.array([r.levels[p] for p in PROPS])
            for frame in (r.frames if part == "train" else r.frames[-1:]):
                out.append((np.asarray(frame.resize((size, size), Image.BILINEAR), dtype=np.uint8), levels, group))
    return out


def build_data(args: Args, cfg) -> dict[str, tuple]:
    """``{group: (images N x 3 x S x S uint8, levels N x 3)}``, rendered in ``args.workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    from tqdm.auto import tqdm

    from embodied_r1.device import single_threaded_worker
    from tasks.touch.catalog import make_catalog

    catalog = (make_catalog(cfg.num_materials, cfg.num_levels, cfg.heldout_material_fraction, args.seed)
               if cfg.objects == "catalog" else None)
    n_train, n_test = cfg.train_contacts, cfg.test_contacts
    spans = {"train": range(0, n_train), "val": range(n_train, n_train + n_test), "test": range(0, n_test)}
    chunks = [(part, r[a:a + 50]) for part, r in spans.items() for a in range(0, len(r), 50)]
    bar = tqdm(total=n_train + 2 * n_test, desc=f"render ({args.data} data)", unit="contact")
    items: list[tuple] = []
    if args.workers <= 1:
        for split, idx in chunks:
            items += readings(cfg, args.seed, split, idx, catalog, args.image_size)
            bar.update(len(idx))
    else:
        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"),
                                 initializer=single_threaded_worker) as pool:
            futures = [pool.submit(readings, cfg, args.seed, s, idx, catalog, args.image_size) for s, idx in chunks]
            for (_, idx), f in zip(chunks, futures):  # in chunk order: the same data for any number of workers
                items += f.result()
                bar.update(len(idx))
    bar.close()
    groups: dict[str, tuple] = {}
    for name in dict.fromkeys(g for _, _, g in items):
        sel = [(im, lv) for im, lv, g in items if g == name]
        groups[name] = (np.stack([im for im, _ in sel]).transpose(0, 3, 1, 2), np.stack([lv for _, lv in sel]))
    return groups


# ==========================================================================================================
# Model: a small ResNet with one head per property
# ==========================================================================================================
def make_model(width: int, num_levels: int):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                      nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(cout))
            self.skip = (nn.Identity() if stride == 1 and cin == cout else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

        def forward(self, x):
            return torch.relu(self.body(x) + self.skip(x))

    class TactileNet(nn.Module):
        """Input: uint8 images, each standardised per channel (a sensor's background colour and gain drop out)."""

        def __init__(self):
            super().__init__()
            w = width
            # stride-2 stem as in ResNet-18 (which adds a max-pool too), then 3 stages of basic blocks
            self.net = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                                     Block(w, w, 1), Block(w, 2 * w, 2), Block(2 * w, 2 * w, 1),
                                     Block(2 * w, 4 * w, 2), Block(4 * w, 4 * w, 1), Block(4 * w, 8 * w, 2),
                                     nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Linear(8 * w, len(PROPS) * num_levels)

        def forward(self, x):
            x = x.float()
            x = (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + 1.0)
            return self.head(self.net(x)).view(len(x), len(PROPS), num_levels)

    return TactileNet()


def pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


# ==========================================================================================================
# Train and score
# ==========================================================================================================
def train(model, images: np.ndarray, levels: np.ndarray, args: Args, device: str) -> list[float]:
    """AdamW + cosine schedule, cross-entropy summed over the three heads, random flips; loss per epoch."""
    import torch
    from tqdm.auto import tqdm

    x_all, y_all = torch.from_numpy(images), torch.from_numpy(levels).long()
    steps = args.epochs * max(1, -(-len(x_all) // args.batch_size))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(args.seed)
    losses = []
    bar = tqdm(total=steps, desc="train", unit="step")
    for _ in range(args.epochs):
        model.train()
        total = 0.0
        for idx in torch.randperm(len(x_all), generator=gen).split(args.batch_size):
            x, y = x_all[idx].to(device), y_all[idx].to(device)
            if torch.rand(1, generator=gen).item() < 0.5:
                x = x.flip(3)
            if torch.rand(1, generator=gen).item() < 0.5:
                x = x.flip(2)
            loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss):.3f}")
        losses.append(total / len(x_all))
    bar.close()
    return losses


def score(model, images: np.ndarray, levels: np.ndarray, device: str, batch: int = 256) -> dict:
    """Accuracy and OMAE per property (and their means) of the model's argmax levels."""
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for a in range(0, len(images), batch):
            preds.append(model(torch.from_numpy(images[a:a + batch]).to(device)).argmax(-1).cpu().numpy())
    pred = np.concatenate(preds)
    err = np.abs(pred - levels)
    out = {p: {"acc": float((err[:, j] == 0).mean()), "omae": float(err[:, j].mean())} for j, p in enumerate(PROPS)}
    out["mean"] = {k: float(np.mean([out[p][k] for p in PROPS])) for k in ("acc", "omae")}
    out["n"] = len(images)
    return out


def print_table(results: dict, args: Args, device: str) -> None:
    print(f"\nCNN ceiling on single tactile images · {args.data} data · {device} · "
          f"{args.train_contacts} train contacts, {args.epochs} epochs, {args.image_size}px")
    head = "".join(f"{p:>20s}" for p in (*PROPS, "mean"))
    print(f"{'group':18s}{'n':>6s}{head}")
    for group, r in results.items():
        cells = "".join(f"{r[p]['acc']:.3f} / {r[p]['omae']:.3f}".rjust(20) for p in (*PROPS, "mean"))
        print(f"{group:18s}{r['n']:>6d}{cells}")
    print("(each cell: accuracy / OMAE in levels)")


if __name__ == "__main__":
    args = parse_args()
    import torch

    t0 = time.perf_counter()
    device = pick_device(args.device)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = data_config(args)

    # ---- data: train readings, held-out objects, each held-out sensor ----
    groups = build_data(args, cfg)
    render_s = time.perf_counter() - t0

    # ---- model and training ----
    model = make_model(args.width, cfg.num_levels).to(device)
    losses = train(model, *groups["train"], args, device)

    # ---- scores ----
    results = {name: score(model, *data, device) for name, data in groups.items()}
    sensors = [g for g in results if g not in ("train", "val", "heldout_objects")]
    gap = {s: results["heldout_objects"]["mean"]["acc"] - results[s]["mean"]["acc"] for s in sensors}
    print_table(results, args, device)
    print("held-out objects minus held-out sensor (mean accuracy): "
          + ", ".join(f"{s} {g:+.3f}" for s, g in gap.items()))
    out = {"args": asdict(args), "device": device, "torch": torch.__version__, "results": results,
           "gap_objects_minus_sensor": gap, "train_loss": losses, "render_s": render_s,
           "total_s": time.perf_counter() - t0}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {args.out}")
