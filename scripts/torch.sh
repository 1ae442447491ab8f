#!/usr/bin/env bash
# Installs libtorch 2.11.0 (from the PyPI wheel torch==2.11.0) once, into a cache shared by every
# checkout, and prints the libtorch directory (the value for LIBTORCH).
#
#   ONECYCLE_TORCH_DIR   where to install (default: ~/.cache/onecycle/torch-2.11.0)
#   LIBTORCH             if already set to a libtorch 2.11.0 (e.g. another Python's torch), used as is
#
# The CPU set-up is the lightest one that links and runs: the torch wheel without its dependencies,
# plus the two CUDA runtime libraries that libtorch_cpu.so itself needs (see README, "The engine").
set -euo pipefail

want=2.11.0
if [[ -n "${LIBTORCH:-}" ]]; then
  dir=$LIBTORCH
else
  target=${ONECYCLE_TORCH_DIR:-$HOME/.cache/onecycle/torch-$want}
  dir=$target/torch
  if [[ ! -f $dir/.onecycle-complete ]]; then
    python=${PYTHON:-$(command -v python3 || command -v python || true)}
    [[ -n $python ]] || { echo "error: python3 with pip is needed to install torch==$want" >&2; exit 1; }
    echo "installing torch==$want into $target (once; about 1.2 GB)" >&2
    tmp=$target.partial.$$
    rm -rf "$tmp"
    "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target "$tmp" \
      "torch==$want" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 >&2
    touch "$tmp/torch/.onecycle-complete"
    rm -rf "$target"
    mv "$tmp" "$target"   # atomic: a half-finished install is never taken for a good one
  fi
fi

version=$(sed -n "s/^__version__ = '\([^'+]*\).*/\1/p" "$dir/version.py" 2>/dev/null || true)
if [[ $version != "$want" ]]; then
  echo "error: $dir holds torch '${version:-unknown}', onecycle needs $want" >&2
  exit 1
fi
echo "$dir"
