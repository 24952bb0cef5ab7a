"""``experiments/touch_heldout_levels.py``: held-out level accuracy per property with a Wilson interval, scored by
the touch task's own parser, and a verdict against the train-majority baseline."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "touch_heldout_levels.py"


def _answer(level) -> str:
    return f"<perceive>x</perceive>\n<conclude>x</conclude>\n<answer>{level}</answer>"


def _row(prop, answer, completion, tag="heldout_material", qtype="level", contact=None):
    row = {"question_type": qtype, "split_tag": tag, "property": prop, "answer": str(answer), "num_levels": 3,
           "option_levels": [], "completion": completion}
    return row if contact is None else {**row, "contact_id": contact}


def test_counts_intervals_and_verdicts(tmp_path):
    rows = [_row("hardness", 1, _answer(1)) for _ in range(60)]                     # 60/60 right
    rows += [_row("roughness", i % 3, _answer(i % 3) if i < 20 else _answer((i + 1) % 3)) for i in range(60)]  # 20/60
    rows += [_row("bumpiness", 0, _answer(2)) for _ in range(40)]                    # 0/40
    rows += [_row("bumpiness", 0, "no tags at all, <answer>9</answer>")]             # unparseable: wrong, still counted
    rows += [_row("hardness", 1, _answer(0), tag="heldout_sensor")]                   # other split tags are ignored
    rows += [_row("hardness", "A", "<answer>A</answer>", qtype="compare")]             # and other question types
    (tmp_path / "predictions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "eval.json").write_text(json.dumps({"baselines": {"majority_train": {
        "heldout_material_level_acc/hardness": 0.35, "heldout_material_level_acc/roughness": 0.33,
        "heldout_material_level_acc/bumpiness": 0.3}}}))
    out = tmp_path / "s.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--json", str(out)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(out.read_text())[str(tmp_path)]
    assert (s["hardness"]["n"], s["roughness"]["n"], s["bumpiness"]["n"]) == (60, 60, 41)
    assert s["hardness"]["accuracy"] == 1.0 and s["hardness"]["verdict"] == "above"
    assert abs(s["roughness"]["accuracy"] - 1 / 3) < 1e-9 and s["roughness"]["verdict"] == "covers"
    lo, hi = s["roughness"]["ci95"]
    assert 0.2 < lo < 1 / 3 < hi < 0.47
    assert s["bumpiness"]["accuracy"] == 0.0 and s["bumpiness"]["verdict"] == "below"
    # roughness: 20 rows per level, right on rows 0-19 (levels 0, 1, 2 alike): balanced equals plain accuracy
    assert s["roughness"]["levels"] == {"0": 20, "1": 20, "2": 20}
    assert abs(s["roughness"]["balanced_accuracy"] - 1 / 3) < 1e-9
    assert "covers" in proc.stdout and "bumpiness" in proc.stdout


def test_a_folder_without_predictions_is_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode != 0 and "predictions.jsonl not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_interval_counts_each_contact_once(tmp_path):
    """Two sensor views of one object are one draw: 30 contacts of 2 rows give the interval of 30 objects, not of 60
    rows; a contact whose two rows disagree counts half."""
    import importlib.util
    from embodied_r1.stats import wilson_interval

    spec = importlib.util.spec_from_file_location("touch_heldout_levels", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = []
    for c in range(30):
        right = c < 15                                          # 15 contacts right on both rows, 15 wrong on both
        rows += [_row("hardness", 1, _answer(1 if right else 2), contact=f"test-{c}") for _ in range(2)]
    rows += [_row("roughness", 0, _answer(0), contact="test-x"), _row("roughness", 0, _answer(1), contact="test-x")]
    (tmp_path / "predictions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    s = mod.summarise(tmp_path)
    assert (s["hardness"]["n"], s["hardness"]["objects"], s["hardness"]["accuracy"]) == (60, 30, 0.5)
    assert s["hardness"]["ci95"] == list(wilson_interval(15, 30)) != list(wilson_interval(30, 60))
    assert s["hardness"]["ci95"][1] - s["hardness"]["ci95"][0] > wilson_interval(30, 60)[1] - wilson_interval(30, 60)[0]
    assert (s["roughness"]["objects"], s["roughness"]["accuracy"]) == (1, 0.5)
    assert s["roughness"]["ci95"] == list(wilson_interval(0.5, 1))
    assert s["bumpiness"]["n"] == s["bumpiness"]["objects"] == 0 and s["bumpiness"]["verdict"] is None


def test_balanced_accuracy_is_blind_to_the_level_mix(tmp_path):
    """On a sample where one level dominates, a constant answer of that level looks good in plain accuracy but
    scores 1/K balanced; a model that reads every level scores the mean of its per-level accuracies."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("touch_heldout_levels", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mix = [2] * 18 + [0] * 15 + [1] * 5
    rows = [_row("bumpiness", lv, _answer(2), contact=f"b{i}") for i, lv in enumerate(mix)]       # always "2"
    rows += [_row("hardness", lv, _answer(lv if i % 2 == 0 else (lv + 1) % 3), contact=f"h{i}")  # half right
             for i, lv in enumerate([0, 0, 1, 1, 2, 2] * 4)]
    (tmp_path / "predictions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    s = mod.summarise(tmp_path)
    assert abs(s["bumpiness"]["accuracy"] - 18 / 38) < 1e-9
    assert abs(s["bumpiness"]["balanced_accuracy"] - 1 / 3) < 1e-9
    assert s["bumpiness"]["levels"] == {"0": 15, "1": 5, "2": 18}
    assert abs(s["hardness"]["balanced_accuracy"] - 0.5) < 1e-9 and s["roughness"]["balanced_accuracy"] is None
