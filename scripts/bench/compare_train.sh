#!/usr/bin/env bash
# `onecycle bench train` (or, with MODE=infer, `bench infer`) against PyTorch 2.11 in Python on
# this machine, same models, batch, threads and layouts, runs alternated. Prints one JSON line per
# run and a table of ratios.
#   [MODE=infer] [DEVICE=cuda] [PRECISION=bf16|fp16] [LAYOUTS="nchw channels-last"] \
#     scripts/bench/compare_train.sh [BATCH] [SECONDS] [MODELS…]
# ONECYCLE_BIN: a prebuilt binary (else target/release/onecycle, built first); PYTORCH: the
# command that runs Python with torch 2.11 (else scripts/pytorch.sh, which installs it once).
set -euo pipefail
batch=${1:-128}; seconds=${2:-10}; shift $(( $# > 2 ? 2 : $# ))
models=${*:-resnet20 resnet56 resnet9}
threads=$(nproc)
device=${DEVICE:-cpu}; precision=${PRECISION:-fp32}
layouts=${LAYOUTS:-nchw channels-last}
source "$(dirname "${BASH_SOURCE[0]}")/engines.sh"
out=$(mktemp)
for model in $models; do
  for layout in $layouts; do
    flag=""; [[ $layout == channels-last ]] && flag=--channels-last
    "$bin" bench "${MODE:-train}" --model "$model" --batch "$batch" $flag --seconds "$seconds" --threads "$threads" \
      --device "$device" --precision "$precision" --json \
      | sed 's/^{/{"engine":"onecycle",/' | tee -a "$out"
    BENCH_MODE=${MODE:-train} "${pytorch[@]}" "$root/scripts/bench/train_pytorch.py" "$model" "$batch" "$layout" "$seconds" "$threads" "$device" "$precision" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
key = lambda r: (r["model"], r["channels_last"])
ours = {key(r): r for r in rows if r["engine"] == "onecycle"}
theirs = {key(r): r for r in rows if r["engine"] == "pytorch"}
print(f"{'model':10} {'layout':14} {'onecycle img/s':>15} {'pytorch img/s':>14} {'ratio':>6}")
for k in ours:
    o, t = ours[k]["images_per_sec"], theirs[k]["images_per_sec"]
    print(f"{k[0]:10} {'channels-last' if k[1] else 'NCHW':14} {o:15.1f} {t:14.1f} {o/t:6.3f}")
for m in dict.fromkeys(k[0] for k in ours):
    best_ours = max(r["images_per_sec"] for k, r in ours.items() if k[0] == m)
    best_theirs = max(r["images_per_sec"] for k, r in theirs.items() if k[0] == m)
    print(f"{m}: our best / PyTorch's best layout = {best_ours / best_theirs:.3f}")
PY
