#!/usr/bin/env bash
# Robot arms of the GRPO-vs-SFT comparison, one seed: an SFT model, GRPO arms from it, and the closed-loop
# baselines; each model arm is evaluated offline (keypoint error on the test split: in-domain tasks and the
# held-out simulator task) and in closed loop (eval-control success).
#
#   experiments/robot_arms.sh OUT SEED ARM...      e.g.  experiments/robot_arms.sh runs/robot 0 sft grpo_distance oracle zero
#
# Arms: sft (SFT only) · grpo_distance (GRPO scored by the keypoint distance reward and the format reward) ·
#       grpo_mcq (multiple choice only: the MCQ reward and the format reward, Robot-R1's form) ·
#       grpo_all (every reward of the task) · oracle, zero (eval-control's built-in policies, no training).
# The GRPO arms train on the same rows as SFT (a reward of weight 0 scores nothing), so every arm is evaluated
# on the same test rows. A GRPO arm brings the sft arm with it (trained first when missing, and evaluated).
#
# CONFIG (default configs/robot_keypoint_small_gpu.yaml) sets the recipe; EXTRA adds overrides to every run;
# CONTROL holds the eval-control options (default "--tasks Lift --episodes 20 --workers 4"); ER1 is the command
# (default embodied-r1). PARALLEL=1 runs the arms side by side once the SFT model exists (logs in OUT/logs/).
# Each model arm writes OUT/<arm>/eval/eval.json (test split of the training tasks), OUT/<arm>/eval_heldout/eval.json
# (the held-out task's demos, when the recipe has one) and OUT/<arm>/control/summary.json, a baseline
# OUT/<arm>/control/summary.json; finished work is skipped when the script is run again, and a cut run or
# closed-loop sweep continues with --resume.
set -euo pipefail
usage="usage: experiments/robot_arms.sh OUT SEED ARM...  (arms: sft, grpo_distance, grpo_mcq, grpo_all, oracle, zero)"
out=${1:?$usage}; seed=${2:?$usage}; shift 2
config=${CONFIG:-configs/robot_keypoint_small_gpu.yaml}
read -r -a extra <<< "${EXTRA:-}"
read -r -a er1 <<< "${ER1:-embodied-r1}"
read -r -a control_opts <<< "${CONTROL:---tasks Lift --episodes 20 --workers 4}"
source "$(dirname "$0")/arms_lib.sh"

for arm in "$@"; do  # every arm is checked before any work starts
  case $arm in
    sft|grpo_distance|grpo_mcq|grpo_all|oracle|zero) ;;
    *) echo "experiments/robot_arms.sh: unknown arm '$arm'; $usage" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"

control() {  # control POLICY DIR: closed-loop sweep of POLICY into DIR (continued when cut)
  local policy=$1 dir=$2
  if [[ -f $dir/summary.json ]]; then return; fi
  if [[ -f $dir/options.json ]]; then
    "${er1[@]}" eval-control --policy "$policy" --output "$dir" --resume "${control_opts[@]}"
  else
    "${er1[@]}" eval-control --policy "$policy" --output "$dir" "${control_opts[@]}"
  fi
}

heldout=$(recipe_value robot-keypoint.heldout_task)

evaluate_heldout() {  # evaluate_heldout DIR: the same eval on the held-out simulator task's demos
  local dir=$1
  [[ -z $heldout || $heldout == none || $heldout == None ]] && return
  [[ -f $dir/eval_heldout/eval.json ]] || "${er1[@]}" eval --model "$dir" --output "$dir/eval_heldout" eval.split=test_heldout_task
}

run_arm() {  # run_arm ARM: train, evaluate offline and in closed loop
  local arm=$1 rw=robot-keypoint.rewards
  case $arm in
    sft_model) train "$out/sft" "stages=[sft]"; return ;;
    oracle|zero) control "$arm" "$out/$arm/control"; return ;;
    sft) train "$out/sft" "stages=[sft]" ;;
    grpo_distance) train "$out/$arm" "stages=[grpo]" "model.name=$out/sft/final" "$rw.mcq_reward=0" "$rw.direction_reward=0" ;;
    grpo_mcq) train "$out/$arm" "stages=[grpo]" "model.name=$out/sft/final" "$rw.keypoint_reward=0" "$rw.direction_reward=0" ;;
    grpo_all) train "$out/$arm" "stages=[grpo]" "model.name=$out/sft/final" ;;
  esac
  evaluate "$out/$arm"
  evaluate_heldout "$out/$arm"
  control "$out/$arm" "$out/$arm/control"
}

arms=("$@")
if [[ " ${arms[*]} " == *" grpo_"* || " ${arms[*]} " == *" sft "* ]]; then
  run_phase sft_model  # first the SFT model every GRPO arm starts from
  [[ " ${arms[*]} " == *" sft "* ]] || arms=(sft "${arms[@]}")  # the reference arm is always evaluated too
fi
run_phase "${arms[@]}"
