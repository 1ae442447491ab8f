#!/usr/bin/env bash
# Prints the libtorch facts that crates/onecycle/csrc/nccl.cpp hard-codes, read from a full torch
# install (the one with libtorch_cuda.so and the nvidia-* wheels), so that a torch upgrade can
# re-check them:
#   1. the exported complete-object constructors of c10d::ProcessGroupNCCL and of its Options;
#   2. the sizes libtorch allocates them with: the size its deleting destructors pass to
#      `operator delete(void*, size_t)` (an aligned delete there would mean over-aligned classes);
#   3. with --compile: sizeof/alignof and the offset of the c10d::Backend / Backend::Options base,
#      from a C++ probe compiled against torch's ProcessGroupNCCL.hpp. The pip wheels leave out two
#      sets of CUDA headers that it needs (crt/ and CCCL), so this step pip-installs
#      nvidia-cuda-crt and nvidia-cuda-cccl of the same CUDA version into a temporary folder.
#
#   scripts/nccl_layout.sh [--compile] [SITE_PACKAGES]
# SITE_PACKAGES defaults to the full install of scripts/pytorch.sh
# (~/.cache/onecycle/pytorch-2.11.0-full). x86-64 only (step 2 reads x86-64 machine code).
set -euo pipefail

compile=0
if [[ ${1:-} == --compile ]]; then
  compile=1
  shift
fi
site=${1:-${ONECYCLE_PYTORCH_DIR:-$HOME/.cache/onecycle/pytorch-2.11.0-full}}
lib=$site/torch/lib/libtorch_cuda.so
[[ -f $lib ]] || { echo "error: $lib not found (a full torch install is needed)" >&2; exit 1; }
echo "torch: $(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$site/torch/version.py")   library: $lib"

pg=_ZN4c10d16ProcessGroupNCCL
symbols=$(nm -D --defined-only "$lib")
echo
echo "== exported constructors (complete-object, C1)"
grep -E " T ${pg}(7Options)?C1E" <<<"$symbols" | awk '{print $3}' | while read -r s; do
  echo "$s"
  echo "    = $(c++filt "$s")"
done

# The size in `mov $SIZE,%esi` just before the deleting destructor's tail call to operator delete.
# (The awk programs read to the end: an early exit would kill the writer with SIGPIPE.)
delete_size() {
  local start=$1
  objdump -d --no-show-raw-insn -C --start-address="$start" --stop-address=$((start + 0x400)) "$lib" |
    awk 'done { next }
         /mov +\$0x[0-9a-f]+,%esi/ { match($0, /\$0x[0-9a-f]+/); size = substr($0, RSTART + 1, RLENGTH - 1) }
         /operator delete/ && /align_val_t/ { print "ALIGNED DELETE (over-aligned class): " $0; done = 1 }
         /jmp .*operator delete\(void\*, unsigned long\)/ { print size; done = 1 }'
}
addr() { awk -v s="$1" '$3 == s && !a { a = "0x" $1 } END { print a }' <<<"$symbols"; }

echo
echo "== sizes libtorch allocates (from the deleting destructors)"
echo "sizeof(c10d::ProcessGroupNCCL)          = $(delete_size "$(addr "${pg}D0Ev")")"
# Options' deleting destructor is not exported: it is the 4th slot of its vtable (offset-to-top,
# typeinfo, complete-object destructor, deleting destructor), a relative relocation.
vtable=$(addr _ZTVN4c10d16ProcessGroupNCCL7OptionsE)
slot=$(printf '%016x' $((vtable + 0x18)))
d0=$(readelf -rW "$lib" | awk -v s="$slot" '$1 == s && $3 == "R_X86_64_RELATIVE" && !a { a = "0x" $4 } END { print a }')
echo "sizeof(c10d::ProcessGroupNCCL::Options) = $(delete_size "$d0")"

if [[ $compile == 0 ]]; then
  echo
  echo "(run with --compile for alignof and the base-class offsets from the headers)"
  exit 0
fi

echo
echo "== probe compiled against ProcessGroupNCCL.hpp"
cuda=$(ls -d "$site"/nvidia_cuda_runtime-*.dist-info | sed 's/.*runtime-\([0-9]*\.[0-9]*\).*/\1/')
work=${TMPDIR:-/tmp}/onecycle-nccl-layout
mkdir -p "$work"
if [[ ! -d $work/deps/nvidia ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$work/deps" "nvidia-cuda-cccl==$cuda.*" "nvidia-cuda-crt==$cuda.*" >&2
fi
extra=$work/deps/nvidia/cu${cuda%%.*}/include
cat >"$work/probe.cpp" <<'EOF'
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <cstdio>
using PG = c10d::ProcessGroupNCCL;
using Opt = PG::Options;
int main() {
  alignas(64) static unsigned char buf[sizeof(PG) + sizeof(Opt)];
  auto* pg = reinterpret_cast<PG*>(buf);
  auto* opt = reinterpret_cast<Opt*>(buf);
  std::printf("NCCL_VERSION_CODE (headers)              = %d\n", NCCL_VERSION_CODE);
  std::printf("sizeof/alignof(ProcessGroupNCCL)          = 0x%zx / %zu\n", sizeof(PG), alignof(PG));
  std::printf("sizeof/alignof(ProcessGroupNCCL::Options) = 0x%zx / %zu\n", sizeof(Opt), alignof(Opt));
  std::printf("offset of Backend in ProcessGroupNCCL     = %td\n",
              reinterpret_cast<unsigned char*>(static_cast<c10d::Backend*>(pg)) - buf);
  std::printf("offset of Backend::Options in Options     = %td\n",
              reinterpret_cast<unsigned char*>(static_cast<c10d::Backend::Options*>(opt)) - buf);
  std::printf("__STDCPP_DEFAULT_NEW_ALIGNMENT__          = %zu\n",
              static_cast<size_t>(__STDCPP_DEFAULT_NEW_ALIGNMENT__));
}
EOF
inc=$site/torch/include
c++ -std=c++17 -D_GLIBCXX_USE_CXX11_ABI=1 -DUSE_C10D_NCCL -DUSE_CUDA -w \
  -I"$inc" -I"$inc/torch/csrc/api/include" -I"$site/nvidia/cu${cuda%%.*}/include" -I"$extra" \
  -I"$extra/cccl" -I"$site/nvidia/nccl/include" -I"$site/nvidia/cudnn/include" \
  "$work/probe.cpp" -o "$work/probe" -L"$site/torch/lib" -Wl,--no-as-needed -ltorch_cpu -lc10 \
  -Wl,-rpath,"$site/torch/lib"
"$work/probe"
