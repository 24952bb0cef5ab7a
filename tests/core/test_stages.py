"""The stage registry and the encoder stage: preflight refusals, the encoder -> SFT -> GRPO chain through the
checkpoints on disk, and a kill -9 inside the encoder stage resumed into the same run."""

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from embodied_r1.checkpoints import MARKER
from embodied_r1.cli import main
from embodied_r1.config import ModelConfig
from embodied_r1.errors import UserError
from embodied_r1.models.factory import make_model, vision_tower
from embodied_r1.rundir import RunDir
from embodied_r1.stages import get_stage
from tests.fixtures.train_process import kill9_train_when, run_train, train_env

TOUCH_FAST = ["touch.train_contacts=8", "touch.test_contacts=3", "touch.num_materials=12"]
ENCODER_FAST = ["encoder.max_steps=4", "encoder.save_steps=2", "encoder.frames=3", "encoder.batch_size=4"]


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _one_error(res) -> str:
    errors = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert res.exit_code == 2 and len(errors) == 1, res.output
    return errors[0]


def _visual(folder) -> dict:
    """The vision-tower tensors of a saved model folder (hub key layout: ``visual.*``)."""
    return {k: v for k, v in load_file(folder / "model.safetensors").items() if "visual." in k}


def test_unknown_stage_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown stage 'warmup'; known stages: encoder, sft, grpo"):
        get_stage("warmup")
    res = run(["train", "--task", "touch", "stages=[encoder,warmup]"])
    assert "encoder, sft, grpo" in _one_error(res)


@pytest.mark.parametrize("args,message", [
    (["stages=[encoder,sft]"], "task 'toy' offers no frame sequences for the encoder stage"),
    (["stages=[encoder]", "encoder.frames=1"], "encoder.frames must be an integer >= 2"),
    (["stages=[encoder]", "encoder.predict=pixels"], "encoder.predict 'pixels' is not one of pooled, patch"),
    (["stages=[encoder]", "encoder.ema_decay=1.0"], "encoder.ema_decay must be in [0, 1)"),
    (["stages=[encoder]", "encoder.ema_dacay=0.9"], "did you mean 'ema_decay'"),
    (["stages=[encoder]", "encoder.jepa_weight=0", "encoder.property_weight=0", "encoder.contrastive_weight=0"],
     "would train nothing"),
    (["stages=[encoder]", "encoder.jepa_weight=-1"], "encoder.jepa_weight must be >= 0"),
])
def test_bad_encoder_settings_fail_before_any_work(tmp_path, toy_registered, monkeypatch, args, message):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMBODIED_R1_DATA", str(cache))
    out = tmp_path / "run"
    res = run(["train", "--task", "toy", "--output", str(out), *args])
    assert message in _one_error(res)
    assert not out.exists() and not cache.exists()


def test_a_modality_the_task_lacks_is_refused(tmp_path):
    res = run(["train", "--task", "touch", "--output", str(tmp_path / "run"), "stages=[encoder]",
               "encoder.modality=visual", *TOUCH_FAST])
    assert "encoder.modality 'visual' is not one task 'touch' offers: tactile" in _one_error(res)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_encoder_sft_grpo_chain_through_the_saved_models(tmp_path):
    """The CLI's full Touch-R1 chain on tiny: SFT and GRPO keep the tower frozen here, so the final model's tower
    is exactly the one the encoder stage saved, which differs from the preset's: SFT started from that folder."""
    out = tmp_path / "run"
    res = run(["train", "--task", "touch", "--output", str(out), "stages=[encoder,sft,grpo]", "model.freeze_vision=true",
               *ENCODER_FAST, "sft.max_steps=2", "grpo.max_steps=1", "grpo.max_completion_length=8",
               "grpo.num_completions_to_print=0", *TOUCH_FAST])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "run.json").read_text())["done"] == ["encoder", "sft", "grpo"]
    assert f"stage sft: loading the model of the previous stage from {out / 'encoder' / 'final'}" in res.output
    assert f"stage grpo: loading the model of the previous stage from {out / 'sft' / 'final'}" in res.output
    encoded, final = _visual(out / "encoder" / "final"), _visual(out / "final")
    preset, _ = make_model(ModelConfig(name="tiny"), seed=0)
    preset.save_pretrained(tmp_path / "preset")
    start = _visual(tmp_path / "preset")
    assert encoded.keys() == final.keys() == start.keys() and encoded
    assert all(torch.equal(encoded[k], final[k]) for k in encoded), "SFT/GRPO must start from the encoder's tower"
    assert not all(torch.equal(encoded[k], start[k]) for k in encoded), "the encoder stage trained the tower"
    rows = RunDir(out).read_metrics(kind=None)
    assert {r["stage"] for r in rows if r["kind"] == "train"} == {"encoder", "sft", "grpo"}
    (probe,) = [r for r in rows if r["kind"] == "probe"]
    for s in ("heldout_objects", "heldout_sensor"):
        for p in ("hardness", "roughness", "bumpiness"):
            assert 0.0 <= probe[f"probe/{s}/{p}"] <= 1.0 and f"probe_before/{s}/{p}" in probe
    assert {"jepa_loss", "property_loss", "contrastive_loss"} <= set(rows[0])
    for png in ("encoder_probe.png", "encoder_metrics.png", "sft_metrics.png", "rewards.png"):
        assert (out / "plots" / png).stat().st_size > 0, png


