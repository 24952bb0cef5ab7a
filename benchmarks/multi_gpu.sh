#!/usr/bin/env bash
# The multi-GPU GRPO runs of the README's Performance tables (7B-arch, the fast engine, the same per-device batch),
# each a separate process group: 1 GPU, DDP and FSDP2 on NPROC GPUs (LoRA r16), and FSDP2 full fine-tuning.
#   NPROC=2 bash benchmarks/multi_gpu.sh OUT_DIR [1gpu] [ddp] [fsdp] [fsdp_full]     (default: 1gpu ddp fsdp)
# Logs and JSONs go to OUT_DIR (grpo_<part>[_<NPROC>].json/.log). NVLink multicast stays off in every process.
set -uo pipefail
out=${1:?usage: NPROC=2 multi_gpu.sh OUT_DIR [1gpu] [ddp] [fsdp] [fsdp_full]}; shift
parts=${*:-1gpu ddp fsdp}
n=${NPROC:-2}
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# accelerate/torchrun set OMP_NUM_THREADS=1 per rank when it is unset; the rollout's and TRL's CPU work (processor,
# image hashing) then ran single-threaded: DDP on 4 GPUs at 66% of linear, 86% with 16 threads per rank.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / n > 0 ? $(nproc) / n : 1 ))}
ARGS=(--arms fast --model "${MODEL:-qwen2.5-vl-7b-arch}" --steps "${STEPS:-4}" --batch "${BATCH:-16}"
      --generations 8 --new-tokens "${NEW_TOKENS:-128}")
launch() { echo accelerate launch --config_file "configs/accelerate/$1.yaml" --num_processes "$n" benchmarks/grpo_throughput.py; }
for part in $parts; do
  case $part in
    1gpu) cmd=(env CUDA_VISIBLE_DEVICES=0 python benchmarks/grpo_throughput.py --lora); name=1gpu ;;
    ddp)  cmd=($(launch ddp) --lora); name=ddp_$n ;;
    fsdp) cmd=($(launch fsdp) --lora); name=fsdp_$n ;;
    fsdp_full) cmd=($(launch fsdp)); name=fsdp_full_$n ;;
    *) echo "unknown part '$part' (1gpu, ddp, fsdp, fsdp_full)"; exit 2 ;;
  esac
  echo "== $part: ${cmd[*]} ${ARGS[*]} --json $out/grpo_$name.json" | tee "$out/grpo_$name.log"
  timeout "${PART_TIMEOUT:-400}" "${cmd[@]}" "${ARGS[@]}" --json "$out/grpo_$name.json" >> "$out/grpo_$name.log" 2>&1
  echo "exit $? after ${SECONDS}s" | tee -a "$out/grpo_$name.log"
  grep -h "tok/s\|Error" "$out/grpo_$name.log" | grep -v "it/s\|Warn" | tail -6
done
