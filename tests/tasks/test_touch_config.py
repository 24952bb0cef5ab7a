"""TouchConfig validation and the shipped touch configs, loaded as the CLI loads them."""

from pathlib import Path

import pytest

from embodied_r1.config import load_config
from embodied_r1.errors import UserError
from embodied_r1.registry import REGISTRY
from tasks.touch import TouchConfig, TouchTask

ROOT = Path(__file__).resolve().parents[2]


def cfg_cls(name):
    return REGISTRY.get_class(name).config_cls


def test_registered_through_the_entry_point():
    assert "touch" in REGISTRY.names()
    assert REGISTRY.get_class("touch") is TouchTask
    assert TouchTask.group_column == "contact_id" and TouchTask.config_cls is TouchConfig


def test_importing_the_task_is_light():
    import subprocess
    import sys

    code = ("import sys, tasks.touch; heavy = [m for m in ('datasets', 'matplotlib', 'envs.tactile', 'torch', "
            "'transformers') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_defaults():
    c = TouchConfig()
    assert c.num_levels == 3 and c.press_frames == 1 and c.heldout_sensor == "marker_gel"
    assert c.train_sensors == ["gelsight_mini", "digit", "gelsight_r15"] and c.heldout_sensors == ["marker_gel"]
    assert c.objects == "fresh" and c.random_sensor_fraction == 0.75 and c.tactile_view == "difference"
    assert TouchConfig(heldout_sensor=None).heldout_sensors == []
    assert c.rewards == {"ordinal_accuracy_reward": {"weight": 1.0},
                         "cross_sensor_consistency_reward": {"weight": 0.5},
                         "touch_format_reward": {"weight": 0.2, "max_chars": 1500},
                         "tactile_grounded_reward": {"weight": 0.5, "margin": 0.0, "mode": "binary"},
                         "exact_accuracy_reward": {"weight": 0.0}}
    assert sum(c.mix.values()) == pytest.approx(1.0)


def test_partial_dicts_keep_the_other_defaults():
    c = TouchConfig(rewards={"touch_format_reward": 0, "tactile_grounded_reward": {"margin": 0.1}},
                    question_mix={"conflict": 0})
    assert c.rewards["ordinal_accuracy_reward"] == {"weight": 1.0}
    assert c.rewards["touch_format_reward"] == {"weight": 0, "max_chars": 1500}
    assert c.rewards["tactile_grounded_reward"] == {"weight": 0.5, "margin": 0.1, "mode": "binary"}
    assert "conflict" not in c.mix and "level" in c.mix


@pytest.mark.parametrize("kwargs,message", [
    ({"num_levels": 2}, "num_levels must be an integer in 3..5"),
    ({"num_levels": 6}, "num_levels"),
    ({"properties": ["hardness", "softness"]}, "unknown entries ['softness']"),
    ({"train_sensors": ["digit", "marker_gel"]}, "also in touch.train_sensors"),
    ({"heldout_sensor": "xense"}, "heldout_sensor 'xense'"),
    ({"sensors_per_contact": 4}, "sensors_per_contact"),
    ({"objects": "library"}, "touch.objects 'library' is not one of fresh, fresh_parameters, catalog"),
    ({"random_sensor_fraction": 1.5}, "random_sensor_fraction must be a number in [0, 1]"),
    ({"heldout_sensor": ["tac3d", "digit"]}, "heldout_sensor 'digit' is also in touch.train_sensors"),
    ({"heldout_sensor": ["tac3d", "xense"]}, "heldout_sensor has unknown entries ['xense']"),
    ({"question_mix": {"riddle": 1}}, "unknown question type 'riddle'"),
    ({"question_mix": {q: 0 for q in ("level", "compare", "superlative", "conflict", "cross_sensor")}}, "all zero"),
    ({"rewards": {"accuracy": 1}}, "unknown reward 'touch.rewards.accuracy'"),
    ({"rewards": {k: 0 for k in ("ordinal_accuracy_reward", "cross_sensor_consistency_reward",
                                 "touch_format_reward", "tactile_grounded_reward")}}, "every reward weight 0"),
    ({"heldout_material_fraction": 1.0}, "strictly between 0 and 1"),
    ({"counterfactuals": ["blurred"]}, "unknown entries ['blurred']"),
    ({"real_data_format": "hct"}, "real_data_format 'hct'"),
    ({"press_frames": 0}, "press_frames"),
    ({"rewards": {"tactile_grounded_reward": {"mode": "soft"}}}, "tactile_grounded_reward': mode must be one of"),
    ({"rewards": {"touch_format_reward": {"max_chars": 0}}}, "max_chars must be >= 1"),
])
def test_bad_values_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=None) as exc:
        TouchConfig(**kwargs)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_sensor_lists_follow_the_sensor_table():
    """A profile added to ``envs.tactile.SENSORS`` is a valid train or held-out sensor without editing the task."""
    from envs.tactile import SENSORS
    from tasks.touch.config import sim_sensors
    from tasks.touch.questions import sensor_name
    from tests.fixtures.sensors import copied_profile, sensor_added

    assert sim_sensors() == tuple(SENSORS)
    assert all(sensor_name(s) == SENSORS[s].display_name for s in SENSORS)
    with sensor_added(copied_profile("marker_gel", "xense", "Xense")):
        assert sim_sensors()[0] == "xense"
        c = TouchConfig(train_sensors=["xense", "digit"], heldout_sensor="gelsight_r15")
        assert c.train_sensors == ["xense", "digit"]
        assert TouchConfig(heldout_sensor="xense").heldout_sensor == "xense"
        assert sensor_name("xense") == "Xense"
    with pytest.raises(UserError, match="heldout_sensor 'xense' is not one of gelsight_mini, digit"):
        TouchConfig(heldout_sensor="xense")
    with pytest.raises(UserError, match=r"train_sensors has unknown entries \['xense'\]"):
        TouchConfig(train_sensors=["xense", "digit"])


