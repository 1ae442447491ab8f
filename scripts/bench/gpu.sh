#!/usr/bin/env bash
# Every GPU check of the project, for a machine with an NVIDIA GPU, python3 holding torch 2.11.0
# (+ torchvision, Pillow) and no Rust: binaries built elsewhere, and CIFAR-10, are carried in DIR.
#   Here:  scripts/bench/gpu.sh --prepare DIR [CIFAR_DIR]
#            builds; DIR/bin holds the stripped binaries (xz, ~12 MB); with CIFAR_DIR, DIR/data-a and
#            DIR/data-b hold the data set as lossless WebP (scripts/bench/cifar_webp.py), ~38 and
#            ~52 MB: two halves, for transfers of at most ~64 MB each.
#   There: scripts/bench/gpu.sh DIR [CHECK…]      (CHECKs default to: tests cli bench speedrun)
#            first unpacks whatever DIR holds into $WORK (default /tmp/onecycle-gpu; data halves
#            unpacked by earlier calls stay there), then runs the CHECKs:
#   tests     crates/onecycle/tests/cuda.rs (device, prefetch, autocast, training in fp32/bf16/fp16,
#             one-rank NCCL data parallel with synchronised batch norm)
#   smoke     `fit --preset speedrun` for 2 epochs in bf16 on the embedded sample
#   bench     `onecycle bench train` on resnet20, resnet56 and resnet9 at batch 512, channels-last,
#             in fp32, bf16 and fp16, each beside PyTorch's own step (train_pytorch.py), SECONDS
#             (default 8) per run
#   speedrun  `fit --preset speedrun --precision bf16` beside the same recipe in PyTorch
#             (speedrun.sh) on the unpacked CIFAR-10, for the seeds in SEEDS (default 0 1 2)
#   cli       the commands end to end on the embedded sample on the GPU: lr-find at two weight
#             decays with validation at every step, fit --tune, evaluate and predict with TTA, and
#             an fp16 fit killed after its first checkpoint and resumed (DEVICE: default cuda)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ ${1:-} == --prepare ]]; then
  dir=${2:?usage: gpu.sh --prepare DIR [CIFAR_DIR]}; cifar=${3:-}
  mkdir -p "$dir/bin"
  "$root/scripts/cargo" build --release -q -p onecycle-cli
  test_bin=$("$root/scripts/cargo" test -p onecycle --test cuda --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')
  strip -o "$dir/bin/onecycle" "$root/target/release/onecycle"
  strip -o "$dir/bin/cuda-test" "$test_bin"
  xz -f -T0 "$dir/bin/onecycle" "$dir/bin/cuda-test"
  if [[ -n $cifar ]]; then
    rm -rf "$dir/data-a" "$dir/data-b"
    python3 "$root/scripts/bench/cifar_webp.py" pack "$cifar" "$dir/data-a" \
      data_batch_1.bin data_batch_2.bin data_batch_3.bin:1/2
    python3 "$root/scripts/bench/cifar_webp.py" pack "$cifar" "$dir/data-b" \
      data_batch_3.bin:2/2 data_batch_4.bin data_batch_5.bin test_batch.bin
  fi
  du -sh "$dir"/*
  exit 0
fi
dir=$(cd "${1:?usage: gpu.sh DIR [CHECK…]}" && pwd); shift
checks=("$@"); [[ ${#checks[@]} -gt 0 ]] || checks=(tests cli bench speedrun)
work=${WORK:-/tmp/onecycle-gpu}; mkdir -p "$work/cifar10"
for packed in "$dir"/bin/*.xz; do
  [[ -e $packed ]] || continue
  unpacked=$work/$(basename "$packed" .xz)
  xz -dc "$packed" > "$unpacked"; chmod +x "$unpacked"
done
for half in "$dir"/data-*; do
  [[ -d $half ]] && python3 "$root/scripts/bench/cifar_webp.py" unpack "$half" "$work/cifar10"
done
torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
status=0
for check in "${checks[@]}"; do
  echo "== $check ($(date +%T))"
  case $check in
    tests) "$work/cuda-test" --nocapture || status=1 ;;
    smoke)
      "$work/onecycle" fit --preset speedrun --device cuda --precision bf16 --epochs 2 \
        --run-dir "$work/smoke" --quiet || status=1
      cat "$work/smoke/summary.json" || status=1 ;;
    bench)
      for precision in fp32 bf16 fp16; do
        echo "== bench train, $precision"
        DEVICE=cuda PRECISION=$precision LAYOUTS=channels-last ONECYCLE_BIN=$work/onecycle PYTORCH=python3 \
          "$root/scripts/bench/compare_train.sh" 512 "${SECONDS_PER_RUN:-8}" resnet20 resnet56 resnet9 || status=1
      done ;;
    speedrun)
      read -r -a seeds <<< "${SEEDS:-0 1 2}"
      DEVICE=cuda PRECISION=bf16 ONECYCLE_BIN=$work/onecycle PYTORCH=python3 \
        "$root/scripts/bench/speedrun.sh" "$work/cifar10" "${seeds[@]}" || status=1 ;;
    cli)
      runs=$work/cli; dev=${DEVICE:-cuda}; rm -rf "$runs"; mkdir -p "$runs/images"
      ran() { echo "-- ${*:2}"; "$@" || { echo "FAILED: ${*:2}"; status=1; }; }
      ran "$work/onecycle" lr-find --device "$dev" --precision bf16 --wd 5e-4,1e-4 --val-each-step \
        --num-it 60 --run-dir "$runs/lr-find"
      ran "$work/onecycle" fit --tune --budget 2 --device "$dev" --precision bf16 --epochs 6 --run-dir "$runs/tuned" --quiet
      ran "$work/onecycle" evaluate "$runs/tuned" --tta
      python3 -c 'import numpy as np, PIL.Image as I, sys
for k in range(3): I.fromarray(np.random.default_rng(k).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(f"{sys.argv[1]}/{k}.png")' \
        "$runs/images"
      ran "$work/onecycle" predict "$runs/tuned" "$runs/images" --tta --top 2
      # fp16 keeps its loss scale in the checkpoint; a CPU has no fast fp16, so there bf16.
      precision=fp16; [[ $dev == cpu ]] && precision=bf16
      echo "-- fit --precision $precision, killed (SIGKILL) once its first checkpoint is written, then --resume"
      "$work/onecycle" fit --device "$dev" --precision $precision --epochs 4 --run-dir "$runs/killed" --quiet &
      pid=$!
      until [[ -e $runs/killed/checkpoints/last.safetensors ]] || ! kill -0 $pid 2>/dev/null; do sleep 0.1; done
      kill -9 $pid 2>/dev/null || echo "FAILED: the run ended before it could be killed"
      wait $pid 2>/dev/null || true
      ran "$work/onecycle" fit --resume "$runs/killed" --quiet
      ls "$runs"/* ;;
    *) echo "unknown check: $check" >&2; status=1 ;;
  esac
done
exit $status
