"""Touch dataset: schema per docs/CONTRACTS.md, determinism, cross-sensor groups, splits, answers vs levels."""

import dataclasses
from collections import Counter, defaultdict

import numpy as np
import pytest

from tasks.touch import TouchConfig, TouchTask
from tasks.touch.data import dataset_card

SMALL = dict(num_materials=16, train_contacts=24, test_contacts=10)


@pytest.fixture(scope="module")
def ds():
    return TouchTask().build_dataset(TouchConfig(**SMALL), seed=3)


def rows(d):
    return [d[i] for i in range(len(d))]


def test_splits_and_schema(ds):
    assert set(ds) == {"train", "test", "test_heldout_sensor"}
    for split, d in ds.items():
        assert len(d) > 0, split
        for r in rows(d):
            msg = r["prompt"]
            assert len(msg) == 1 and msg[0]["role"] == "user"
            parts = msg[0]["content"]
            n_img = sum(p["type"] == "image" for p in parts)
            assert [p["type"] for p in parts] == ["image"] * n_img + ["text"]
            assert n_img == len(r["images"]) == len(r["image_modalities"]) == len(r["image_sources"]) >= 1
            assert set(r["image_modalities"]) <= {"tactile", "visual"} and "tactile" in r["image_modalities"]
            assert r["question_type"] in ("level", "compare", "superlative", "conflict", "cross_sensor")
            assert r["property"] in ("hardness", "roughness", "bumpiness")
            assert r["num_levels"] == 3 and isinstance(r["contact_id"], str) and r["sensor"]
            text = parts[-1]["text"]
            assert "<perceive>" in text and "<answer>" in text
            if r["question_type"] in ("level", "conflict", "cross_sensor"):
                assert r["answer"] in ("0", "1", "2") and r["option_levels"] == []
                assert "0 = " in text and "2 = " in text  # the scale is stated
            else:
                n = 2 if r["question_type"] == "compare" else 3
                assert len(r["option_levels"]) == n and r["answer"] in "ABC"[:n]


def test_answers_follow_the_levels(ds):
    seen = Counter()
    for r in rows(ds["train"]) + rows(ds["test"]):
        q = r["question_type"]
        seen[q] += 1
        if q in ("compare", "superlative"):
            lv = r["option_levels"]
            assert lv.count(max(lv)) == 1, lv  # a unique top option
            assert r["answer"] == "ABC"[lv.index(max(lv))]  # the letter of the option with more of the property
            assert len(set(r["object_ids"])) == len(lv)  # different objects
        if q == "conflict":
            assert r["image_modalities"] == ["tactile", "visual"]
            assert r["visual_level"] != int(r["answer"])  # the photo contradicts touch; the answer follows touch
        if q == "cross_sensor":
            assert r["image_modalities"] == ["tactile", "tactile"]
            assert r["image_sources"][0] == r["sensor"] != r["image_sources"][1]
        if q == "level" and "visual" in r["image_modalities"]:
            assert r["visual_level"] == int(r["answer"])  # context photos agree
    assert set(seen) == {"level", "compare", "superlative", "conflict", "cross_sensor"}, seen


def test_contacts_are_seen_through_several_sensors(ds):
    for split in ("train", "test"):
        groups = defaultdict(list)
        for r in rows(ds[split]):
            groups[r["contact_id"]].append(r)
        for cid, g in groups.items():
            assert len({r["sensor"] for r in g}) == len(g) >= 2, cid
            assert len({(r["question_type"], r["property"], r["answer"], tuple(r["option_levels"])) for r in g}) == 1
            assert len({r["prompt"][0]["content"][-1]["text"].split(":")[-1] for r in g}) == 1  # same wording


def test_heldout_sensor_and_materials(ds):
    from envs.tactile import is_random_sensor

    cfg = TouchConfig(**SMALL)
    train, test = rows(ds["train"]), rows(ds["test"])
    named = {r["sensor"] for r in train if not is_random_sensor(r["sensor"])}
    assert named and named <= set(cfg.train_sensors)
    assert all(cfg.heldout_sensor not in r["image_sources"] for r in train)
    assert not any(is_random_sensor(s) for r in test for s in r["image_sources"])  # test: named sensors only
    assert {r["split_tag"] for r in train} == {"train"}
    assert {r["split_tag"] for r in test} == {"heldout_material", "heldout_sensor"}
    held = [r for r in test if r["split_tag"] == "heldout_sensor"]
    assert {r["sensor"] for r in held} == {cfg.heldout_sensor}
    assert len(held) == len(ds["test_heldout_sensor"]) == cfg.test_contacts
    # the held-out sensor sees the very contacts the train sensors see in test
    assert {r["contact_id"] for r in held} == {r["contact_id"] for r in test if r["split_tag"] == "heldout_material"}
    train_objs = {o for r in train for o in r["object_ids"]}
    test_objs = {o for r in test for o in r["object_ids"]}
    assert train_objs and test_objs and not train_objs & test_objs


