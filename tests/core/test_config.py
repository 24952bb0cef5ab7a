import pytest

from embodied_r1.config import ModelConfig, load_config, parse_override
from embodied_r1.errors import UserError
from tests.fixtures.toy_task import ToyConfig


def cls_for(name):
    if name != "toy":
        raise UserError(f"unknown task '{name}'")
    return ToyConfig


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return str(p)


def test_precedence_defaults_yaml_cli(tmp_path):
    path = write(tmp_path, "task: toy\nmodel: {name: small}\ngrpo: {learning_rate: 0.5}\ntoy: {rows: 10}\n")
    cfg = load_config(path, [], cls_for)
    assert cfg.model.name == "small" and cfg.grpo["learning_rate"] == 0.5 and cfg.task_config.rows == 10
    assert cfg.model.lora is False  # default kept
    cfg = load_config(path, ["model.name=tiny", "grpo.learning_rate=1e-4", "toy.rows=3"], cls_for)
    assert cfg.model.name == "tiny" and cfg.grpo["learning_rate"] == pytest.approx(1e-4) and cfg.task_config.rows == 3


@pytest.mark.parametrize("text,match", [
    ("task: toy\nmodle: {name: tiny}\n", "unknown config key 'modle'.*did you mean 'model'"),
    ("task: toy\nmodel: {nme: tiny}\n", "unknown config key 'config.model.nme'.*did you mean 'name'"),
    ("task: toy\ngrpo: {learnin_rate: 1}\n", "unknown config key 'grpo.learnin_rate'.*learning_rate"),
    ("task: toy\nsft: {max_stepz: 1}\n", "unknown config key 'sft.max_stepz'.*max_steps"),
    ("task: toy\ntoy: {rowz: 1}\n", "unknown config key 'toy.rowz'.*rows"),
    ("task: toy\ngrpo: {output_dir: x}\n", "set by the run itself"),
    ("task: toy\nstages: [rl]\n", "stages"),
    ("task: toy\nmodel: {lora: 3}\n", "model.lora' expects bool"),
    ("task: toy\nseed: abc\n", "seed' expects int"),
    ("task: toy\nmodel: {dtype: fp8}\n", "model.dtype"),
    ("model: {name: tiny}\n", "no task given"),
    ("task: [1, 2\n", "not valid YAML"),
    ("- a\n- b\n", "must hold a mapping"),
])
def test_config_errors_are_one_line(tmp_path, text, match):
    with pytest.raises(UserError, match=match) as exc:
        load_config(write(tmp_path, text), [], cls_for)
    assert "\n" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"), [], cls_for)


@pytest.mark.parametrize("text", ["noequals", "=3", "a..b=1"])
def test_bad_override(text):
    with pytest.raises(UserError):
        parse_override(text)


def test_override_values_are_typed():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=[sft, grpo]") == (["a"], ["sft", "grpo"])
    assert parse_override("lr=1e-6") == (["lr"], 1e-6)
    assert parse_override("name=Qwen/Qwen2.5-VL-7B-Instruct") == (["name"], "Qwen/Qwen2.5-VL-7B-Instruct")


def test_override_into_scalar_is_an_error():
    with pytest.raises(UserError, match="is not a section"):
        load_config(None, ["task=toy", "seed=3", "seed.x=1"], cls_for)


def test_model_config_validation():
    with pytest.raises(UserError):
        ModelConfig(lora_r=0)


def test_dict_settings_merge_with_defaults():
    cfg = load_config(None, ["task=toy", "toy.rewards.extra_reward=0.5"], cls_for)
    assert cfg.task_config.rewards == {"digit_fraction_reward": 1.0, "extra_reward": 0.5}


def test_resume_diff_ignores_machine_local_settings():
    from embodied_r1.config import TrainConfig, config_diff

    a = TrainConfig(task="x", data_workers=1, log_every=5, output_dir="a")
    b = TrainConfig(task="x", data_workers=16, log_every=None, output_dir="b", seed=1)
    assert config_diff(a, b) == ["seed: 0 -> 1"]
