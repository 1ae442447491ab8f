#!/usr/bin/env bash
# Runs python3 with the full PyTorch 2.11.0 + torchvision 0.26.0 (installed once, ≈4.7 GB, into
# ~/.cache/onecycle), for benchmarks against PyTorch and for regenerating reference values.
# The project's build and tests do not need it.
set -euo pipefail
dir=${ONECYCLE_PYTORCH_DIR:-$HOME/.cache/onecycle/pytorch-2.11.0-full}
python=${PYTHON:-python3}
if [[ ! -f $dir/.onecycle-complete ]]; then
  echo "installing torch==2.11.0 torchvision==0.26.0 into $dir (once)" >&2
  rm -rf "$dir.partial"
  "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --target "$dir.partial" torch==2.11.0 torchvision==0.26.0 numpy pillow >&2
  touch "$dir.partial/.onecycle-complete"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
fi
PYTHONPATH=$dir${PYTHONPATH:+:$PYTHONPATH} exec "$python" "$@"
