"""``benchmarks/touch_ceiling.py`` runs end to end at tiny size on both data defaults: table, JSON, and the same
rendered data for 1 and 2 workers. Its numbers are measurements, never asserted against targets here."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.benchmarks.test_smoke import _run


@pytest.mark.parametrize("data", ["old", "new"])
def test_touch_ceiling_smoke(tmp_path, data):
    out = tmp_path / "ceiling.json"
    stdout = _run("touch_ceiling.py", ["--smoke", "--data", data, "--device", "cpu", "--out", str(out)], tmp_path)
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["args"]["data"] == data
    assert set(result["results"]) == {"train", "val", "heldout_objects", "marker_gel", "tac3d", "dm_tac"}
    for group, r in result["results"].items():
        assert r["n"] > 0 and 0.0 <= r["mean"]["acc"] <= 1.0 and 0.0 <= r["hardness"]["omae"] <= 2.0, group
    assert set(result["gap_objects_minus_sensor"]) == {"marker_gel", "tac3d", "dm_tac"}
    assert "heldout_objects" in stdout and "accuracy / OMAE" in stdout


def test_touch_ceiling_data_is_the_same_for_any_number_of_workers(monkeypatch):
    import importlib
    from pathlib import Path

    # on sys.path for the whole test: the spawned workers import the script by name
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    mod = importlib.import_module("touch_ceiling")
    args = mod.Args(train_contacts=60, test_contacts=3, image_size=24)
    cfg = mod.data_config(args)
    one = mod.build_data(args, cfg)
    args.workers = 2
    two = mod.build_data(args, cfg)
    assert list(one) == list(two)
    for g in one:
        assert np.array_equal(one[g][0], two[g][0]) and np.array_equal(one[g][1], two[g][1]), g
    # old data: train and held-out objects come from a catalogue split; new data: fresh train levels avoid the rule
    from tasks.touch.objects import is_heldout_combo

    assert not any(is_heldout_combo(tuple(lv), 3) for lv in np.concatenate([one["train"][1], one["val"][1]]))
    assert all(is_heldout_combo(tuple(lv), 3) for lv in one["heldout_objects"][1])


def test_touch_tower_smoke(tmp_path):
    """``benchmarks/touch_tower.py`` trains a preset's tower with a head and reports accuracy per group."""
    out = tmp_path / "tower.json"
    stdout = _run("touch_tower.py", ["--smoke", "--device", "cpu", "--out", str(out)], tmp_path)
    result = json.loads(out.read_text())
    assert [h["step"] for h in result["history"]] == [2, 3]
    assert {"train", "heldout_objects", "marker_gel"} <= set(result["final"])
    for acc in result["final"].values():
        assert set(acc) == {"hardness", "roughness", "bumpiness"} and all(0 <= v <= 1 for v in acc.values())
    assert "tiny tower, difference view, mean pool," in stdout and " 3 steps: accuracy" in stdout
    assert result["tokens_per_image"] >= 1
    assert [h["lr"] for h in result["history"]] == [1e-3, 1e-3]  # constant by default


def test_touch_tower_trainer_like_follows_the_encoder_stage_schedule(tmp_path):
    """``--trainer-like``: the Trainer's linear warm-up (50 steps), weight decay, clipping and bf16 autocast."""
    out = tmp_path / "tower.json"
    _run("touch_tower.py", ["--smoke", "--device", "cpu", "--trainer-like", "--lr", "5e-4", "--out", str(out)],
         tmp_path)
    result = json.loads(out.read_text())
    a = result["args"]
    assert (a["schedule"], a["warmup"], a["weight_decay"], a["max_grad_norm"], a["bf16_autocast"]) == (
        "linear", 50, 0.05, 1.0, True)
    assert [h["lr"] for h in result["history"]] == pytest.approx([5e-4 * 2 / 50, 5e-4 * 3 / 50])
    assert all(h["grad_norm_median"] > 0 for h in result["history"])