def test_same_seed_same_rows_other_seed_other_rows(ds):
    again = TouchTask().build_dataset(TouchConfig(**SMALL), seed=3)
    other = TouchTask().build_dataset(TouchConfig(**SMALL), seed=4)
    for split in ds:
        a, b = rows(ds[split]), rows(again[split])
        assert len(a) == len(b)
        for ra, rb in zip(a, b):
            assert {k: v for k, v in ra.items() if k != "images"} == {k: v for k, v in rb.items() if k != "images"}
            assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(ra["images"], rb["images"]))
    assert [r["answer"] for r in rows(other["train"])] != [r["answer"] for r in rows(ds["train"])]


def test_one_contact_looks_the_same_through_a_sensor_whatever_the_mix():
    """Streams are keyed by (seed, split, contact, sensor): the rendering does not depend on other settings."""
    from tasks.touch.catalog import make_catalog
    from tasks.touch.data import contact_rows

    cfg = TouchConfig(**SMALL)
    cat = make_catalog(cfg.num_materials, 3, cfg.heldout_material_fraction, 0)
    a = contact_rows(cfg, 0, "train", 5, cat)
    b = contact_rows(cfg, 0, "train", 5, cat)
    assert [np.asarray(x).tobytes() for r in a for x in r["images"]] == \
        [np.asarray(x).tobytes() for r in b for x in r["images"]]


def _contacts(cfg, split, n, seed=0):
    """Rows of the first ``n`` contacts of a split, by (contact_id, sensor): label columns and image bytes."""
    from tasks.touch.catalog import make_catalog
    from tasks.touch.data import contact_rows

    cat = make_catalog(cfg.num_materials, cfg.num_levels, cfg.heldout_material_fraction, seed)
    out = {}
    for i in range(n):
        for r in contact_rows(cfg, seed, split, i, cat):
            out[r["contact_id"], r["sensor"]] = ({k: v for k, v in r.items() if k != "images"},
                                                 [np.asarray(im).tobytes() for im in r["images"]])
    return out


def test_adding_a_sensor_to_the_table_leaves_the_other_sensors_rows_unchanged():
    """A new profile at the front of the table, used as the held-out sensor: every other row stays byte-identical
    (streams are keyed by the sensor's name, not its position), and its prompts show its display name."""
    from tests.fixtures.sensors import copied_profile, sensor_added

    cfg = TouchConfig(**SMALL)
    before = {split: _contacts(cfg, split, 6) for split in ("train", "test")}
    with sensor_added(copied_profile("gelsight_mini", "gelsight_mini_v2", "GelSight Mini v2")):
        new_cfg = TouchConfig(**SMALL, heldout_sensor="gelsight_mini_v2")
        after = {split: _contacts(new_cfg, split, 6) for split in ("train", "test")}
    assert before["train"] == after["train"]
    kept = {k: v for k, v in before["test"].items() if k[1] != "marker_gel"}
    assert kept and kept == {k: v for k, v in after["test"].items() if k[1] != "gelsight_mini_v2"}
    new_rows = [row for (_, s), (row, _) in after["test"].items() if s == "gelsight_mini_v2"]
    assert len(new_rows) == 6 and all(r["split_tag"] == "heldout_sensor" for r in new_rows)
    assert all("GelSight Mini v2" in r["prompt"][0]["content"][-1]["text"] for r in new_rows)


def test_the_order_of_the_train_sensors_does_not_matter():
    """Which sensors see a contact, and what they show, do not depend on the order ``train_sensors`` lists them in;
    a sensor added to the list changes only the contacts it is picked for."""
    from tasks.touch.data import rank_sensors

    three = ["gelsight_mini", "digit", "gelsight_r15"]
    base = _contacts(TouchConfig(**SMALL, train_sensors=three), "train", 8)
    assert _contacts(TouchConfig(**SMALL, train_sensors=three[::-1]), "train", 8) == base
    assert rank_sensors(three, 0, 1, 3) == rank_sensors(three[::-1], 0, 1, 3)
    # Two train sensors instead of three: the contacts whose first two picks were those two are unchanged.
    two = _contacts(TouchConfig(**SMALL, train_sensors=three[:2]), "train", 8)
    same = [i for i in range(8) if set(rank_sensors(three, 0, 1, i)[:2]) == set(three[:2])]
    assert 0 < len(same) < 8
    for i in same:  # (keyed by row sensor: a procedural one's name derives from the named sensor it replaces)
        cid = f"train-{i:05d}"
        assert {k: v for k, v in two.items() if k[0] == cid} == {k: v for k, v in base.items() if k[0] == cid}, i


