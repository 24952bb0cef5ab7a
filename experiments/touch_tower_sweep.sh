#!/usr/bin/env bash
# What makes the `small` preset's vision tower read a touch property: the tower plus one K-way head per property,
# trained on the labels themselves (benchmarks/touch_tower.py), over head pooling, token budget and learning rate,
# every variant on the very same rendered images (but `_frames4`, rendered with 4 frames a press). The encoder stage
# can teach the tower no more than this.
#
#   bash experiments/touch_tower_sweep.sh OUT_DIR                 # GPU sizes
#   IMAGE_SIZE=224 bash experiments/touch_tower_sweep.sh OUT_DIR  # rendered at 224 px (what the *_224 variants need
#                                                                 # to gain anything; rendering takes 4x as long)
#   SMOKE=1 bash experiments/touch_tower_sweep.sh OUT_DIR         # seconds, on a CPU
#
# Variants run PARALLEL at a time (default 4) on the one device; each writes OUT_DIR/<variant>.json and .log.
# Set VARIANTS="name ..." to run some only. A variant whose JSON exists is skipped. The summary prints a table and
# held-out roughness at each evaluation, and draws OUT_DIR/heldout_accuracy.png.
set -euo pipefail
out=${1:?usage: touch_tower_sweep.sh OUT_DIR}
mkdir -p "$out"
here=$(cd "$(dirname "$0")/.." && pwd)
declare -A args=(
  [mean_112]="--pool mean"
  [attention_112]="--pool attention"
  [meanmax_112]="--pool meanmax"
  [max_112]="--pool max"
  [mean_224]="--pool mean --max-pixels 50176"
  [attention_224]="--pool attention --max-pixels 50176"
  [mean_112_lr3e-4]="--pool mean --lr 3e-4"
  [attention_112_lr3e-4]="--pool attention --lr 3e-4"
  [attention_224_lr3e-4]="--pool attention --max-pixels 50176 --lr 3e-4"
  # What the encoder stage does differently from this benchmark, one change at a time (its property head is this
  # head; docs/results/touch_encoder_v5/): the Trainer's schedule and weight decay, gradient clipping, bf16
  # autocast, all four of them, and every frame of a 4-frame press as a training image.
  [mean_112_lr3e-4_linear]="--pool mean --lr 3e-4 --schedule linear --warmup 50 --weight-decay 0.05"
  [mean_112_lr3e-4_clip]="--pool mean --lr 3e-4 --max-grad-norm 1"
  [mean_112_lr3e-4_bf16]="--pool mean --lr 3e-4 --bf16-autocast"
  [mean_112_lr3e-4_trainer]="--pool mean --lr 3e-4 --trainer-like"
  [mean_112_lr3e-4_frames4]="--pool mean --lr 3e-4 --press-frames 4"
)
# Variants whose images differ (more frames per press) render their own cache, named by these arguments. Their
# images are other draws (each frame draws its own noise), so their held-out sets are not the others' either.
declare -A data_args=([mean_112_lr3e-4_frames4]="--press-frames 4")
order=(mean_112 attention_112 meanmax_112 max_112 mean_224 attention_224 mean_112_lr3e-4 attention_112_lr3e-4
       attention_224_lr3e-4 mean_112_lr3e-4_linear mean_112_lr3e-4_clip mean_112_lr3e-4_bf16 mean_112_lr3e-4_trainer
       mean_112_lr3e-4_frames4)
source "$here/experiments/variants_lib.sh"
pick_variants "${order[@]}"
if [[ -n ${SMOKE:-} ]]; then
  size=(--smoke --device cpu)
else
  size=(--train-contacts ${TRAIN_CONTACTS:-6000} --test-contacts 400 --image-size ${IMAGE_SIZE:-112} --steps ${STEPS:-2000}
        --batch-size 64 --eval-every 250 --workers ${WORKERS:-14} --threads ${THREADS:-3})
fi
cache_of() { local d=${data_args[$1]:-}; echo "$out/images${d:+_$(tr -c 'a-z0-9\n' _ <<< "${d#--}")}.npz"; }
run() {
  local v=$1
  [[ -f $out/$v.json ]] && return 0
  # shellcheck disable=SC2086
  python3 "$here/benchmarks/touch_tower.py" "${size[@]}" --data-cache "$(cache_of "$v")" ${args[$v]} --out "$out/$v.json.tmp" \
    > "$out/$v.log" 2>&1 && mv "$out/$v.json.tmp" "$out/$v.json"
}
# Each image cache is rendered once, one after the other, before the variants that read it train side by side.
for v in "${chosen[@]}"; do
  c=$(cache_of "$v")
  [[ -f $out/$v.json || -f $c ]] && continue
  log=$out/render_$(basename "$c" .npz).log
  # shellcheck disable=SC2086
  python3 "$here/benchmarks/touch_tower.py" "${size[@]}" --data-cache "$c" ${data_args[$v]:-} --render-only > "$log" 2>&1 \
    || { echo "touch_tower_sweep: rendering $c failed, see $log" >&2; tail -5 "$log" >&2; exit 1; }
done
failed=0
run_limited "${PARALLEL:-4}" run "${chosen[@]}" || failed=1
rm -f "$out"/images*.npz
python3 - "$out" "${chosen[@]}" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'variant':24s} {'tokens':>6s}  held-out objects: hardness / roughness / bumpiness   marker_gel   train s")
for v in sys.argv[2:]:
    f = out / f"{v}.json"
    if not f.exists():
        print(f"{v:24s} FAILED (see {v}.log)"); continue
    r = json.loads(f.read_text())
    ho, mg = r["final"]["heldout_objects"], r["final"].get("marker_gel", {})
    fmt = lambda a: " / ".join(f"{a[p]:.3f}" for p in ("hardness", "roughness", "bumpiness"))
    print(f"{v:24s} {r['tokens_per_image']:6d}  {fmt(ho):40s}  {fmt(mg) if mg else '-':24s} {r['train_s']:7.0f}")
print("\nroughness on held-out objects (train) at each evaluation")
for v in sys.argv[2:]:
    f = out / f"{v}.json"
    if f.exists():
        h = json.loads(f.read_text())["history"]
        print(f"{v:24s} " + "  ".join(f"{e['step']}:{e['acc']['heldout_objects']['roughness']:.2f}"
                                      f"({e['acc']['train']['roughness']:.2f})" for e in h))
done = [v for v in sys.argv[2:] if (out / f"{v}.json").exists()]
if done:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True)
    for ax, prop in zip(axes, ("hardness", "roughness", "bumpiness")):
        for v in done:
            h = json.loads((out / f"{v}.json").read_text())["history"]
            ax.plot([e["step"] for e in h], [e["acc"]["heldout_objects"][prop] for e in h], marker="o", ms=3, label=v)
        ax.set(title=f"{prop}: held-out objects", xlabel="step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy of the trained head")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "heldout_accuracy.png", dpi=110)
    print(f"plot: {out / 'heldout_accuracy.png'}")
PY
exit $failed