def test_touch_tower_refuses_a_cache_of_other_images(tmp_path):
    """``--render-only`` writes the image cache; a run with other data settings on that cache stops with one line
    instead of training on images it did not ask for."""
    import subprocess
    import sys

    cache = tmp_path / "images.npz"
    stdout = _run("touch_tower.py", ["--smoke", "--device", "cpu", "--data-cache", str(cache), "--render-only"],
                  tmp_path)
    assert cache.exists() and "images in" in stdout
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "touch_tower.py"
    res = subprocess.run([sys.executable, str(script), "--smoke", "--device", "cpu", "--data-cache", str(cache),
                          "--press-frames", "4"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode != 0 and '"press_frames": 1' in res.stderr and "delete it or pass another --data-cache" \
        in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr


def test_touch_tower_sweep_smoke(tmp_path):
    """The sweep script renders once, runs each variant on the cached images (a variant of other images on its own
    cache), prints one row per variant and draws the held-out accuracy per evaluation."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    variants = {"mean_112", "attention_112", "mean_112_lr3e-4_frames4"}
    # the variant of other images first: each cache is still rendered once, before the variants train
    env = {**os.environ, "SMOKE": "1", "VARIANTS": "mean_112_lr3e-4_frames4 mean_112 attention_112", "PARALLEL": "3"}
    res = subprocess.run(["bash", str(root / "experiments" / "touch_tower_sweep.sh"), str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    table = res.stdout.split("\n\n")[0].splitlines()[1:]
    assert {line.split()[0] for line in table} == variants, res.stdout
    got = {v: json.loads((tmp_path / f"{v}.json").read_text()) for v in variants}
    assert {r["args"]["pool"] for r in got.values()} == {"mean", "attention"}
    # every frame of a 4-frame press is a training image; the other variants read one frame per reading
    assert got["mean_112_lr3e-4_frames4"]["train_images"] == 4 * got["mean_112"]["train_images"] > 0
    assert got["mean_112"]["train_images"] == got["attention_112"]["train_images"]
    assert (tmp_path / "heldout_accuracy.png").stat().st_size > 0 and not list(tmp_path.glob("images*.npz"))
    renders = sorted(f.name for f in tmp_path.glob("render_*.log"))
    assert renders == ["render_images.log", "render_images_press_frames_4.log"]
    bad = subprocess.run(["bash", str(root / "experiments" / "touch_tower_sweep.sh"), str(tmp_path / "x")],
                         env={**env, "VARIANTS": "nope"}, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown variant 'nope'" in bad.stderr


def test_touch_encoder_ablation_smoke(tmp_path):
    """The ablation script runs the encoder stage once per variant, each with its own change, and tabulates the
    probes; an unknown variant is one clear line."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    script = str(root / "experiments" / "touch_encoder_ablation.sh")
    env = {**os.environ, "SMOKE": "1", "VARIANTS": "full property_only_native", "HF_HUB_OFFLINE": "1", "PARALLEL": "2"}
    res = subprocess.run(["bash", script, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = {line.split()[0]: line for line in res.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {"full", "property_only_native"} and "no probe" not in res.stdout, res.stdout
    train = {v: [json.loads(x) for x in (tmp_path / v / "metrics.jsonl").read_text().splitlines()] for v in rows}
    terms = {v: {k for r in rs if r.get("kind") == "train" for k in r if k.endswith("_loss")} for v, rs in train.items()}
    assert terms["full"] == {"jepa_loss", "property_loss", "contrastive_loss"}
    assert terms["property_only_native"] == {"property_loss"}
    sizes = {v: yaml.safe_load((tmp_path / v / "config.yaml").read_text())["touch"]["image_size"] for v in rows}
    assert sizes == {"full": 112, "property_only_native": None}  # the config's 112 px, and the sensors' own sizes
    bad = subprocess.run(["bash", script, str(tmp_path / "x")], env={**env, "VARIANTS": "nope"},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown variant 'nope'" in bad.stderr


def test_touch_ceiling_objects_flag_holds_out_by_parameters(monkeypatch):
    """``--objects fresh_parameters``: held-out objects of level combinations the level rule keeps for train."""
    import importlib

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    mod = importlib.import_module("touch_ceiling")
    from tasks.touch.objects import is_heldout_combo

    args = mod.Args(train_contacts=4, test_contacts=12, image_size=16, objects="fresh_parameters")
    cfg = mod.data_config(args)
    assert cfg.objects == "fresh_parameters" and mod.data_config(mod.Args()).objects == "fresh"
    held = mod.build_data(args, cfg)["heldout_objects"][1]
    assert not all(is_heldout_combo(tuple(lv), 3) for lv in held)


def test_touch_chain_script_runs_encoder_sft_eval_and_goes_on_where_it_stopped(tmp_path):
    """experiments/touch_chain.sh: the encoder stage, SFT from its model and eval, one run folder per variant with
    the variant's held-out rule; the table and chain.json hold the probe and the after-SFT accuracy per property.
    A second call finds the runs done and evaluates only what lacks an eval; an unknown variant is one line. The
    variant run here sets its own data sizes (10,000 train contacts): under SMOKE the tiny sizes win."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    script = str(root / "experiments" / "touch_chain.sh")
    env = {**os.environ, "SMOKE": "1", "VARIANTS": "parameters_rows4x", "HF_HUB_OFFLINE": "1",
           "EXTRA": "seed=3 eval.counterfactual=false"}
    res = subprocess.run(["bash", script, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    run = tmp_path / "parameters_rows4x"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["touch"]["objects"] == "fresh_parameters" and cfg["seed"] == 3 and cfg["stages"] == ["encoder", "sft"]
    assert cfg["touch"]["train_contacts"] == 8 and cfg["model"]["name"] == "tiny"
    assert json.loads((run / "run.json").read_text())["done"] == ["encoder", "sft"]
    chain = json.loads((tmp_path / "chain.json").read_text())["parameters_rows4x"]
    assert set(chain["probe"]) == set(chain["after_sft"]) == {"hardness", "roughness", "bumpiness"}
    assert all(0.0 <= v <= 1.0 for v in chain["probe"].values())
    assert "parameters_rows4x" in res.stdout.splitlines()[1] and "not reached" not in res.stdout
    # a run without its eval: the second call trains nothing and evaluates it again
    import shutil
    shutil.rmtree(run / "eval")
    with (run / "metrics.jsonl").open("a") as f:  # a line torn by a kill -9 mid-write
        f.write('{"stage": "sft", "kind": "tr')
    log_before = (tmp_path / "parameters_rows4x.log").read_text()
    again = subprocess.run(["bash", script, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    added = (tmp_path / "parameters_rows4x.log").read_text()[len(log_before):]
    assert "stage encoder" not in added and "results:" in added and (run / "eval" / "eval.json").exists()
    assert json.loads((tmp_path / "chain.json").read_text())["parameters_rows4x"]["probe"] == chain["probe"]
    bad = subprocess.run(["bash", script, str(tmp_path / "x")], env={**env, "VARIANTS": "nope"},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown variant 'nope'" in bad.stderr