@pytest.mark.slow
def test_lora_encoder_is_merged_into_a_plain_tower(tmp_path):
    out = tmp_path / "run"
    res = run(["train", "--task", "touch", "--output", str(out), "stages=[encoder]", "encoder.lora=true",
               "encoder.lora_r=4", "encoder.predict=patch", "encoder.probe=false", *ENCODER_FAST, *TOUCH_FAST])
    assert res.exit_code == 0, res.output
    saved = load_file(out / "final" / "model.safetensors")
    assert not [k for k in saved if "lora" in k]
    model, _ = make_model(ModelConfig(name=str(out)))  # loads as a plain Qwen2.5-VL folder
    preset, _ = make_model(ModelConfig(name="tiny"), seed=0)
    a, b = vision_tower(model).state_dict(), vision_tower(preset).state_dict()
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert changed and all(("blocks" in k or "merger" in k) and "norm" not in k for k in changed), changed


def test_the_target_moves_only_by_its_moving_average():
    from embodied_r1.stages.jepa import JEPAEncoder

    model, processor = make_model(ModelConfig(name="tiny"), seed=0)
    tower = vision_tower(model)
    jepa = JEPAEncoder(tower, tower.config.out_hidden_size, num_properties=1, property_weight=1.0,
                       contrastive_weight=1.0)
    import numpy as np

    frames = [np.full((56, 56, 3), v, np.uint8) for v in (10, 80, 160, 240)]
    now = processor.image_processor(images=frames, return_tensors="pt")
    nxt = processor.image_processor(images=frames[::-1], return_tensors="pt")
    out = jepa(now["pixel_values"], now["image_grid_thw"], nxt["pixel_values"], nxt["image_grid_thw"],
               torch.tensor([0, 0, 1, 1]), torch.ones(4, 1) * 0.5, torch.ones(4, 1))
    out["loss"].backward()
    assert set(out) == {"loss", "jepa_loss", "property_loss", "contrastive_loss"}
    assert all(p.grad is None for p in jepa.target.parameters()), "stop-gradient on the target"
    name, p = next((n, p) for n, p in tower.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0)
    before = dict(jepa.target.named_parameters())[name].detach().clone()
    with torch.no_grad():
        p.add_(1.0)
    jepa.update_target(0.75)
    after = dict(jepa.target.named_parameters())[name]
    assert torch.allclose(after, before + 0.25)


def test_probe_rows_are_dropped_on_resume(tmp_path):
    run_dir = RunDir(tmp_path)
    run_dir.write_info(task="t", stages=["encoder", "sft"], done=[])
    for r in ({"stage": "encoder", "kind": "train", "step": 2}, {"stage": "encoder", "kind": "train", "step": 4},
              {"stage": "encoder", "kind": "probe", "step": 4, "probe/a/b": 0.5}):
        run_dir.append_metrics(r)
    assert run_dir.truncate_metrics("encoder", 4) == 1
    assert [r["kind"] for r in run_dir.read_metrics(kind=None)] == ["train", "train"]


ENCODER_RUN = ["--task", "touch", "stages=[encoder]", "encoder.max_steps=12", "encoder.save_steps=4",
               "encoder.frames=3", "encoder.batch_size=4", *TOUCH_FAST]