def test_options_press_frames_and_image_size():
    cfg = TouchConfig(num_materials=12, train_contacts=6, test_contacts=0, press_frames=2, image_size=40,
                      question_mix={"level": 0, "compare": 1, "superlative": 0, "conflict": 0, "cross_sensor": 0},
                      heldout_sensor=None, num_levels=5)
    d = TouchTask().build_dataset(cfg, 0)
    assert set(d) == {"train", "test"} and len(d["test"]) == 0
    for r in rows(d["train"]):
        assert r["question_type"] == "compare" and len(r["images"]) == 4  # 2 objects x 2 frames
        assert all(max(im.size) == 40 for im in r["images"])
        assert "images 1-2 show object a and images 3-4 show object b" in r["prompt"][0]["content"][-1]["text"].lower()


def test_dataset_card_counts(ds):
    card = dataset_card(TouchConfig(**SMALL), ds)
    assert card["generation"]["heldout_sensor"] == "marker_gel"
    for split, d in ds.items():
        assert sum(card["counts"][split]["question_type"].values()) == len(d)
        assert sum(card["counts"][split]["sensor"].values()) == len(d)
    assert card["groups"]["train"]["multi_sensor_contacts"] == card["groups"]["train"]["contacts"]


def test_cached_build_writes_card(tmp_path):
    import json

    from embodied_r1.data import load_or_build

    d, path = load_or_build(TouchTask(), TouchConfig(num_materials=8, train_contacts=4, test_contacts=2), 0,
                            root=tmp_path)
    card = json.loads((path / "card.json").read_text())
    assert card["task"] == "touch" and card["rows"]["train"] == len(d["train"])
    assert "counts" in card and "generation" in card


def test_gold_completions_follow_the_contract(ds):
    from rewards import make_touch_format_reward, ordinal_accuracy_reward

    task = TouchTask()
    rs = rows(ds["train"])
    gold = [task.sft_target(r) for r in rs]
    cols = {k: [r[k] for r in rs] for k in ("question_type", "answer", "num_levels", "option_levels")}
    assert ordinal_accuracy_reward(None, gold, **cols) == [1.0] * len(rs)
    assert make_touch_format_reward()(None, gold, **cols) == [1.0] * len(rs)
    assert all(len(g) < 400 for g in gold)


def test_example_figure(ds, tmp_path):
    from tasks.touch.figures import draw_examples, pick_examples

    rs = rows(ds["train"]) + rows(ds["test"])
    picked = pick_examples(rs)
    assert {r["question_type"] for r in picked} >= {"level", "conflict", "compare"}
    path = draw_examples(picked, tmp_path / "ex.png", gold=TouchTask().sft_target)
    assert path.stat().st_size > 10000


@pytest.mark.parametrize("module", ["catalog", "objects", "questions", "real_labels", "metrics"])
def test_docstring_examples(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(f"tasks.touch.{module}"))
    assert res.failed == 0 and res.attempted > 0


def test_rows_do_not_depend_on_the_number_of_workers():
    """2 spawned workers build the same splits, arrow table for arrow table (image bytes included), as 1."""
    cfg = TouchConfig(num_materials=8, train_contacts=5, test_contacts=3)
    one = TouchTask().build_dataset(cfg, 3, num_workers=1)
    two = TouchTask().build_dataset(cfg, 3, num_workers=2)
    assert list(one) == list(two)
    for split in one:
        assert len(one[split]) > 0 and one[split].data.table.equals(two[split].data.table), split


