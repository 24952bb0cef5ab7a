#!/usr/bin/env bash
# Which term of the encoder stage teaches the `small` tower what: the stage alone (its linear probe on held-out
# objects and the held-out sensor), with configs/touch_encoder_small_gpu.yaml and one change per variant.
#
#   bash experiments/touch_encoder_ablation.sh OUT_DIR            # GPU sizes; run it again to go on after a limit
#   SMOKE=1 bash experiments/touch_encoder_ablation.sh OUT_DIR    # the tiny preset, seconds each, on a CPU
#
# Each variant writes OUT_DIR/<variant>/ (a run folder: metrics.jsonl, plots/encoder_probe.png) and
# OUT_DIR/<variant>.log. Set VARIANTS="name ..." to run some only; EVENTS, STEPS and WORKERS (rendering processes
# per variant) size the runs. A variant whose probe is on record is skipped, so a second call continues.
# PARALLEL variants run at a time (default 1), each rendering its own presses with WORKERS processes of one thread
# each: two variants of 7 workers side by side took 197 s for 4,000 events and 2,000 steps (nvidia-h100-x1,
# docs/results/touch_encoder_v5/).
set -euo pipefail
out=${1:?usage: touch_encoder_ablation.sh OUT_DIR}
mkdir -p "$out"
here=$(cd "$(dirname "$0")/.." && pwd)
declare -A args=(
  [full]=""
  [property_only]="encoder.jepa_weight=0 encoder.contrastive_weight=0"
  [no_jepa]="encoder.jepa_weight=0"
  [no_contrastive]="encoder.contrastive_weight=0"
  [lr1e-4]="encoder.learning_rate=1e-4"
  [property_x4]="encoder.property_weight=4"
  # The config renders tactile images at 112 px; these read the sensors' native sizes (42-96 px), as it did before.
  [full_native]="touch.image_size=null"
  [property_only_native]="encoder.jepa_weight=0 encoder.contrastive_weight=0 touch.image_size=null"
  # The split: the config now holds objects out by their continuous parameters (touch.objects: fresh_parameters);
  # the variants above ran under the task's level rule before it did (docs/results/touch_encoder_v5/, sections 3-5).
  [full_levels]="touch.objects=fresh"
  [full_parameters]="touch.objects=fresh_parameters"
  [property_x4_parameters]="encoder.property_weight=4 touch.objects=fresh_parameters"
)
order=(full property_only no_jepa lr1e-4 no_contrastive property_x4 full_native property_only_native full_levels
       full_parameters property_x4_parameters)
source "$here/experiments/variants_lib.sh"
pick_variants full property_only no_jepa lr1e-4
if [[ -n ${SMOKE:-} ]]; then
  size=(model.name=tiny model.dtype=float32 encoder.events=8 encoder.max_steps=3 encoder.batch_size=2 encoder.save_steps=100
        encoder.dataloader_num_workers=0 touch.test_contacts=4 data_workers=1)
else
  size=(encoder.events=${EVENTS:-5000} encoder.max_steps=${STEPS:-1800} encoder.save_steps=100000
        encoder.dataloader_num_workers=2 data_workers=${WORKERS:-14})
fi
has_probe() { [[ -f $1/metrics.jsonl ]] && grep -q '"kind": "probe"' "$1/metrics.jsonl"; }
run() {
  local v=$1
  has_probe "$out/$v" && return 0
  rm -rf "${out:?}/$v"
  # shellcheck disable=SC2086
  embodied-r1 train --config "$here/configs/touch_encoder_small_gpu.yaml" --output "$out/$v" "stages=[encoder]" \
    "${size[@]}" ${args[$v]} > "$out/$v.log" 2>&1
}
failed=0
run_limited "${PARALLEL:-1}" run "${chosen[@]}" || failed=1
python3 - "$out" "${chosen[@]}" <<'PY'
import sys
from pathlib import Path
from embodied_r1.rundir import RunDir
out = Path(sys.argv[1])
props = ("hardness", "roughness", "bumpiness")
print(f"{'variant':21s} held-out objects: {' / '.join(props)}    held-out sensor                majority (objects)")
for v in sys.argv[2:]:
    probe = next(iter(RunDir(out / v).read_metrics(kind="probe")), None)  # skips a line torn by a kill
    if probe is None:
        print(f"{v:21s} no probe (see {v}.log)"); continue
    fmt = lambda s, k="probe": " / ".join(f"{probe.get(f'{k}/{s}/{p}', float('nan')):.3f}" for p in props)
    print(f"{v:21s} {fmt('heldout_objects'):36s} {fmt('heldout_sensor'):30s} {fmt('heldout_objects', 'probe_majority')}")
PY
exit $failed
