"""Real-data loaders (Octopi/PhysiCLeAR, TVL SSVTP) on small fixture folders, and their one-line errors."""

import json

import pytest

from tasks.touch import TouchConfig, TouchTask
from tasks.touch.real_data import load_octopi, load_ssvtp, ssvtp_levels
from tests.fixtures.touch_real import (OCTOPI_OBJECTS, OCTOPI_SPLITS, expect_user_error, make_octopi_folder,
                                       make_ssvtp_folder)


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
    expect_user_error(lambda: TouchTask().build_dataset(c, 0), *fragments)


def test_octopi_errors_name_the_file(tmp_path):
    root = make_octopi_folder(tmp_path / "a", labels="none")
    _expect(cfg(root), "no labels for", str(root), "set touch.real_labels", "HARDNESS_RANK")

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


# ------------------------------------------------------------------------------------------ cache and label gaps
def _load(c, root):
    from embodied_r1.data import load_or_build

    ds, path = load_or_build(TouchTask(), c, 0, root=root)
    return {k: [v[i] for i in range(len(v))] for k, v in ds.items()}, path


def test_edited_labels_are_built_afresh(tmp_path):
    root = make_octopi_folder(tmp_path / "octopi")
    c = cfg(root, question_mix={"level": 1.0, "compare": 0.0, "superlative": 0.0, "conflict": 0.0,
                                "cross_sensor": 0.0})
    ds1, path1 = _load(c, tmp_path / "cache")
    props_file = root / "object_properties.json"
    props = json.loads(props_file.read_text())
    flipped = {obj: {p: 2 - v for p, v in levels.items()} for obj, levels in props.items()}
    props_file.write_text(json.dumps(flipped))
    ds2, path2 = _load(c, tmp_path / "cache")
    assert path2 != path1  # the key follows the label file's contents, not just the folder path
    rows = ds2["train"] + ds2["test"]
    assert rows and all(int(r["answer"]) == flipped[r["object_ids"][0]][r["property"]] for r in rows)
    assert [r["answer"] for r in rows] != [r["answer"] for r in ds1["train"] + ds1["test"]]


def test_fingerprint_follows_sample_lists_and_frames_not_unrelated_files(tmp_path):
    root = make_octopi_folder(tmp_path / "octopi")
    task, c = TouchTask(), cfg(root)
    fp = task.data_fingerprint(c)
    assert fp and fp == task.data_fingerprint(c)
    (root / "notes.txt").write_text("not read by the loader")
    assert task.data_fingerprint(c) == fp
    splits = json.loads((root / "train_samples.json").read_text())
    splits["sponge"] = splits["sponge"][:1]
    (root / "train_samples.json").write_text(json.dumps(splits))
    fp2 = task.data_fingerprint(c)
    assert fp2 != fp
    (root / "physiclear_apple_0" / "0000000099.jpg").write_bytes(b"another frame")
    assert task.data_fingerprint(c) != fp2
    assert task.data_fingerprint(cfg(tmp_path / "nowhere")) != fp  # a missing folder: no raise, the build reports it
    assert TouchTask().data_fingerprint(TouchConfig()) == ""  # simulated data: nothing to fingerprint


def test_ssvtp_label_edit_changes_the_fingerprint(tmp_path):
    root = make_ssvtp_folder(tmp_path / "ssvtp")
    c = cfg(root, "ssvtp")
    fp = TouchTask().data_fingerprint(c)
    (root / "text" / "labels_0002.txt").write_text("soft, rough\n")
    assert TouchTask().data_fingerprint(c) != fp


def test_missing_labels_are_counted_in_the_card_and_reported_in_one_line(tmp_path, capsys):
    root = make_octopi_folder(tmp_path / "octopi", samples_per_object=2)
    props = json.loads((root / "object_properties.json").read_text())
    del props["apple"]["roughness"], props["lego"]["roughness"], props["towel"]["hardness"]
    (root / "object_properties.json").write_text(json.dumps(props))
    ds, path = _load(cfg(root), tmp_path / "cache")
    real = json.loads((path / "card.json").read_text())["real_data"]
    assert real["samples"] == 2 * len(OCTOPI_OBJECTS)
    assert real["missing_labels"] == {"hardness": 2, "roughness": 4, "bumpiness": 0}
    assert real["unlabelled_samples"] == 0 and real["fingerprint"]
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("real data:")]
    assert len(lines) == 1, lines
    assert "4 of 16 samples lack a roughness label and were skipped for roughness questions" in lines[0]
    assert "2 of 16 samples lack a hardness label" in lines[0] and str(root) in lines[0]
    for r in ds["train"] + ds["test"]:  # the gaps really are skipped, not filled in
        if r["property"] == "roughness":
            assert not {"apple", "lego"} & set(r["object_ids"])


def test_ssvtp_label_gaps_in_the_card(tmp_path, capsys):
    root = make_ssvtp_folder(tmp_path / "ssvtp")
    _, path = _load(cfg(root, "ssvtp"), tmp_path / "cache")
    real = json.loads((path / "card.json").read_text())["real_data"]
    # 0007 has no known adjective; 0008 says hard and soft; see SSVTP_LABELS
    assert real["missing_labels"] == {"hardness": 2, "roughness": 3, "bumpiness": 4}
    assert real["samples"] == 8 and real["unlabelled_samples"] == 1
    err = capsys.readouterr().err
    assert "1 have no label at all and were left out" in err


def test_complete_labels_print_nothing(tmp_path, capsys):
    root = make_octopi_folder(tmp_path / "octopi")
    _, path = _load(cfg(root), tmp_path / "cache")
    assert "real data:" not in capsys.readouterr().err
    assert json.loads((path / "card.json").read_text())["real_data"]["missing_labels"] == {
        "hardness": 0, "roughness": 0, "bumpiness": 0}


def test_a_listed_name_the_os_rejects_is_a_one_line_error_not_a_crash(tmp_path):
    root = make_octopi_folder(tmp_path / "octopi")
    splits = json.loads((root / "train_samples.json").read_text())
    splits["sponge"].append("physiclear_sponge\x00_9")  # a NUL byte: os calls raise ValueError on it
    (root / "train_samples.json").write_text(json.dumps(splits))
    assert TouchTask().data_fingerprint(cfg(root))
    _expect(cfg(root), "physiclear_sponge", "does not exist")