@pytest.mark.parametrize("name", ["touch.yaml", "touch_quickstart.yaml"])
def test_shipped_configs_load(name):
    cfg = load_config(str(ROOT / "configs" / name), [], cfg_cls)
    assert cfg.task == "touch" and cfg.stages == ["sft", "grpo"]
    assert isinstance(cfg.task_config, TouchConfig)
    assert cfg.task_config.rewards == TouchConfig().rewards
    specs = TouchTask().reward_specs(cfg.task_config)
    assert len(specs) == 4


def test_real_config_is_the_7b_recipe():
    cfg = load_config(str(ROOT / "configs" / "touch.yaml"), [], cfg_cls)
    assert cfg.model.name == "Qwen/Qwen2.5-VL-7B-Instruct" and cfg.model.lora and cfg.model.dtype == "bfloat16"
    assert cfg.grpo["learning_rate"] == 1e-6 and cfg.grpo["num_generations"] == 8
    assert cfg.grpo["max_completion_length"] == 512


def test_trl_accepts_the_sections(tmp_path):
    """The grpo/sft sections build real trl.GRPOConfig / trl.SFTConfig objects (as the trainer does)."""
    from embodied_r1.trainer import make_grpo_args, make_sft_args

    for name in ("touch.yaml", "touch_quickstart.yaml"):
        cfg = load_config(str(ROOT / "configs" / name), [], cfg_cls)
        grpo = {k: v for k, v in cfg.grpo.items() if k not in ("bf16",)}  # bf16 needs a GPU here
        make_grpo_args(grpo, tmp_path / "g", 0, [1.0] * 4)
        make_sft_args({k: v for k, v in cfg.sft.items() if k not in ("bf16",)}, tmp_path / "s", 0)


def test_overrides_reach_the_task_section():
    cfg = load_config(str(ROOT / "configs" / "touch_quickstart.yaml"),
                      ["touch.num_levels=5", "touch.rewards.touch_format_reward=0"], cfg_cls)
    assert cfg.task_config.num_levels == 5
    assert cfg.task_config.rewards["touch_format_reward"] == {"weight": 0, "max_chars": 1500}
    assert cfg.task_config.rewards["ordinal_accuracy_reward"] == {"weight": 1.0}
    with pytest.raises(UserError, match="unknown config key 'touch.num_level'"):
        load_config(None, ["task=touch", "touch.num_level=5"], cfg_cls)


def test_a_config_of_the_earlier_flat_reward_settings_still_loads():
    """Run directories written before the rewards part existed hold flat reward settings and bare weights."""
    from embodied_r1.config import config_from_dict
    from embodied_r1.registry import REGISTRY

    old = {"task": "touch", "touch": {"grounded_margin": 0.25, "grounded_mode": "graded", "format_max_chars": 900,
                                      "rewards": {"tactile_grounded_reward": 0.7, "touch_format_reward": 0.1}}}
    cfg = config_from_dict(old, lambda n: REGISTRY.get_class(n).config_cls)
    assert cfg.task_config.rewards["tactile_grounded_reward"] == {"weight": 0.7, "margin": 0.25, "mode": "graded"}
    assert cfg.task_config.rewards["touch_format_reward"] == {"weight": 0.1, "max_chars": 900}


def test_an_unknown_tactile_view_is_one_clear_error():
    with pytest.raises(UserError, match="touch.tactile_view 'diff' is not one of raw, standardized, difference"):
        TouchConfig(tactile_view="diff")


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("touch*.yaml")), ids=lambda p: p.name)
def test_every_shipped_touch_config_loads_and_its_stages_are_registered(path):
    """A config a user copies from the README must pass validation as shipped (a bad key or value would stop it
    with one line, but only on the user's machine)."""
    from embodied_r1.stages.registry import get_stage

    cfg = load_config(str(path), [], cfg_cls)
    assert cfg.task == "touch" and isinstance(cfg.task_config, TouchConfig)
    assert all(get_stage(s) for s in cfg.stages)


def test_the_gpu_encoder_config_holds_objects_out_by_their_parameters():
    """configs/touch_encoder_small_gpu.yaml is the recipe measured in docs/results/touch_encoder_v5/ section 8:
    held out by parameter bands, property head at weight 4, SFT on 10,000 contacts, eval on 1,200, the full chain.
    The task default stays the level rule."""
    cfg = load_config(str(ROOT / "configs" / "touch_encoder_small_gpu.yaml"), [], cfg_cls)
    assert cfg.task_config.objects == "fresh_parameters" and TouchConfig().objects == "fresh"
    assert cfg.stages == ["encoder", "sft", "grpo"] and cfg.encoder.property_weight == 4.0
    assert (cfg.task_config.train_contacts, cfg.task_config.test_contacts) == (10000, 1200)
