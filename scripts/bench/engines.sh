# Sourced by the comparison scripts: sets `bin` (ONECYCLE_BIN, else target/release/onecycle, built
# first) and the array `pytorch` (PYTORCH, else scripts/pytorch.sh, which installs torch 2.11 once).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -n ${ONECYCLE_BIN:-} ]]; then
  bin=$ONECYCLE_BIN
else
  bin=$root/target/release/onecycle
  "$root/scripts/cargo" build --release -q -p onecycle-cli
fi
read -r -a pytorch <<< "${PYTORCH:-$root/scripts/pytorch.sh}"
