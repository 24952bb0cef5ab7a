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


def _row(prop, answer, completion, tag="heldout_material", qtype="level"):
    return {"question_type": qtype, "split_tag": tag, "property": prop, "answer": str(answer), "num_levels": 3,
            "option_levels": [], "completion": completion}


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
    assert "covers" in proc.stdout and "bumpiness" in proc.stdout


def test_a_folder_without_predictions_is_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode != 0 and "predictions.jsonl not found" in proc.stderr
    assert "Traceback" not in proc.stderr