@pytest.mark.slow
def test_kill9_inside_the_encoder_stage_resumes_the_same_run(tmp_path):
    env = train_env(tmp_path)
    ref, out = tmp_path / "ref", tmp_path / "run"
    assert run_train([*ENCODER_RUN, "--output", str(ref)], env).returncode == 0
    kill9_train_when([*ENCODER_RUN, "--output", str(out)], env,
                     lambda: (out / "encoder" / "checkpoint-4" / MARKER).exists() and len(RunDir(out).read_metrics()) >= 6)
    assert not (out / "final").exists()
    res = run_train(["--output", str(out), "--resume"], env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "stage encoder: resuming from" in res.stdout
    got, want = RunDir(out).read_metrics(kind=None), RunDir(ref).read_metrics(kind=None)
    assert [r["step"] for r in got if r["kind"] == "train"] == list(range(1, 13)), "every step exactly once"
    assert [r["kind"] for r in got].count("probe") == 1
    # the same online tower, EMA target, heads, optimizer and batches: every term of every step is the same
    for a, b in zip([r for r in got if r["kind"] == "train"], [r for r in want if r["kind"] == "train"]):
        for k in ("loss", "jepa_loss", "property_loss", "contrastive_loss", "learning_rate"):
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5), (a["step"], k)
    pa, pb = _visual(out / "final"), _visual(ref / "final")
    assert all(torch.allclose(pa[k], pb[k], atol=1e-5) for k in pa)


