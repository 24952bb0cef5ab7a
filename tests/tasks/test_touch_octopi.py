"""Real Octopi labels: PhysiCLeAR with the rank dicts of an Octopi checkout's utils/constants.py (parsed, never
run), and Octopi-1.5's per-sample data.json; fixtures laid out as the real repositories and processed data."""

import json
from pathlib import Path

import pytest

from tasks.touch import TouchConfig, TouchTask
from tasks.touch.octopi_labels import bin_rating
from tasks.touch.real_data import load_octopi, load_octopi15
from tasks.touch.real_labels import label_gaps
from tests.fixtures.touch_real import (OCTOPI15_SAMPLES, PHYSICLEAR_RANKS, PHYSICLEAR_SPLITS, expect_user_error,
                                       make_octopi15_samples, make_octopi_checkout, make_physiclear_processed,
                                       octopi_constants_source)

PROPS = ("hardness", "roughness", "bumpiness")


def physiclear(tmp_path, constants=None, **kw):
    """A processed PhysiCLeAR folder and an Octopi checkout, and the config naming both."""
    data = make_physiclear_processed(tmp_path / "processed")
    checkout = make_octopi_checkout(tmp_path / "octopi", constants)
    return TouchConfig(real_data=str(data), real_data_format="octopi", real_labels=str(checkout), **kw), checkout


def build(c):
    d = TouchTask().build_dataset(c, 0)
    return {k: [v[i] for i in range(len(v))] for k, v in d.items()}


def expect_error(c, *fragments):
    return expect_user_error(lambda: TouchTask().build_dataset(c, 0), *fragments)


def test_physiclear_labels_come_from_the_checkouts_constants(tmp_path):
    c, _ = physiclear(tmp_path)
    samples = load_octopi(c.real_data, c)
    assert len(samples) == 2 * sum(len(v) for v in PHYSICLEAR_SPLITS.values())
    for s in samples:
        want = {p: v for p, v in zip(PROPS, PHYSICLEAR_RANKS[s.object_id]) if v is not None}
        assert s.levels == want, s.object_id
        assert s.split == ("train" if s.object_id in PHYSICLEAR_SPLITS["train"] else "test")  # val joins test
    assert "bumpiness" not in next(s for s in samples if s.object_id == "physiclear_skin").levels
    gaps = label_gaps(c)
    assert gaps["missing_labels"] == {"hardness": 0, "roughness": 0, "bumpiness": 2} and gaps["samples"] == 18
    ds = build(c)
    for r in ds["train"] + ds["test"]:
        assert r["source"] == "octopi"
        if r["question_type"] == "level":
            level = PHYSICLEAR_RANKS[r["object_ids"][0]][PROPS.index(r["property"])]
            assert int(r["answer"]) == level


def test_the_constants_file_itself_and_more_levels(tmp_path):
    """``real_labels`` may name the file; Octopi's 0-2 are spread over K levels (0, 2, 4 for K = 5)."""
    c, checkout = physiclear(tmp_path, num_levels=5)
    c.real_labels = str(checkout / "utils" / "constants.py")
    levels = {s.object_id: s.levels for s in load_octopi(c.real_data, c)}
    assert levels["physiclear_scissor_handle"] == {"hardness": 4, "roughness": 0, "bumpiness": 0}
    assert levels["physiclear_egg"]["hardness"] == 2


def test_constants_py_is_parsed_never_run(tmp_path):
    poisoned = "raise SystemExit('constants.py was executed')\nimport module_that_does_not_exist\n"
    c, _ = physiclear(tmp_path, constants=poisoned + octopi_constants_source())
    assert {s.object_id for s in load_octopi(c.real_data, c)} >= set(PHYSICLEAR_SPLITS["train"])


@pytest.mark.parametrize("edit,fragments", [
    (lambda s: s.replace("HARDNESS_RANK = {", "HARDNESS_RANK = {{"), ("is not valid Python (line",)),
    (lambda s: s.replace("TEXTURE_RANK = {", "TEXTURE_TABLE = {"), ("defines no TEXTURE_RANK",)),
    (lambda s: s.replace("ROUGHNESS_RANK = {", "ROUGHNESS_RANK = dict(BASE) | {"),
     ("ROUGHNESS_RANK", "not a plain dict")),
    (lambda s: s.replace("'physiclear_egg': 1,", "'physiclear_egg': 3,", 1), ("HARDNESS_RANK['physiclear_egg']", "is 3",
                                                                            "not an integer level 0-2")),
    (lambda s: s.replace("'physiclear_egg': 1,", "'physiclear_egg': 'hard',", 1), ("is 'hard'",)),
    (lambda s: s.replace("'physiclear_egg': 1,", "'physiclear_egg': 1.5,", 1), ("is 1.5",)),
    (lambda s: s.replace("HARDNESS_RANK = {", "HARDNESS_RANK = [{").replace("}\n\nHARDNESS_MAP", "}]\n\nHARDNESS_MAP"),
     ("HARDNESS_RANK", "is a list, not a dict")),
    (lambda s: s.replace("    'physiclear_rug': 1,\n", ""), ("object 'physiclear_rug'", "has no labels in")),
])
def test_hostile_constants_give_one_line_naming_the_file(tmp_path, edit, fragments):
    c, checkout = physiclear(tmp_path, constants=edit(octopi_constants_source()))
    if "physiclear_rug" in fragments[0]:  # gone from the hardness dict only: drop it from the other two as well
        path = checkout / "utils" / "constants.py"
        path.write_text(path.read_text().replace("    'physiclear_rug': 2,\n", ""))
    msg = expect_error(c, *fragments, str(checkout / "utils" / "constants.py"))
    assert "clear-nus/octopi" in msg or "has no labels" in msg


