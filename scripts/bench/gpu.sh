#!/usr/bin/env bash
# Every GPU check of the project in one run, for a machine with an NVIDIA GPU, python3 holding
# torch 2.11.0 (+ torchvision) and no Rust: binaries built elsewhere are carried in DIR.
#   Here:  scripts/bench/gpu.sh --prepare DIR     (builds; copies the binaries into DIR)
#   There: scripts/bench/gpu.sh DIR [SECONDS]     (SECONDS per benchmark run, default 8)
# There it runs crates/onecycle/tests/cuda.rs (device, prefetch, autocast, training in fp32/bf16/
# fp16, one-rank NCCL data parallel with synchronised batch norm), then `onecycle bench train` on
# resnet20, resnet56 and resnet9 at batch 512, channels-last, in fp32, bf16 and fp16, each beside
# PyTorch's own training step (scripts/bench/train_pytorch.py) and a table of ratios per precision.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ ${1:-} == --prepare ]]; then
  dir=${2:?usage: gpu.sh --prepare DIR}
  mkdir -p "$dir"
  "$root/scripts/cargo" build --release -q -p onecycle-cli
  test_bin=$("$root/scripts/cargo" test -p onecycle --test cuda --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')
  # Stripped, they travel in about 21 MB instead of 140.
  strip -o "$dir/onecycle" "$root/target/release/onecycle"
  strip -o "$dir/cuda-test" "$test_bin"
  echo "ready: $(du -sh "$dir" | cut -f1) in $dir"
  exit 0
fi
dir=$(cd "${1:?usage: gpu.sh DIR [SECONDS]}" && pwd); seconds=${2:-8}
torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "== tests/cuda.rs"
"$dir/cuda-test" --nocapture
for precision in fp32 bf16 fp16; do
  echo "== bench train, $precision"
  DEVICE=cuda PRECISION=$precision LAYOUTS=channels-last ONECYCLE_BIN=$dir/onecycle PYTORCH=python3 \
    "$root/scripts/bench/compare_train.sh" 512 "$seconds" resnet20 resnet56 resnet9
done
