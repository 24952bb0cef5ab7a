#!/usr/bin/env bash
# Touch-R1's first two stages end to end, once per variant: the encoder stage (with its linear probe), SFT from the
# encoder's saved model, then `embodied-r1 eval` on every test row and the held-out level accuracy per property with
# its 95% interval (experiments/touch_heldout_levels.py). configs/touch_encoder_small_gpu.yaml, one change a variant.
#
#   bash experiments/touch_chain.sh OUT_DIR            # GPU sizes; run it again to go on after a time limit
#   SMOKE=1 bash experiments/touch_chain.sh OUT_DIR    # the tiny preset, under a minute a variant on a CPU (its
#                                                       # sizes win over a variant's; EXTRA wins over both)
#
# Each variant writes the run folder OUT_DIR/<variant>/ (eval in OUT_DIR/<variant>/eval/) and OUT_DIR/<variant>.log.
# A second call resumes an unfinished run from its last checkpoint (`embodied-r1 train --resume`; a SIGTERM, as
# `timeout` or a cluster sends, saves one) and skips what is done. VARIANTS="name ..." picks variants; PARALLEL
# (default 2) run side by side, each rendering with WORKERS processes (default 7); EXTRA="key=value ..." adds
# settings to every new run (e.g. EXTRA="seed=1 touch.test_contacts=800"). The table at the end holds the
# probe and the after-SFT accuracy of every variant that got that far; OUT_DIR/chain.json holds the same.
set -euo pipefail
out=${1:?usage: touch_chain.sh OUT_DIR}
mkdir -p "$out"
here=$(cd "$(dirname "$0")/.." && pwd)
declare -A args=(
  # the config: objects held out by their continuous parameters at every level combination, property weight 4
  [parameters]="touch.objects=fresh_parameters"
  # the task's default split: objects held out by the level rule (h + r + b) % 3 == 2 (tasks/touch/objects.py)
  [levels]="touch.objects=fresh"
  [parameters_x12]="touch.objects=fresh_parameters encoder.property_weight=12"
  [parameters_x1]="touch.objects=fresh_parameters encoder.property_weight=1"
  # SFT on 4x the rows of section 6 (2.5 epochs in 800 steps instead of 10), section 8; the config since then
  [parameters_rows4x]="touch.objects=fresh_parameters touch.train_contacts=10000"
  # section 6's data: 2,500 train contacts (10 SFT epochs) and 400 test contacts
  [parameters_rows1x]="touch.objects=fresh_parameters touch.train_contacts=2500 touch.test_contacts=400"
)
order=(levels parameters parameters_x12 parameters_x1 parameters_rows4x parameters_rows1x)
source "$here/experiments/variants_lib.sh"
pick_variants parameters parameters_x12
if [[ -n ${SMOKE:-} ]]; then
  size=(model.name=tiny model.dtype=float32 encoder.events=8 encoder.max_steps=3 encoder.batch_size=2
        encoder.save_steps=100 encoder.dataloader_num_workers=0 sft.max_steps=2 sft.per_device_train_batch_size=4
        sft.dataloader_num_workers=0 touch.train_contacts=8 touch.test_contacts=4 touch.num_materials=12
        eval.max_samples=12 eval.max_new_tokens=16 data_workers=1)
else
  size=(encoder.save_steps=500 data_workers=${WORKERS:-7})
fi
run() {
  local v=$1 d=$out/$1
  if [[ ! -f $d/final/config.json ]]; then
    if [[ -f $d/config.yaml ]]; then
      embodied-r1 train --output "$d" --resume >> "$out/$v.log" 2>&1 || return
    else
      # shellcheck disable=SC2086
      embodied-r1 train --config "$here/configs/touch_encoder_small_gpu.yaml" --output "$d" "stages=[encoder,sft]" \
        ${args[$v]} "${size[@]}" ${EXTRA:-} >> "$out/$v.log" 2>&1 || return
    fi
  fi
  [[ -f $d/eval/eval.json ]] || embodied-r1 eval --model "$d" --output "$d/eval" >> "$out/$v.log" 2>&1
}
failed=0
run_limited "${PARALLEL:-2}" run "${chosen[@]}" || failed=1
python3 - "$here" "$out" "${chosen[@]}" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, str(Path(sys.argv[1]) / "experiments"))
from touch_heldout_levels import summarise
from embodied_r1.rundir import RunDir
from envs.tactile import PROPERTIES

out = Path(sys.argv[2])
table = {}
print(f"{'variant':15s} {'probe, held-out objects':24s} {'after SFT, held-out level rows (majority)':47s} "
      f"{'level-balanced':24s} exact match")
for v in sys.argv[3:]:
    probe = next(iter(RunDir(out / v).read_metrics(kind="probe")), None)  # skips a line torn by a kill
    entry = table[v] = {}
    if probe:
        entry["probe"] = {p: probe[f"probe/heldout_objects/{p}"] for p in PROPERTIES}
    card = out / v / "eval" / "eval.json"
    if card.exists():
        entry["after_sft"] = summarise(card.parent)
        entry["exact_match"] = json.loads(card.read_text()).get("metrics", {}).get("exact_match")
    p = " / ".join(f"{entry['probe'][k]:.3f}" for k in PROPERTIES) if "probe" in entry else "not reached"
    s = " / ".join(f"{r['accuracy']:.3f} ({r['majority']:.3f})" if r["accuracy"] is not None and r["majority"]
                   is not None else "n/a" for r in entry["after_sft"].values()) if "after_sft" in entry else "not reached"
    bal = " / ".join("n/a" if r["balanced_accuracy"] is None else f"{r['balanced_accuracy']:.3f}"
                     for r in entry["after_sft"].values()) if "after_sft" in entry else ""
    em = entry.get("exact_match")
    print(f"{v:15s} {p:24s} {s:47s} {bal:24s} {'' if em is None else f'{em:.3f}'}")
(out / "chain.json").write_text(json.dumps(table, indent=1))
PY
exit $failed
