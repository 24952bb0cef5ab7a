"""Supervised ceiling of the robot-keypoint data: how well can the next keypoint be predicted from what the
prompt shows, by small networks trained on the same demos?

The rows are the ones a run of the same config trains and evaluates on (the cached ``robot-keypoint`` dataset of
``--config`` and its seed, built when missing), ``keypoint`` questions only: the agentview image, the current
state ``[x, y, z, gripper]`` and the instruction's task in; the next keypoint out. Methods:

- ``stay``: the next keypoint is the current state (``baseline_answers``' ``stay``, as ``embodied-r1 eval``);
- ``nearest``: the target of the train row whose state (standardised, same task) is nearest;
- ``state_mlp``: an MLP from state and task to the move (target - current) and the gripper;
- ``cnn``: a small CNN on the image, joined with state and task, to the same outputs.

Each method's predictions are written as answers and scored by the project's own metric
(``tasks.robot_keypoint.metrics.robot_metrics``: ``keypoint_l2_mean`` in metres, ``keypoint_gripper_acc``), on the
``test`` split (held-out episodes of the training tasks) and on ``test_heldout_task`` (a task never trained on:
its task input is all zeros), overall and per robosuite task. The VLM's offline eval reports the same metric;
read it against these. ``--seed`` seeds the networks (init and batch order); the data seed is the config's
``seed``, so the rows are those of a run of the same config and overrides. On a CPU the numbers are the same for
a seed from run to run.

Usage:
    python benchmarks/robot_ceiling.py --threads 2 --out ceiling.json   # configs/robot_keypoint_small_gpu.yaml (~4 min
                                                                        # on 2 cores once its demos are recorded)
    python benchmarks/robot_ceiling.py --config configs/robot_keypoint_quickstart.yaml   # tiny data: no real ceiling
    python benchmarks/robot_ceiling.py --config configs/robot_keypoint_small_gpu.yaml seed=1 --seed 1   # overrides
    python benchmarks/robot_ceiling.py --smoke                  # quickstart data, 2 epochs of tiny networks
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from embodied_r1.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("stay", "nearest", "state_mlp", "cnn")
SPLITS = {"test": "test", "heldout_task": "test_heldout_task"}


def load_rows(config: str, overrides: list[str], workers: int | None):
    """The keypoint rows per split of the config's cached dataset (built when missing), and the task config."""
    from embodied_r1.cli import _resolve
    from embodied_r1.data import load_or_build
    from embodied_r1.registry import REGISTRY

    cfg = _resolve(None, config, tuple(overrides), [])
    if cfg.task != "robot-keypoint":
        raise UserError(f"{config} is a '{cfg.task}' config; give a robot-keypoint one")
    ds, path = load_or_build(REGISTRY.make(cfg.task), cfg.task_config, cfg.seed, num_workers=workers or cfg.data_workers)
    out = {}
    for name in ("train", *SPLITS.values()):
        if name not in ds:
            continue
        d = ds[name].filter(lambda q: q == "keypoint", input_columns="question_type")
        out[name] = [dict(r) for r in d]
    if not out.get("train"):
        raise UserError(f"the dataset {path} has no train keypoint rows; record more episodes")
    return out, cfg, path


def features(rows, tasks: list[str], size: int):
    """``(images [N,3,size,size] float, state [N,4+T], move [N,3], grip [N])`` of keypoint rows."""
    from PIL import Image

    imgs = np.stack([np.asarray(r["images"][0].convert("RGB").resize((size, size), Image.BILINEAR), np.float32) / 255.0
                     for r in rows]).transpose(0, 3, 1, 2)
    onehot = np.array([[float(r["task_name"] == t) for t in tasks] for r in rows], np.float32).reshape(len(rows), len(tasks))
    cur = np.array([r["current"] for r in rows], np.float32)
    tgt = np.array([r["target"] for r in rows], np.float32)
    return imgs, np.concatenate([cur, onehot], 1), tgt[:, :3] - cur[:, :3], (tgt[:, 3] >= 0.5).astype(np.float32)


def answer(vec) -> str:
    from tasks.robot_keypoint.prompts import fmt_vec

    return f"<think>ceiling</think><answer>{fmt_vec(vec)}</answer>"


KEEP = ("n", "keypoint_l2_mean", "keypoint_l2_median", "keypoint_gripper_acc", "keypoint_parse_rate")


