"""Real-data loaders (Octopi/PhysiCLeAR, TVL SSVTP) on small fixture folders, and their one-line errors."""

import json

import pytest

from embodied_r1.errors import UserError
from tasks.touch import TouchConfig, TouchTask
from tasks.touch.real_data import load_octopi, load_ssvtp, ssvtp_levels
from tests.fixtures.touch_real import OCTOPI_OBJECTS, OCTOPI_SPLITS, make_octopi_folder, make_ssvtp_folder


def cfg(root, fmt="octopi", **kw):
    return TouchConfig(real_data=str(root), real_data_format=fmt, **kw)


def build(c):
    d = TouchTask().build_dataset(c, 0)
    return {k: [v[i] for i in range(len(v))] for k, v in d.items()}


@pytest.mark.parametrize("labels", ["json", "csv"])
def test_octopi_loader(tmp_path, labels):
    root = make_octopi_folder(tmp_path / "octopi", labels=labels)
    samples = load_octopi(root, cfg(root))
    assert len(samples) == 2 * len(OCTOPI_OBJECTS)
    by_obj = {s.object_id: s for s in samples}
    assert by_obj["lego"].levels == {"hardness": 2, "roughness": 0, "bumpiness": 2}  # csv 'texture' = bumpiness
    assert by_obj["towel"].split == "test"  # val joins test
    assert {s.split for s in samples if s.object_id in OCTOPI_SPLITS["train"]} == {"train"}
    assert all(len(s.frames) == 1 and s.sensor == "gelsight" for s in samples)
    three = load_octopi(root, cfg(root, real_frames=3))
    assert all(len(s.frames) == 3 for s in three)


def test_octopi_rows_replace_the_simulator(tmp_path):
    root = make_octopi_folder(tmp_path / "octopi", absolute_paths=False, samples_per_object=3)
    ds = build(cfg(root, train_contacts=5))
    assert set(ds) == {"train", "test"}  # no held-out sensor on real data
    train_objs = {o for r in ds["train"] for o in r["object_ids"]}
    test_objs = {o for r in ds["test"] for o in r["object_ids"]}
    assert train_objs == set(OCTOPI_SPLITS["train"]) and not train_objs & test_objs
    for r in ds["train"] + ds["test"]:
        assert r["source"] == "octopi" and r["sensor"] == "gelsight"
        assert r["question_type"] in ("level", "compare", "superlative")
        assert len(r["images"]) == sum(p["type"] == "image" for p in r["prompt"][0]["content"])
        if r["question_type"] == "level":
            obj = r["object_ids"][0]
            assert int(r["answer"]) == OCTOPI_OBJECTS[obj][("hardness", "roughness", "bumpiness").index(r["property"])]
        else:
            assert r["answer"] == "ABC"[r["option_levels"].index(max(r["option_levels"]))]
            assert len(set(r["object_ids"])) == len(r["object_ids"])
    assert {r["question_type"] for r in ds["train"]} >= {"level", "compare"}


def test_real_rows_can_be_added_to_the_simulator(tmp_path):
    root = make_octopi_folder(tmp_path / "octopi")
    ds = build(cfg(root, real_data_mode="add", num_materials=10, train_contacts=4, test_contacts=2))
    assert {r["source"] for r in ds["train"]} == {"sim", "octopi"}
    assert {r["source"] for r in ds["test_heldout_sensor"]} == {"sim"}


def test_ssvtp_loader_and_rows(tmp_path):
    root = make_ssvtp_folder(tmp_path / "ssvtp")
    samples = load_ssvtp(root, cfg(root, "ssvtp"))
    ids = {s.sample_id for s in samples}
    assert "0007" not in ids  # no adjective maps to a property: skipped
    by = {s.sample_id: s for s in samples}
    assert by["0001"].levels == {"hardness": 0, "roughness": 0, "bumpiness": 0}
    assert by["0003"].levels == {"hardness": 1, "roughness": 1, "bumpiness": 1}
    assert by["0008"].levels == {"bumpiness": 2}  # 'hard, soft' disagree: hardness unlabelled
    assert all(s.visual is not None and s.sensor == "digit" for s in samples)
    ds = build(cfg(root, "ssvtp", visual_context_fraction=1.0, real_heldout_fraction=0.3))
    rows = ds["train"] + ds["test"]
    assert len(rows) == len(samples) and {r["source"] for r in rows} == {"ssvtp"}
    assert any(r["image_modalities"] == ["tactile", "visual"] for r in rows if r["question_type"] == "level")
    assert ds["test"], "a hash split puts some samples into test"


def test_ssvtp_levels_table():
    assert ssvtp_levels("Soft , Rough", 5) == {"hardness": 0, "roughness": 4}
    assert ssvtp_levels("moderately hard", 3) == {"hardness": 1}
    assert ssvtp_levels("shiny", 3) == {}


def _expect(c, *fragments):
    with pytest.raises(UserError) as exc:
        TouchTask().build_dataset(c, 0)
    msg = str(exc.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, msg


def test_octopi_errors_name_the_file(tmp_path):
    root = make_octopi_folder(tmp_path / "a", labels="none")
    _expect(cfg(root), "missing labels file", "object_properties.json")

    root = make_octopi_folder(tmp_path / "b")
    (root / "train_samples.json").write_text("{not json")
    _expect(cfg(root), "train_samples.json is not valid JSON")

    root = make_octopi_folder(tmp_path / "c")
    (root / "test_samples.json").unlink()
    _expect(cfg(root), "missing", "test_samples.json")

    root = make_octopi_folder(tmp_path / "d")
    bad = sorted((root / "physiclear_apple_0").glob("*.jpg"))[1]  # the middle frame is the one read
    bad.write_bytes(b"not a jpeg")
    _expect(cfg(root), "cannot read image", str(bad))

    root = make_octopi_folder(tmp_path / "e")
    props = json.loads((root / "object_properties.json").read_text())
    props["lego"]["hardness"] = 3
    (root / "object_properties.json").write_text(json.dumps(props))
    _expect(cfg(root), "object_properties.json 'lego'.hardness is 3", "0..2")

    root = make_octopi_folder(tmp_path / "f")
    import shutil

    shutil.rmtree(root / "physiclear_sponge_1")
    _expect(cfg(root), "physiclear_sponge_1", "train_samples.json", "does not exist")

    root = make_octopi_folder(tmp_path / "g")
    props = json.loads((root / "object_properties.json").read_text())
    del props["carpet"]
    (root / "object_properties.json").write_text(json.dumps(props))
    _expect(cfg(root), "object 'carpet'", "has no labels")

    _expect(cfg(tmp_path / "nowhere"), "is not a folder")


def test_ssvtp_errors_name_the_file(tmp_path):
    root = make_ssvtp_folder(tmp_path / "a")
    (root / "text" / "labels_0002.txt").unlink()
    _expect(cfg(root, "ssvtp"), "missing labels file", "labels_0002.txt")

    root = make_ssvtp_folder(tmp_path / "b")
    (root / "images_tac" / "image_0003_tac.jpg").write_bytes(b"\x00\x01")
    _expect(cfg(root, "ssvtp"), "cannot read image", "image_0003_tac.jpg")

    root = make_ssvtp_folder(tmp_path / "c", labels={"1": "shiny", "2": "blue"})
    _expect(cfg(root, "ssvtp"), "no sample", "ADJECTIVE_LEVELS")

    (tmp_path / "d").mkdir()
    _expect(cfg(tmp_path / "d", "ssvtp"), "missing folder", "images_tac")
