#!/usr/bin/env bash
# Write throughput of the stores side by side in one run: one atsarray daemon with four 2 GiB thin
# LUNs (RocksDB and file, write cache on and off) and store_bench's 4 KiB random writes (32 in
# flight) and 128 KiB sequential writes on each. bench/README.md explains the cases.
#
# Knobs (environment):
#   SECONDS=5          seconds per case and LUN
#   BUILD_DIR=...      build directory (default: <repo>/build); configured if missing
#   NO_BUILD=1         use the binaries in BUILD_DIR as they are
#   JOBS=N             ninja -j (default: nproc)
#   PORT=3271          the daemon's loopback port
#   WORK_DIR=...       parent folder of the LUNs' data (default /tmp; the stores' speed is its
#                      file system's)
#   BENCH_ARGS="..."   more store_bench options, e.g. "--random-sessions 8 --random-depth 4"
set -euo pipefail

# bash counts SECONDS up from its start value; read the caller's value from the environment.
per_case=$(printenv SECONDS || echo 5)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
port=${PORT:-3271}
iqn=iqn.2026-11.org.atsarray:store-bench

bench_name=run_store_bench
# shellcheck source=bench/targets.sh
source "$root/bench/targets.sh"
bench_build atsarray store_bench
atsarray_bin=$build_dir/target/daemon/atsarray
bench_bin=$build_dir/bench/store_bench

work=$(mktemp -d "${WORK_DIR:-/tmp}/atsarray-store-bench-XXXXXX")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

lun() {  # id backend write_cache
  echo "[[target.lun]]"
  echo "id = $1"
  echo "backend = \"$2\""
  [ "$2" = file ] && echo "path = \"lun$1.img\""
  echo "size = \"2GiB\""
  echo "block_size = 512"
  echo "write_cache = $3"
  echo
}
{
  cat <<EOF
log_level = "warn"
data_dir = "data"

[[portal]]
address = "127.0.0.1"
port = $port

[[target]]
name = "$iqn"

EOF
  lun 0 rocksdb true
  lun 1 rocksdb false
  lun 2 file true
  lun 3 file false
} >"$work/atsarray.toml"

bench_start_atsarray "$atsarray_bin" "$work/atsarray.toml" "$port"

echo "== store_bench, ${per_case} s per case and LUN, $(nproc) cores, loopback, data in $work"
status=0
# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
"$bench_bin" --portal "127.0.0.1:$port" --target "$iqn" --seconds "$per_case" \
  --lun "0:rocksdb wce=1" --lun "1:rocksdb wce=0" --lun "2:file wce=1" --lun "3:file wce=0" \
  ${BENCH_ARGS:-} || status=1
if [ "$status" -ne 0 ]; then
  echo "run_store_bench: store_bench failed; atsarray log (tail):" >&2
  tail -n 20 "$work/atsarray.log" >&2
fi
exit "$status"