def _blas_threads_chunk(cfg, seed, split, indices, catalog):
    """A ``render_contacts`` work function reporting the BLAS threads of the worker it runs in."""
    from threadpoolctl import threadpool_info

    return [max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")] * len(indices)


def test_render_workers_compute_on_one_thread_each():
    """N workers with one BLAS thread per core each would oversubscribe the cores (on a 16-core GPU node
    rendering got ~100x slower); each worker gets one thread, and the calling process keeps its own."""
    from threadpoolctl import threadpool_info

    from tasks.touch.data import render_contacts

    before = [i["num_threads"] for i in threadpool_info()]
    got = render_contacts(TouchConfig(**SMALL), 0, {"train": 4, "test": 2}, None, num_workers=2, progress=False,
                          work=_blas_threads_chunk)
    assert got == {"train": [1] * 4, "test": [1] * 2}
    assert [i["num_threads"] for i in threadpool_info()] == before


# ---------------------------------------------------------------- fresh objects, sensor randomisation


def test_fresh_objects_are_new_every_contact_and_held_out_by_the_level_rule():
    """Every train object has a combination the rule leaves to train, every test object a held-out one, and no
    object is pressed in two contacts; over a few contacts most combinations of each side occur."""
    from tasks.touch.contacts import draw_contact
    from tasks.touch.objects import is_heldout_combo, level_combos

    cfg = TouchConfig(train_contacts=0, test_contacts=0, random_sensor_fraction=0.0, press_frames=1, image_size=16)
    ids, combos = [], {"train": set(), "test": set()}
    for split, n in (("train", 40), ("test", 25)):
        for i in range(n):
            draw = draw_contact(cfg, 0, split, i)
            readings = draw.readings[draw.row_sensors[0][0]]
            for r in readings:
                assert is_heldout_combo(r.levels, 3) == (split == "test"), (split, i, r.levels)
                combos[split].add(tuple(r.levels[p] for p in ("hardness", "roughness", "bumpiness")))
            ids += [r.object_id for r in readings]
    assert len(ids) == len(set(ids))
    assert len(combos["train"]) >= 14 and len(combos["test"]) >= 7
    assert combos["test"] <= set(level_combos("test", 3)) and not combos["train"] & combos["test"]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_the_heldout_rule_never_pairs_a_training_combination_with_the_true_third_level(k):
    """The structure behind bumpiness falling below the majority under label-only heads
    (docs/results/touch_encoder_v5/, section 4): for every held-out combination, the training combinations that
    share any two of its levels have every level of the third property except the held-out one."""
    from tasks.touch.objects import level_combos

    train = set(level_combos("train", k))
    for held in level_combos("test", k):
        for j in range(3):
            seen = {c[j] for c in train if all(c[i] == held[i] for i in range(3) if i != j)}
            assert seen == set(range(k)) - {held[j]}, (held, j, seen)


def test_the_parameter_rule_holds_materials_out_at_every_level_combination():
    """``objects=fresh_parameters``: each split's materials fall on its side of the offset-band rule, every level
    combination occurs on both sides, and the training split gives every level of a property some mass whatever
    the other two levels are (no label prior that is wrong on the held-out objects); about a third of the
    unconstrained materials are held out."""
    from envs.tactile import sample_material
    from tasks.touch.objects import fresh_objects, is_heldout_material, level_combos

    got = {"train": [], "test": []}
    for split in got:
        for i in range(700):
            for m in fresh_objects("level", "roughness", split, 3, np.random.default_rng([7, i]), rule="parameters"):
                assert is_heldout_material(m) == (split == "test")
                got[split].append(tuple(m.levels[p] for p in ("hardness", "roughness", "bumpiness")))
    assert set(got["train"]) == set(got["test"]) == set(level_combos("all", 3))
    for j in range(3):
        for pair in {tuple(c[i] for i in range(3) if i != j) for c in got["train"]}:
            third = {c[j] for c in got["train"] if tuple(c[i] for i in range(3) if i != j) == pair}
            assert third == {0, 1, 2}, (j, pair, third)
    rng = np.random.default_rng(3)
    share = np.mean([is_heldout_material(sample_material(rng, None, 3)) for _ in range(3000)])
    assert abs(share - 1 / 3) < 0.04, share
    with pytest.raises(ValueError, match="held-out rule"):
        fresh_objects("level", "roughness", "test", 3, np.random.default_rng(0), rule="combos")


def test_the_parameter_rule_reaches_the_rows_and_the_dataset_card():
    """Test contacts of ``objects=fresh_parameters`` press level combinations the level rule keeps for train,
    and the dataset card names the rule that held them out."""
    from tasks.touch.contacts import draw_contact
    from tasks.touch.objects import PARAMETER_RULE, level_combos

    cfg = TouchConfig(objects="fresh_parameters", train_contacts=4, test_contacts=30, random_sensor_fraction=0.0,
                      image_size=16, question_mix={"level": 1.0, "compare": 0, "superlative": 0, "conflict": 0,
                                                   "cross_sensor": 0})
    combos = set()
    for i in range(30):
        draw = draw_contact(cfg, 0, "test", i)
        combos |= {tuple(r.levels[p] for p in ("hardness", "roughness", "bumpiness"))
                   for r in draw.readings[draw.row_sensors[0][0]]}
    assert combos & set(level_combos("train", 3)), combos
    ds = TouchTask().build_dataset(dataclasses.replace(cfg, test_contacts=2), 0)
    assert dataset_card(cfg, ds)["generation"]["heldout_rule"] == PARAMETER_RULE


def test_catalog_mode_keeps_the_rows_of_data_version_2():
    """``objects=catalog`` without sensor randomisation builds the very rows of the code before fresh objects
    (digest of the label columns and decoded pixels, recorded at commit 2d23052 with the same config)."""
    import hashlib
    import json

    cfg = TouchConfig(num_materials=12, train_contacts=6, test_contacts=3, objects="catalog",
                      random_sensor_fraction=0.0, tactile_view="raw")
    ds = TouchTask().build_dataset(cfg, 5)
    h = hashlib.sha256()
    for split in sorted(ds):
        for r in rows(ds[split]):
            h.update(json.dumps({k: v for k, v in r.items() if k != "images"}, sort_keys=True).encode())
            for im in r["images"]:
                h.update(np.asarray(im).tobytes())
    assert h.hexdigest()[:16] == "8e6cbab1e5888215"


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_sensor_randomisation_swaps_that_share_of_train_readings(fraction):
    from envs.tactile import is_random_sensor
    from tasks.touch.data import contact_rows

    cfg = TouchConfig(random_sensor_fraction=fraction, image_size=16,
                      question_mix={"level": 1, "compare": 0, "superlative": 0, "conflict": 0, "cross_sensor": 0})
    train = [r for i in range(30) for r in contact_rows(cfg, 1, "train", i)]
    share = np.mean([is_random_sensor(r["sensor"]) for r in train])
    assert (share == fraction) if fraction in (0.0, 1.0) else 0.3 < share < 0.7
    for r in train:  # a procedural sensor is named in the prompt by its display name, like any other
        if is_random_sensor(r["sensor"]):
            assert "randomised optical sensor" in r["prompt"][0]["content"][-1]["text"]
    groups = defaultdict(set)
    for r in train:
        groups[r["contact_id"]].add(r["sensor"])
    assert all(len(g) == 2 for g in groups.values())  # two distinct sensors per contact still
    test = [r for i in range(5) for r in contact_rows(cfg, 1, "test", i)]
    assert not any(is_random_sensor(r["sensor"]) for r in test)


def test_several_heldout_sensors():
    cfg = TouchConfig(train_contacts=2, test_contacts=3, heldout_sensor=["marker_gel", "tac3d", "dm_tac"],
                      image_size=16)
    ds = TouchTask().build_dataset(cfg, 0)
    held = rows(ds["test_heldout_sensor"])
    assert len(held) == 9 and {r["sensor"] for r in held} == {"marker_gel", "tac3d", "dm_tac"}
    assert {r["split_tag"] for r in held} == {"heldout_sensor"}
    assert not {"marker_gel", "tac3d", "dm_tac"} & {s for r in rows(ds["train"]) for s in r["image_sources"]}


def test_encoder_sequences_are_the_same_for_any_number_of_workers_and_extend_past_the_rows():
    """``events`` renders more train presses than the QA rows have contacts; the first ones are the rows'
    contacts, and two worker processes give the very frames one process gives."""
    from tasks.touch.encoder_data import touch_encoder_data

    cfg = TouchConfig(train_contacts=3, test_contacts=2, image_size=16)
    one = touch_encoder_data(cfg, 4, frames=2, events=5, num_workers=1)
    two = touch_encoder_data(cfg, 4, frames=2, events=5, num_workers=2)
    default = touch_encoder_data(cfg, 4, frames=2)
    contacts = lambda seqs: {s.group.rsplit("-", 1)[0] for s in seqs}  # noqa: E731 (group: contact-object)
    assert len(contacts(one.train)) == 5 and len(contacts(default.train)) == 3
    for a, b in zip(one.train + one.eval["heldout_objects"], two.train + two.eval["heldout_objects"], strict=True):
        assert (a.group, a.view, a.labels) == (b.group, b.view, b.labels)
        assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames))
    n = len(default.train)
    assert [s.group for s in one.train[:n]] == [s.group for s in default.train]
