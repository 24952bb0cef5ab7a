# Shared by experiments/touch_tower_sweep.sh and experiments/touch_encoder_ablation.sh (sourced, never run).
# The script declares the associative array `args` (variant -> its settings) and the array `order` (all variants).

pick_variants() {  # pick_variants DEFAULT...: set `chosen` from $VARIANTS (else DEFAULT); an unknown one exits 2
  read -r -a chosen <<< "${VARIANTS:-$*}"
  local v
  for v in "${chosen[@]}"; do
    [[ -n ${args[$v]+x} ]] || { echo "$(basename "$0" .sh): unknown variant '$v' (one of ${order[*]})" >&2; exit 2; }
  done
}

run_limited() {  # run_limited LIMIT FUNC ITEM...: FUNC ITEM for each, at most LIMIT at a time; 1 if any failed
  local limit=$1 fn=$2 item pids=() failed=0
  shift 2
  for item in "$@"; do
    "$fn" "$item" & pids+=($!)
    if (( ${#pids[@]} >= limit )); then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
  done
  for item in "${pids[@]}"; do wait "$item" || failed=1; done
  return $failed
}
