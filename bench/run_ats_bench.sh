#!/usr/bin/env bash
# ATS (COMPARE AND WRITE) and 512-byte WRITE operations per second, atsarray next to tgt in the
# same run with the same settings, reported as ratios (atsarray / tgt); then the long ats-counter
# run against atsarray. bench/README.md explains the cases.
#
# Knobs (environment):
#   SECONDS=5          seconds per case (and per session count)
#   SESSIONS=1,8,32    session counts
#   BUILD_DIR=...      build directory (default: <repo>/build); configured if missing
#   NO_BUILD=1         use the binaries in BUILD_DIR as they are
#   JOBS=N             ninja -j (default: nproc)
#   PORT_ATSARRAY=3281 PORT_TGT=3282 TGT_CONTROL_PORT=3283
#   COUNTER_SESSIONS=8 COUNTER_INCREMENTS=200   the ats-counter long run
set -euo pipefail

# bash counts SECONDS up from its start value; read the caller's value from the environment.
per_case=$(printenv SECONDS || echo 5)
sessions=${SESSIONS:-1,8,32}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
port_atsarray=${PORT_ATSARRAY:-3281}
port_tgt=${PORT_TGT:-3282}
iqn_atsarray=iqn.2026-11.org.atsarray:bench
iqn_tgt=iqn.2026-11.org.atsarray:bench-tgt

bench_name=run_ats_bench
# shellcheck source=bench/targets.sh
source "$root/bench/targets.sh"
bench_require_tgt

bench_build atsarray ats-counter ats_bench
atsarray_bin=$build_dir/target/daemon/atsarray
bench_bin=$build_dir/bench/ats_bench
counter_bin=$build_dir/tools/ats-counter

work=$(mktemp -d /tmp/atsarray-bench-XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# atsarray: one 1 GiB file LUN, 512-byte blocks, otherwise the shipped defaults.
bench_atsarray_file_config "$port_atsarray" "$iqn_atsarray" lun0.img 1GiB >"$work/atsarray.toml"
bench_start_atsarray "$atsarray_bin" "$work/atsarray.toml" "$port_atsarray"

# tgt: the same 1 GiB sparse file LUN, 512-byte blocks.
truncate -s 1G "$work/tgt-lun.img"
bench_start_tgt "$port_tgt" "${TGT_CONTROL_PORT:-3283}" "$iqn_tgt" "$work/tgt-lun.img" 512

echo "== ats_bench, ${per_case} s per case, sessions $sessions, $(nproc) cores, loopback"
status=0
echo "-- atsarray $("$atsarray_bin" --version 2>/dev/null || true)"
"$bench_bin" --portal "127.0.0.1:$port_atsarray" --target "$iqn_atsarray" --lun 0 \
  --seconds "$per_case" --sessions "$sessions" --label atsarray --csv "$work/atsarray.csv" ||
  status=1
echo "-- tgt $(tgtd -V 2>/dev/null || true)"
"$bench_bin" --portal "127.0.0.1:$port_tgt" --target "$iqn_tgt" --lun 1 \
  --seconds "$per_case" --sessions "$sessions" --label tgt --csv "$work/tgt.csv" || status=1

echo
echo "== side by side (ops/s = successful ATS or WRITEs per second; ratio = atsarray / tgt)"
awk -F, '
  function cell(st, v) { return st == "ok" ? sprintf("%.0f", v) : st }
  FNR == 1 { next }
  FILENAME ~ /atsarray.csv$/ { key[++n] = $2 "," $3; a_st[$2 "," $3] = $4; a[$2 "," $3] = $5; next }
  { t_st[$2 "," $3] = $4; t[$2 "," $3] = $5 }
  END {
    printf "%-15s %8s %14s %14s %8s\n", "case", "sessions", "atsarray ops/s", "tgt ops/s", "ratio"
    for (i = 1; i <= n; ++i) {
      k = key[i]; split(k, f, ",")
      ratio = (a_st[k] == "ok" && t_st[k] == "ok" && t[k] > 0) ? sprintf("%.2f", a[k] / t[k]) : "-"
      printf "%-15s %8s %14s %14s %8s\n", f[1], f[2], cell(a_st[k], a[k]),
             (k in t_st) ? cell(t_st[k], t[k]) : "-", ratio
    }
  }' "$work/atsarray.csv" "$work/tgt.csv"

echo
echo "== ats-counter long run against atsarray"
"$counter_bin" --portal "127.0.0.1:$port_atsarray" --target "$iqn_atsarray" --lun 0 --lba 1000 \
  --sessions "${COUNTER_SESSIONS:-8}" --writers 2 --increments "${COUNTER_INCREMENTS:-200}" ||
  status=1

if [ "$status" -ne 0 ]; then
  echo "run_ats_bench: a run failed; atsarray log (tail):" >&2
  tail -n 20 "$work/atsarray.log" >&2
fi
exit "$status"