def score(answers: list[str], rows: list[dict]) -> dict:
    """``robot_metrics`` of the answers: the keypoint entries, ``<Task>/keypoint_l2_mean``, and under ``per_task``
    every keypoint entry of each task's rows alone (the same metric on the subset)."""
    from tasks.robot_keypoint.metrics import robot_metrics

    m = robot_metrics(answers, rows)
    out = {k: v for k, v in m.items() if k in KEEP or k.endswith("/keypoint_l2_mean")}
    out["per_task"] = {}
    for task in sorted({r["task_name"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["task_name"] == task]
        sub = robot_metrics([answers[i] for i in idx], [rows[i] for i in idx])
        out["per_task"][task] = {k: v for k, v in sub.items() if k in KEEP}
    return out


def nearest_answers(train, rows, tasks):
    """The target of the nearest train row (same task when the row's task was trained on; any task otherwise)."""
    cur = np.array([r["current"] for r in train], np.float64)
    mu, sd = cur.mean(0), cur.std(0) + 1e-6
    z = (cur - mu) / sd
    by_task = {t: np.array([i for i, r in enumerate(train) if r["task_name"] == t]) for t in tasks}
    out = []
    for r in rows:
        idx = by_task.get(r["task_name"])
        idx = idx if idx is not None and len(idx) else np.arange(len(train))
        q = (np.asarray(r["current"], np.float64) - mu) / sd
        j = idx[int(np.argmin(((z[idx] - q) ** 2).sum(1)))]
        out.append(answer(train[j]["target"]))
    return out


def build_net(kind: str, state_dim: int, width: int):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = None
            feat = 0
            if kind == "cnn":
                def block(i, o):
                    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))
                self.cnn = nn.Sequential(block(3, width), block(width, 2 * width), block(2 * width, 4 * width),
                                         block(4 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
                feat = 4 * width
            self.head = nn.Sequential(nn.Linear(feat + state_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                      nn.Linear(256, 4))

        def forward(self, img, state):
            x = state if self.cnn is None else torch.cat([self.cnn(img), state], 1)
            return self.head(x)

    return Net()


def train_net(kind, data, args, device, log):
    """Train one network; returns it, its state normalisation and its loss per epoch (MSE of the move in
    decimetres, i.e. dm², + gripper BCE)."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    imgs, state, move, grip = (torch.as_tensor(a) for a in data)
    s_mu, s_sd = state.mean(0), state.std(0) + 1e-6
    net = build_net(kind, state.shape[1], args.width).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * math.ceil(len(state) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(args.seed)
    losses = []
    from tqdm import tqdm

    bar = tqdm(range(args.epochs), desc=f"train {kind}", disable=not args.progress)
    for _ in bar:
        perm, total, n = torch.randperm(len(state), generator=gen), 0.0, 0
        net.train()
        for i in range(0, len(perm), args.batch_size):
            b = perm[i:i + args.batch_size]
            out = net(imgs[b].to(device), ((state[b] - s_mu) / s_sd).to(device))
            loss = F.mse_loss(out[:, :3] * 10, move[b].to(device) * 10) + \
                F.binary_cross_entropy_with_logits(out[:, 3], grip[b].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, n = total + loss.item() * len(b), n + len(b)
        losses.append(total / n)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    net.eval()
    return net, (s_mu, s_sd), losses


def net_answers(net, norm, data, rows, device, batch=512):
    import torch

    imgs, state = torch.as_tensor(data[0]), torch.as_tensor(data[1])
    s_mu, s_sd = norm
    outs = []
    with torch.no_grad():
        for i in range(0, len(state), batch):
            outs.append(net(imgs[i:i + batch].to(device), ((state[i:i + batch] - s_mu) / s_sd).to(device)).cpu())
    out = torch.cat(outs).numpy() if outs else np.zeros((0, 4))
    return [answer([*(np.asarray(r["current"][:3]) + o[:3]), float(o[3] > 0)]) for o, r in zip(out, rows)]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; give auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available here; give cpu or auto")
    return name


def print_table(results: dict, groups: dict, path: Path, n_train: int) -> None:
    """Per group, then per task of the evaluated groups: L2 mean / median (m) and gripper accuracy per method."""
    nan = float("nan")

    def cell(r: dict) -> str:
        return (f"{r.get('keypoint_l2_mean', nan):.4f} / {r.get('keypoint_l2_median', nan):.4f} / "
                f"{r.get('keypoint_gripper_acc', nan):.2f}")

    print(f"\nkeypoint rows of {path.name} (train {n_train} rows); each cell: "
          "keypoint L2 mean / median (m) / gripper accuracy")
    print(f"{'group':<28}" + "".join(f"{m:>26}" for m in METHODS))
    lines = [(f"{g} ({len(rs)})", [results[m][g] for m in METHODS]) for g, rs in groups.items()]
    lines += [(f"  {g}/{t} ({r['n']})", [results[m][g]["per_task"][t] for m in METHODS])
              for g in groups if g != "train" and len(results["stay"][g]["per_task"]) > 1
              for t, r in results["stay"][g]["per_task"].items()]
    for name, rs in lines:
        print(f"{name:<28}" + "".join(f"{cell(r):>26}" for r in rs))


def main(argv=None) -> int:
    try:
        return run(argv)
    except UserError as exc:
        print(f"robot_ceiling: {exc}", file=sys.stderr)
        return 2


def run(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="config overrides (key=value), as for embodied-r1 train")
    ap.add_argument("--config", default="configs/robot_keypoint_small_gpu.yaml",
                    help="a robot-keypoint YAML (default: the small GPU recipe's data; --smoke: the quickstart's); "
                         "its dataset is built when not cached")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0, help="network init and batch order (the data seed is the config's)")
    ap.add_argument("--workers", type=int, default=None, help="processes that record demos if the data is not cached")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    ap.add_argument("--smoke", action="store_true",
                    help="2 epochs of width-8 networks on 32 px images (sizes given on the line stay)")
    ap.add_argument("--no-progress", dest="progress", action="store_false")
    ap.add_argument("--out", type=Path, help="JSON of the results")
    args = ap.parse_args(argv)
    for name in ("epochs", "width", "image_size", "batch_size"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.lr > 0:
        ap.error(f"--lr must be > 0, got {args.lr}")
    if args.workers is not None and args.workers < 1:
        ap.error(f"--workers must be >= 1, got {args.workers}")
    if args.smoke:
        if args.config == ap.get_default("config"):
            args.config = "configs/robot_keypoint_quickstart.yaml"
        for name, tiny in (("epochs", 2), ("width", 8), ("image_size", 32)):  # what is given on the line stays
            if getattr(args, name) == ap.get_default(name):
                setattr(args, name, tiny)
    if not Path(args.config).is_file() and (ROOT / args.config).is_file():
        args.config = str(ROOT / args.config)  # the repo's configs/ from any working folder
    if not Path(args.config).is_file():
        print(f"robot_ceiling: no config file {args.config}; give --config a robot-keypoint YAML", file=sys.stderr)
        return 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    t0 = time.time()
    rows, cfg, path = load_rows(args.config, args.overrides, args.workers)
    data_s = time.time() - t0
    tasks = list(cfg.task_config.tasks)
    train = rows["train"]
    train_data = features(train, tasks, args.image_size)
    results: dict = {m: {} for m in METHODS}
    losses = {}
    nets = {}
    train_s = {}
    for kind in ("state_mlp", "cnn"):
        t1 = time.time()
        nets[kind] = train_net(kind, train_data, args, device, print)
        losses[kind] = nets[kind][2]
        train_s[kind] = round(time.time() - t1, 1)
    from tasks.robot_keypoint.metrics import baseline_answers

    groups = {"train": train, **{g: rows[s] for g, s in SPLITS.items() if rows.get(s)}}
    for group, rs in groups.items():
        data = features(rs, tasks, args.image_size)
        answers = {"stay": baseline_answers(rs)["stay"], "nearest": nearest_answers(train, rs, tasks)}
        for kind, (net, norm, _) in nets.items():
            answers[kind] = net_answers(net, norm, data, rs, device)
        for m in METHODS:
            results[m][group] = score(answers[m], rs)
    report = {
        "config": args.config, "overrides": args.overrides, "dataset": str(path), "data_seed": cfg.seed,
        "rows": {g: len(rs) for g, rs in groups.items()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "overrides")},
        "device": (torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda")
                   else f"cpu ({cpu_name()}, {torch.get_num_threads()} threads)"),
        "torch": torch.__version__, "tasks": tasks, "heldout_task": cfg.task_config.heldout_task,
        "results": results, "train_loss": losses, "data_s": round(data_s, 1), "train_s": train_s,
        "wall_s": round(time.time() - t0, 1),
    }
    print_table(results, groups, path, len(train))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
