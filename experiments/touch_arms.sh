#!/usr/bin/env bash
# Touch arms of the GRPO-vs-SFT comparison, one seed: a shared encoder -> SFT run (the "sft" arm), then each GRPO
# arm starting from that SFT model, each evaluated on the test split (held-out objects and held-out sensor).
#
#   experiments/touch_arms.sh OUT SEED ARM...      e.g.  experiments/touch_arms.sh runs/arms 0 sft grpo_full
#
# Arms: sft (SFT only) · grpo_full (all four rewards) · grpo_no_consistency · grpo_no_grounded · grpo_exact
# (exact-match accuracy instead of the ordinal reward).
# CONFIG (default configs/touch_encoder_small_gpu.yaml) sets the recipe; EXTRA adds overrides to every run
# (e.g. EXTRA="data_workers=14 grpo.max_steps=30"); ER1 is the command (default embodied-r1). Each arm writes OUT/<arm>/eval/eval.json; a finished run or
# eval is skipped when the script is run again, so a run cut by a time limit continues with --resume.
set -euo pipefail
out=${1:?usage: experiments/touch_arms.sh OUT SEED ARM...}; seed=${2:?seed}; shift 2
config=${CONFIG:-configs/touch_encoder_small_gpu.yaml}
read -r -a extra <<< "${EXTRA:-}"
read -r -a er1 <<< "${ER1:-embodied-r1}"
mkdir -p "$out"

train() {  # train DIR ARGS...: start the run, or continue it when DIR holds one
  local dir=$1; shift
  if [[ -f $dir/final/config.json ]]; then return; fi
  if [[ -f $dir/config.yaml ]]; then
    "${er1[@]}" train --resume --output "$dir"
  else
    "${er1[@]}" train --config "$config" --output "$dir" seed="$seed" "$@" "${extra[@]}"
  fi
}

evaluate() {  # evaluate DIR: greedy eval of the run's final model
  local dir=$1
  [[ -f $dir/eval/eval.json ]] || "${er1[@]}" eval --model "$dir" --output "$dir/eval"
}

grpo_arm() {  # grpo_arm NAME OVERRIDES...: GRPO from the shared SFT model
  local name=$1; shift
  train "$out/$name" "stages=[grpo]" "model.name=$out/sft/final" "$@"
  evaluate "$out/$name"
}

for arm in "$@"; do
  case $arm in
    sft) train "$out/sft" "stages=[encoder,sft]"; evaluate "$out/sft" ;;
    grpo_full) grpo_arm grpo_full ;;
    grpo_no_consistency) grpo_arm grpo_no_consistency touch.rewards.cross_sensor_consistency_reward=0 ;;
    grpo_no_grounded) grpo_arm grpo_no_grounded touch.rewards.tactile_grounded_reward=0 ;;
    grpo_exact) grpo_arm grpo_exact touch.rewards.ordinal_accuracy_reward=0 touch.rewards.exact_accuracy_reward=1 ;;
    *) echo "experiments/touch_arms.sh: unknown arm '$arm' (sft, grpo_full, grpo_no_consistency, grpo_no_grounded, grpo_exact)" >&2
       exit 2 ;;
  esac
done
