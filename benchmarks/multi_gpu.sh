#!/usr/bin/env bash
# The 1- and 2-GPU GRPO runs of the README's Performance table (7B-arch + LoRA, the fast engine, same per-device
# batch), each a separate process: 1 GPU, DDP on 2 GPUs, FSDP2 on 2 GPUs.
#   bash benchmarks/multi_gpu.sh OUT_DIR [1gpu] [ddp] [fsdp]      (default: all three)
# Logs and JSONs go to OUT_DIR. NCCL_NVLS_ENABLE=0: NVLink SHARP multicast is off on the machines measured here.
set -uo pipefail
out=${1:?usage: multi_gpu.sh OUT_DIR [1gpu] [ddp] [fsdp]}; shift
parts=${*:-1gpu ddp fsdp}
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
ARGS=(--arms fast --model "${MODEL:-qwen2.5-vl-7b-arch}" --lora --steps "${STEPS:-4}" --batch "${BATCH:-16}"
      --generations 8 --new-tokens "${NEW_TOKENS:-128}")
for part in $parts; do
  case $part in
    1gpu) cmd=(env CUDA_VISIBLE_DEVICES=0 python benchmarks/grpo_throughput.py) ;;
    ddp)  cmd=(accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 benchmarks/grpo_throughput.py) ;;
    fsdp) cmd=(accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 2 benchmarks/grpo_throughput.py) ;;
    *) echo "unknown part '$part' (1gpu, ddp, fsdp)"; exit 2 ;;
  esac
  echo "== $part: ${cmd[*]} ${ARGS[*]} --json $out/grpo_$part.json" | tee "$out/grpo_$part.log"
  timeout "${PART_TIMEOUT:-400}" "${cmd[@]}" "${ARGS[@]}" --json "$out/grpo_$part.json" >> "$out/grpo_$part.log" 2>&1
  echo "exit $? after ${SECONDS}s" | tee -a "$out/grpo_$part.log"
  grep -h "tokens/s\|rank\|step" "$out/grpo_$part.log" | grep -v "it/s\|Warn" | tail -6
done
