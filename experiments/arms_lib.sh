# Shared by the experiments/*_arms.sh scripts (sourced, never run). The script sets: out, seed, config, the
# arrays extra and er1, and a function run_arm ARM that trains and evaluates one arm.

train() {  # train DIR ARGS...: start the run, or continue it when DIR holds one; a finished run is skipped
  local dir=$1; shift
  if [[ -f $dir/final/config.json ]]; then return; fi
  if [[ -f $dir/config.yaml ]]; then
    "${er1[@]}" train --resume --output "$dir"
  else
    "${er1[@]}" train --config "$config" --output "$dir" seed="$seed" "${extra[@]}" "$@"  # the arm's own settings win
  fi
}

evaluate() {  # evaluate DIR: greedy eval of the run's final model on its test split
  local dir=$1
  [[ -f $dir/eval/eval.json ]] || "${er1[@]}" eval --model "$dir" --output "$dir/eval"
}

recipe_value() {  # recipe_value KEY: KEY's value in EXTRA, else in CONFIG
  local kv
  for kv in "${extra[@]}"; do [[ $kv == "$1="* ]] && { echo "${kv#*=}"; return; }; done
  python3 - "$config" "$1" <<'PY'
import sys, yaml
node = yaml.safe_load(open(sys.argv[1]))
for part in sys.argv[2].split("."):
    node = node[part]
print(node)
PY
}

run_phase() {  # run_phase ARM...: run_arm each, one after another, or side by side with PARALLEL=1
  if [[ ${PARALLEL:-0} != 1 ]]; then
    for arm in "$@"; do run_arm "$arm"; done
    return
  fi
  mkdir -p "$out/logs"
  local arms=("$@") pids=() i failed=0
  for i in "${!arms[@]}"; do
    run_arm "${arms[$i]}" > "$out/logs/${arms[$i]}.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      failed=1
      echo "$(basename "$0"): arm ${arms[$i]} failed; the end of $out/logs/${arms[$i]}.log:" >&2
      tail -n 20 "$out/logs/${arms[$i]}.log" >&2
    fi
  done
  return $failed
}