@pytest.mark.parametrize("mode", ["classify", "regress"])
def test_the_property_head_learns_the_levels_of_a_fixed_batch(mode):
    """Either property loss falls when the head and tower fit four images with distinct levels; the classifier
    starts at the cross-entropy of a uniform guess over K levels."""
    import math

    import numpy as np

    from embodied_r1.stages.jepa import JEPAEncoder

    torch.manual_seed(0)
    model, processor = make_model(ModelConfig(name="tiny", dtype="float32"), seed=0)
    tower = vision_tower(model)
    jepa = JEPAEncoder(tower, tower.config.out_hidden_size, num_properties=2, property_weight=1.0,
                       property_mode=mode, num_levels=[3, 4])
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (56, 56, 3), dtype=np.uint8) for _ in range(4)]
    batch = processor.image_processor(images=frames, return_tensors="pt")
    levels = torch.tensor([[0.0, 0.0], [0.5, 1 / 3], [1.0, 2 / 3], [0.5, 1.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # one missing label
    args = (batch["pixel_values"], batch["image_grid_thw"], batch["pixel_values"], batch["image_grid_thw"],
            torch.arange(4), levels, mask)
    opt = torch.optim.Adam([p for p in jepa.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(30):
        out = jepa(*args)
        first = float(out["property_loss"]) if first is None else first
        opt.zero_grad()
        out["property_loss"].backward()
        opt.step()
    if mode == "classify":
        assert abs(first - (3 * math.log(3) + 2 * math.log(4)) / 5) < 0.3, first
    assert float(jepa(*args)["property_loss"]) < 0.5 * first


def test_encoder_events_is_refused_for_a_task_whose_encoder_data_takes_none():
    """A plug-in task written against the four-argument ``encoder_data`` still runs (no extra arguments are
    passed); asking it for ``encoder.events`` is one clear error before any work."""
    from embodied_r1.config import TrainConfig
    from embodied_r1.stages.encoder import encoder_data_kwargs

    class Old:
        name = "old-task"

        def encoder_data(self, cfg, seed, modality, frames):
            return None

    class New(Old):
        def encoder_data(self, cfg, seed, modality, frames, events=None, num_workers=1):
            return None

    cfg = TrainConfig(task="touch", data_workers=3)
    assert encoder_data_kwargs(cfg, Old()) == {}
    assert encoder_data_kwargs(cfg, New()) == {"num_workers": 3}
    cfg.encoder.events = 50
    assert encoder_data_kwargs(cfg, New()) == {"events": 50, "num_workers": 3}
    with pytest.raises(UserError, match="encoder.events"):
        encoder_data_kwargs(cfg, Old())


def test_a_bf16_model_trains_its_tower_with_float32_master_weights(tmp_path):
    """Adam's small steps round away in bf16 weights: the stage keeps float32 master weights (its checkpoints hold
    them) and hands the model back in the dtype it came in (the saved tower is bf16 again)."""
    out = tmp_path / "run"
    res = run(["train", "--task", "touch", "--output", str(out), "stages=[encoder]", "model.dtype=bfloat16",
               "encoder.probe=false", *ENCODER_FAST, *TOUCH_FAST])
    assert res.exit_code == 0, res.output
    ckpts = sorted(out.glob("**/checkpoint-*/model.safetensors"))
    assert ckpts, sorted(str(p.relative_to(out)) for p in out.rglob("*"))[:40]
    online = {k: v for k, v in load_file(ckpts[-1]).items() if k.startswith("online.")}
    assert online and {v.dtype for v in online.values()} == {torch.float32}
    saved = _visual(out / "final")
    assert saved and {v.dtype for v in saved.values()} == {torch.bfloat16}
    trained = vision_tower(make_model(ModelConfig(name=str(out / "final")))[0]).state_dict()
    start = vision_tower(make_model(ModelConfig(name="tiny", dtype="bfloat16"), seed=0)[0]).state_dict()
    assert any(not torch.equal(trained[k].bfloat16(), start[k]) for k in start), "the tower trained"


def test_every_frame_of_a_press_trains_the_heads_and_only_transitions_train_the_predictor():
    """The last frame of a sequence (the deepest press, the one the questions show and the probe reads) is a row of
    the property and contrastive terms; the JEPA term reads only rows with a frame t+1, exactly as if the others
    were not in the batch."""
    import numpy as np

    from embodied_r1.stages.encoder_batches import TransitionCollator, TransitionDataset
    from embodied_r1.stages.jepa import JEPAEncoder
    from embodied_r1.task import EncoderSequence

    torch.manual_seed(0)
    model, processor = make_model(ModelConfig(name="tiny", dtype="float32"), seed=0)
    rng = np.random.default_rng(0)
    seqs = [EncoderSequence(frames=[rng.integers(0, 255, (56, 56, 3), dtype=np.uint8) for _ in range(3)],
                            group=f"e{e}", view=v, labels={"hardness": e % 3}) for e in range(2) for v in ("a", "b")]
    ds = TransitionDataset(seqs, ["hardness"], {"hardness": 3})
    assert len(ds) == 2 * 3 and ds.steps == 2
    last = ds[2]  # event 0, frame 2
    assert [r["next"] for r in last] == [None, None]
    assert all(np.array_equal(r["now"], s.frames[2]) for r, s in zip(last, seqs[:2]))
    collate = TransitionCollator(processor.image_processor)
    batch = collate([ds[1], ds[2]])  # one transition item and one last-frame item: 4 rows, 2 with a next frame
    assert batch["has_next"].tolist() == [True, True, False, False]
    assert len(batch["next_image_grid_thw"]) == 2
    off = TransitionCollator(processor.image_processor, next_frames=False)([ds[1], ds[2]])  # jepa_weight 0
    assert not off["has_next"].any() and len(off["next_pixel_values"]) == 0
    assert torch.equal(off["pixel_values"], batch["pixel_values"])

    tower = vision_tower(model)
    jepa = JEPAEncoder(tower, tower.config.out_hidden_size, num_properties=1, property_weight=1.0,
                       contrastive_weight=1.0).eval()
    out = jepa(**batch)
    only = collate([ds[1]])
    ref = jepa(**{k: v for k, v in only.items() if k != "has_next"})
    assert float(out["jepa_loss"]) == pytest.approx(float(ref["jepa_loss"]), rel=1e-5)
    assert float(out["property_loss"]) != pytest.approx(float(ref["property_loss"]), rel=1e-3), "4 rows vs 2"

    none = collate([ds[2], ds[5]])  # last frames only: no JEPA term, the heads still train
    assert not none["has_next"].any() and len(none["next_pixel_values"]) == 0
    res = jepa(**none)
    assert "jepa_loss" not in res and {"property_loss", "contrastive_loss"} <= set(res)
    res["loss"].backward()
    assert all(p.grad is not None and not p.grad.any() for p in jepa.predictor.parameters())
    assert jepa.property_head.weight.grad.abs().sum() > 0


def test_with_the_jepa_term_off_the_target_does_no_work_and_the_heads_still_train():
    """``jepa_weight=0`` (the ablation of experiments/touch_encoder_ablation.sh): no JEPA term, no target pass
    (its frames may be anything), the predictor gets no gradient and the property head does."""
    import numpy as np

    from embodied_r1.stages.jepa import JEPAEncoder

    model, processor = make_model(ModelConfig(name="tiny", dtype="float32"), seed=0)
    tower = vision_tower(model)
    jepa = JEPAEncoder(tower, tower.config.out_hidden_size, num_properties=1, property_weight=1.0,
                       jepa_weight=0.0)
    frames = [np.full((56, 56, 3), v, np.uint8) for v in (10, 80, 160, 240)]
    now = processor.image_processor(images=frames, return_tensors="pt")
    junk = torch.full_like(now["pixel_values"], float("nan"))  # never read: a target pass would make the loss NaN
    out = jepa(now["pixel_values"], now["image_grid_thw"], junk, now["image_grid_thw"], torch.arange(4),
               torch.tensor([[0.0], [0.5], [1.0], [0.5]]), torch.ones(4, 1))
    assert set(out) == {"loss", "property_loss"} and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(not p.grad.any() for p in jepa.predictor.parameters())
    assert jepa.property_head.weight.grad.abs().sum() > 0
