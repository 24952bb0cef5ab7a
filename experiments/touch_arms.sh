#!/usr/bin/env bash
# Touch arms of the GRPO-vs-SFT comparison, one seed: the SFT models the arms start from, then each GRPO arm
# from its SFT model, each evaluated on the test split (held-out objects and held-out sensor).
#
#   experiments/touch_arms.sh OUT SEED ARM...      e.g.  experiments/touch_arms.sh runs/arms 0 sft grpo_full
#
# SFT arms:  sft        the encoder stage, then SFT with the trained tower frozen (the recipe of CONFIG)
#            sft_noenc  SFT alone from the random-init model, its vision tower trained too (no encoder stage)
# GRPO arms, from `sft`; each with the suffix _noenc starts from `sft_noenc` instead:
#            grpo_full (all four rewards) · grpo_no_consistency · grpo_no_grounded · grpo_exact (exact-match
#            accuracy instead of the ordinal reward) · grpo_hot (grpo_full sampling at temperature 1.5) ·
#            grpo_long (grpo_full for 4x the steps at 2.5x the learning rate)
# A GRPO arm trains its SFT model first when that is missing.
#
# CONFIG (default configs/touch_encoder_small_gpu.yaml) sets the recipe; EXTRA adds overrides to every run
# (e.g. EXTRA="data_workers=14 grpo.max_steps=30"); ER1 is the command (default embodied-r1).
# PARALLEL=1 trains the SFT models side by side, then all GRPO arms side by side (one small model leaves a GPU
# mostly idle); each run's output then goes to OUT/logs/<arm>.log, and the tail of a failed one is printed.
# Each arm writes OUT/<arm>/eval/eval.json; a finished run or eval is skipped when the script is run again, so
# a run cut by a time limit continues with --resume.
set -euo pipefail
usage="usage: experiments/touch_arms.sh OUT SEED ARM...  (arms: sft, sft_noenc, grpo_{full,no_consistency,no_grounded,exact,hot,long}[_noenc])"
out=${1:?$usage}; seed=${2:?$usage}; shift 2
config=${CONFIG:-configs/touch_encoder_small_gpu.yaml}
read -r -a extra <<< "${EXTRA:-}"
read -r -a er1 <<< "${ER1:-embodied-r1}"
source "$(dirname "$0")/arms_lib.sh"

grpo_overrides() {  # grpo_overrides KIND: the overrides of a GRPO arm, one per line
  case $1 in
    full) ;;
    no_consistency) echo touch.rewards.cross_sensor_consistency_reward=0 ;;
    no_grounded) echo touch.rewards.tactile_grounded_reward=0 ;;
    exact) printf '%s\n' touch.rewards.ordinal_accuracy_reward=0 touch.rewards.exact_accuracy_reward=1 ;;
    hot) echo grpo.temperature=1.5 ;;
    long)  # 4x the steps of the recipe (after EXTRA) at 2.5x its learning rate
      local steps lr
      steps=$(recipe_value grpo.max_steps) lr=$(recipe_value grpo.learning_rate)
      printf '%s\n' "grpo.max_steps=$((steps * 4))" "grpo.save_steps=$((steps * 4))" \
        "grpo.learning_rate=$(python3 -c "print(2.5 * float('$lr'))")" ;;
  esac
}

kinds=" full no_consistency no_grounded exact hot long "
kind_of() { local k=${1#grpo_}; echo "${k%_noenc}"; }

base_of() {  # base_of ARM: the SFT arm a GRPO arm starts from ("" for an SFT arm); fails on an unknown arm
  case $1 in
    sft|sft_noenc) echo "" ;;
    grpo_*) [[ $kinds == *" $(kind_of "$1") "* ]] || return 1
            if [[ $1 == *_noenc ]]; then echo sft_noenc; else echo sft; fi ;;
    *) return 1 ;;
  esac
}

for arm in "$@"; do  # every arm is checked before any work starts
  base_of "$arm" >/dev/null || { echo "experiments/touch_arms.sh: unknown arm '$arm'; $usage" >&2; exit 2; }
done
mkdir -p "$out"

run_arm() {  # run_arm ARM: train and evaluate one arm (its SFT model must exist for a GRPO arm)
  local arm=$1 base overrides=()
  base=$(base_of "$arm")
  case $arm in
    sft) train "$out/sft" "stages=[encoder,sft]" ;;
    sft_noenc) train "$out/sft_noenc" "stages=[sft]" model.freeze_vision=false ;;
    *) mapfile -t overrides < <(grpo_overrides "$(kind_of "$arm")")
       train "$out/$arm" "stages=[grpo]" "model.name=$out/$base/final" "${overrides[@]}" ;;
  esac
  evaluate "$out/$arm"
}

# The SFT models needed (listed or the base of a listed GRPO arm), then the GRPO arms.
sfts=() grpos=()
for arm in "$@"; do
  base=$(base_of "$arm")
  if [[ -z $base ]]; then want=$arm; else want=$base; grpos+=("$arm"); fi
  [[ " ${sfts[*]} " == *" $want "* ]] || sfts+=("$want")
done

run_phase "${sfts[@]}"
if (( ${#grpos[@]} )); then run_phase "${grpos[@]}"; fi
