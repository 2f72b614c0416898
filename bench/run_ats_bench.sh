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
tgt_control=${TGT_CONTROL_PORT:-3283}
iqn_atsarray=iqn.2026-11.org.atsarray:bench
iqn_tgt=iqn.2026-11.org.atsarray:bench-tgt

for tool in tgtd tgtadm; do
  command -v "$tool" >/dev/null || { echo "run_ats_bench: $tool missing (apt-get install -y tgt)" >&2; exit 2; }
done

if [ "${NO_BUILD:-0}" != 1 ]; then
  [ -f "$build_dir/build.ninja" ] ||
    cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$build_dir" -j "${JOBS:-$(nproc)}" atsarray ats-counter ats_bench
fi
atsarray_bin=$build_dir/target/daemon/atsarray
bench_bin=$build_dir/bench/ats_bench
counter_bin=$build_dir/tools/ats-counter

work=$(mktemp -d /tmp/atsarray-bench-XXXXXX)
atsarray_pid=""
tgtd_pid=""
stop_pid() {  # pid: give it 5 s to exit, then SIGKILL
  for _ in $(seq 50); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  if [ -n "$atsarray_pid" ]; then
    kill "$atsarray_pid" 2>/dev/null || true
    stop_pid "$atsarray_pid"
  fi
  # tgtd ignores SIGTERM while targets exist; it stops on tgtadm's "delete system".
  if [ -n "$tgtd_pid" ]; then
    tgtadm -C "$tgt_control" --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
    tgtadm -C "$tgt_control" --op delete --mode system >/dev/null 2>&1 || true
    stop_pid "$tgtd_pid"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_port() {  # port pid name
  for _ in $(seq 100); do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "run_ats_bench: $3 exited at start; its log:" >&2
      cat "$work/$3.log" >&2
      exit 2
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "run_ats_bench: $3 does not listen on 127.0.0.1:$1" >&2
  exit 2
}

# atsarray: one 1 GiB file LUN, 512-byte blocks, otherwise the shipped defaults.
cat >"$work/atsarray.toml" <<EOF
log_level = "warn"

[[portal]]
address = "127.0.0.1"
port = $port_atsarray

[[target]]
name = "$iqn_atsarray"

[[target.lun]]
id = 0
backend = "file"
path = "lun0.img"
size = "1GiB"
block_size = 512
EOF
"$atsarray_bin" --config "$work/atsarray.toml" >"$work/atsarray.log" 2>&1 &
atsarray_pid=$!
wait_for_port "$port_atsarray" "$atsarray_pid" atsarray

# tgt: the same 1 GiB sparse file LUN, 512-byte blocks. tgt's LUN 0 is its controller, so the
# disk is LUN 1.
truncate -s 1G "$work/tgt-lun.img"
tgtd -f -C "$tgt_control" --iscsi "portal=127.0.0.1:$port_tgt" >"$work/tgtd.log" 2>&1 &
tgtd_pid=$!
wait_for_port "$port_tgt" "$tgtd_pid" tgtd
tgtadm -C "$tgt_control" --lld iscsi --mode target --op new --tid 1 --targetname "$iqn_tgt"
tgtadm -C "$tgt_control" --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 \
  --backing-store "$work/tgt-lun.img" --blocksize 512
tgtadm -C "$tgt_control" --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL

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