def test_missing_or_wrong_label_paths(tmp_path):
    c, checkout = physiclear(tmp_path)
    c.real_labels = str(tmp_path / "no_such_checkout")
    expect_error(c, "touch.real_labels", "no_such_checkout", "does not exist", "clear-nus/octopi")
    (checkout / "utils" / "constants.py").unlink()
    c.real_labels = str(checkout)
    expect_error(c, str(checkout), "holds no utils/constants.py")
    c.real_labels = None  # a processed folder alone: PhysiCLeAR has no labels file
    expect_error(c, "no labels for", c.real_data, "set touch.real_labels", "HARDNESS_RANK")


def test_edited_constants_change_the_fingerprint(tmp_path):
    c, checkout = physiclear(tmp_path)
    fp = TouchTask().data_fingerprint(c)
    path = checkout / "utils" / "constants.py"
    path.write_text(path.read_text().replace("'physiclear_egg': 1,", "'physiclear_egg': 2,", 1))
    assert TouchTask().data_fingerprint(c) != fp


# ---------------------------------------------------------------- Octopi-1.5


def octopi15(tmp_path, **kw):
    root = make_octopi15_samples(tmp_path / "samples")
    return TouchConfig(real_data=str(root), real_data_format="octopi15", **kw)


def test_bins_follow_octopi15s_get_categorical_labels():
    # get_categorical_labels(label, bins): width 10/bins; an exact upper edge belongs to the lower bin
    assert [bin_rating(r, 4) for r in (0.0, 2.5, 2.51, 5.0, 7.5, 7.67, 10.0)] == [0, 0, 1, 1, 2, 3, 3]
    assert [bin_rating(r, 3) for r in (0.0, 3.33, 3.34, 6.67, 10.0)] == [0, 0, 1, 2, 2]


@pytest.mark.parametrize("k", [3, 4])
def test_octopi15_samples_with_binned_ratings(tmp_path, k):
    c = octopi15(tmp_path, num_levels=k)
    samples = load_octopi15(c.real_data, c)
    rated = [s for s in OCTOPI15_SAMPLES if s[1] is not None]
    assert len(samples) == len(rated)  # the sample of another dataset (no "properties") is left out
    by_obj = {s.object_id: s for s in samples}
    for obj, hard, rough, split in rated:
        s = by_obj[obj]
        assert s.levels == {"hardness": bin_rating(hard, k), "roughness": bin_rating(rough, k)}
        assert s.split == ("train" if split == "train" else "test") and len(s.frames) == 1
    assert by_obj["physiclear_scissor_blade"].levels["hardness"] == k - 1
    gaps = label_gaps(c)
    assert gaps["samples"] == 8 and gaps["unlabelled_samples"] == 1
    assert gaps["missing_labels"] == {"hardness": 1, "roughness": 1, "bumpiness": 8}
    ds = build(c)
    assert {r["source"] for r in ds["train"] + ds["test"]} == {"octopi15"}
    assert {r["property"] for r in ds["train"] + ds["test"]} <= {"hardness", "roughness"}


def _edit_json(path: Path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_hostile_octopi15_samples(tmp_path):
    c = octopi15(tmp_path)
    root = Path(c.real_data)
    first = root / "physiclear_0" / "data.json"
    _edit_json(first, lambda d: d["properties"].update(hardness=11))
    expect_error(c, "properties.hardness", str(first), "is 11", "rating in 0-10")
    _edit_json(first, lambda d: d["properties"].update(hardness="soft"))
    expect_error(c, "is 'soft'")
    _edit_json(first, lambda d: d.update(properties=[1, 2]))
    expect_error(c, "'properties' in", str(first))
    _edit_json(first, lambda d: d.update(properties={"hardness": 5}, split="dev"))
    expect_error(c, "'split' in", str(first), "'dev'")
    first.write_text("{broken")
    expect_error(c, str(first), "is not valid JSON (line 1")
    first.write_text("[1, 2]")
    expect_error(c, str(first), "must hold a JSON object")
    first.write_text(json.dumps({"object_id": "physiclear_x", "properties": {"hardness": 1}, "split": "train"}))
    for f in (root / "physiclear_0" / "tactile").iterdir():
        f.unlink()
    expect_error(c, "physiclear_0", "holds no JPG frames")
    expect_error(TouchConfig(real_data=str(tmp_path), real_data_format="octopi15"), "holds no <dataset>_<n>/data.json")


def test_edited_data_json_changes_the_fingerprint(tmp_path):
    c = octopi15(tmp_path)
    fp = TouchTask().data_fingerprint(c)
    _edit_json(Path(c.real_data) / "physiclear_1" / "data.json", lambda d: d["properties"].update(hardness=9.0))
    assert TouchTask().data_fingerprint(c) != fp
