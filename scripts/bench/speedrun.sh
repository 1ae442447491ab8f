#!/usr/bin/env bash
# The speed-run recipe side by side: `onecycle fit --preset speedrun` against the same recipe in
# PyTorch (scripts/bench/speedrun_pytorch.py), alternated seed by seed on the same data; the wall
# time from command start to final (TTA) accuracy, and a table of medians and ratios.
#   [DEVICE=cuda] [PRECISION=bf16] scripts/bench/speedrun.sh DATA [SEEDS…] [-- EXTRA fit FLAGS]
# SEEDS default to 0 1 2. EXTRA flags go to both sides (only --epochs, --limit-train and
# --limit-valid are understood by both). ONECYCLE_BIN: a prebuilt binary (else
# target/release/onecycle, built first); PYTORCH: the command that runs Python with torch 2.11 (else
# scripts/pytorch.sh, which installs it once). Output: one JSON line per run, then the table.
set -euo pipefail
data=${1:?usage: speedrun.sh DATA [SEEDS…] [-- EXTRA FLAGS]}; shift
seeds=(); while [[ $# -gt 0 && $1 != -- ]]; do seeds+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
extra=("$@")
[[ ${#seeds[@]} -gt 0 ]] || seeds=(0 1 2)
device=${DEVICE:-cpu}; precision=${PRECISION:-fp32}
source "$(dirname "${BASH_SOURCE[0]}")/engines.sh"
bf16=(); [[ $precision == bf16 ]] && bf16=(--bf16)
runs=$(mktemp -d); out=$runs/results.jsonl
for seed in "${seeds[@]}"; do
  began=$(date +%s.%N)
  "$bin" fit --preset speedrun --data "$data" --seed "$seed" --device "$device" --precision "$precision" \
    --run-dir "$runs/seed$seed" --quiet "${extra[@]}" > /dev/null
  ended=$(date +%s.%N)
  python3 - "$runs/seed$seed/summary.json" "$seed" "$began" "$ended" <<'PY' | tee -a "$out"
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps(dict(engine="onecycle", seed=int(sys.argv[2]), accuracy=s["accuracy"],
                      tta_accuracy=s["tta_accuracy"], wall_seconds=float(sys.argv[4]) - float(sys.argv[3]))))
PY
  "${pytorch[@]}" "$root/scripts/bench/speedrun_pytorch.py" "$data" --seed "$seed" --device "$device" \
    "${bf16[@]}" "${extra[@]}" | tail -1 | tee -a "$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def col(engine, key):
    return [r[key] for r in rows if r["engine"] == engine]
print(f"{'':10} {'median wall s':>14} {'mean acc':>9} {'mean TTA acc':>13}  runs")
for e in ("onecycle", "pytorch"):
    print(f"{e:10} {statistics.median(col(e, 'wall_seconds')):14.1f} {statistics.mean(col(e, 'accuracy')):9.4f} "
          f"{statistics.mean(col(e, 'tta_accuracy')):13.4f}  {len(col(e, 'accuracy'))}")
ratios = [t / o for o, t in zip(col("onecycle", "wall_seconds"), col("pytorch", "wall_seconds"))]
print(f"speed ratio (PyTorch wall / onecycle wall), median of {len(ratios)}: {statistics.median(ratios):.3f}")
PY
