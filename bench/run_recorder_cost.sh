#!/usr/bin/env bash
# What the ATS flight recorder costs (issue 16): two atsarray daemons, the recorder on ([ats]
# recorder = true, the default) and off, next to tgt in the same run, each with a 1 GiB file LUN
# of 512-byte blocks (sparse, write cache on). The same io_bench workloads run against each side
# in turn, ROUNDS times (medians):
#   ats-distinct   ATS on distinct blocks of a 1 MiB region at queue depth 32: every ATS is noted,
#                  with its three images; the region's 2048 blocks all become tracked
#   ats-hot        ATS on one block at queue depth 32: one block's history, entries dropped
#   write-tracked  4 KiB random writes at 32 into that same 1 MiB region: every write lands on
#                  tracked blocks and is noted with its data (the recorder's worst case)
#   write-other    4 KiB random writes at 32 into 256 MiB elsewhere: one lock-free lookup each
#   read-tracked   4 KiB random reads at 32 of the tracked region: each read noted with its image
# The goal: with the recorder on, ATS and 4 KiB write IOPS within 10% of it off.
#
# Knobs (environment):
#   SECONDS=6          seconds per workload, side and round
#   ROUNDS=2           rounds; each value shown is the median of the rounds (of 2: their mean)
#   BUILD_DIR=...      build directory (default: <repo>/build); configured if missing
#   NO_BUILD=1         use the binaries in BUILD_DIR as they are
#   JOBS=N             ninja -j (default: nproc)
#   PORT_ON=3301 PORT_OFF=3302 PORT_TGT=3303 TGT_CONTROL_PORT=3304
# Exit status: 0 when every run worked (goal met or not), 1 when a run failed, 2 when the set-up
# failed.
set -euo pipefail

per_run=$(printenv SECONDS || echo 6)
rounds=${ROUNDS:-2}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
iqn_prefix=iqn.2026-12.org.atsarray:recorder-cost
bench_name=run_recorder_cost
# shellcheck source=bench/targets.sh
source "$root/bench/targets.sh"
bench_require_tgt
[[ $rounds =~ ^[1-9][0-9]*$ ]] || {
  echo "$bench_name: ROUNDS must be a positive integer" >&2
  exit 2
}

bench_build atsarray io_bench
atsarray_bin=$build_dir/target/daemon/atsarray
bench_bin=$build_dir/bench/io_bench

work=$(mktemp -d /tmp/atsarray-recorder-XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

declare -A port pid iqn lun
sides=(on off tgt)
port[on]=${PORT_ON:-3301}
port[off]=${PORT_OFF:-3302}
port[tgt]=${PORT_TGT:-3303}

for side in on off; do
  iqn[$side]=$iqn_prefix-$side
  lun[$side]=0
  bench_atsarray_file_config "${port[$side]}" "${iqn[$side]}" "$work/lun-$side.img" 1GiB \
    "write_cache = true" "" "[ats]" "recorder = $([ "$side" = on ] && echo true || echo false)" \
    >"$work/$side.toml"
  bench_start_atsarray "$atsarray_bin" "$work/$side.toml" "${port[$side]}" "$side"
  pid[$side]=$atsarray_pid
done
truncate -s 1G "$work/tgt-lun.img"
bench_start_tgt "${port[tgt]}" "${TGT_CONTROL_PORT:-3304}" "$iqn_prefix-tgt" "$work/tgt-lun.img" 512
pid[tgt]=$tgtd_pid
iqn[tgt]=$iqn_prefix-tgt
lun[tgt]=1 # tgt's LUN 0 is its controller

# name | io_bench workload | bytes | queue depth | region offset (MiB) | region (MiB)
workloads=(
  "ats-distinct|ats-distinct|512|32|768|1"
  "ats-hot|ats-hot|512|32|896|1"
  "write-tracked|randwrite|4096|32|768|1"
  "write-other|randwrite|4096|32|0|256"
  "read-tracked|randread|4096|32|768|1"
)

raw=$work/results.txt
status=0
echo "== the flight recorder on and off, next to tgt: ${per_run} s per workload, side and round," \
  "$rounds round(s), one session per run, $(nproc) cores, loopback"
for ((round = 1; round <= rounds; ++round)); do
  order=("${sides[@]}")
  ((round % 2 == 1)) || order=(tgt off on)
  for entry in "${workloads[@]}"; do
    IFS='|' read -r name workload bytes depth offset_mib region_mib <<<"$entry"
    for side in "${order[@]}"; do
      if line=$("$bench_bin" --portal "127.0.0.1:${port[$side]}" --target "${iqn[$side]}" \
        --lun "${lun[$side]}" --daemon-pid "${pid[$side]}" --label "$side" --workload "$workload" \
        --bs "$bytes" --qd "$depth" --seconds "$per_run" --offset $((offset_mib << 20)) \
        --region $((region_mib << 20)) --initiator-prefix "$iqn_prefix-$name"); then
        :
      else
        status=1
        [ -n "$line" ] || line="io_bench label=$side status=error"
      fi
      echo "round=$round row=$name $line" | tee -a "$raw" | sed 's/^/   /' >&2
    done
  done
done

echo
awk -v rows="$(printf '%s\n' "${workloads[@]}" | cut -d'|' -f1 | tr '\n' ' ')" '
  {
    delete kv
    for (i = 1; i <= NF; ++i) {
      eq = index($i, "=")
      if (eq > 0) { kv[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
    }
    k = kv["row"] SUBSEP kv["label"]
    if (kv["status"] == "ok") { v[k, ++n[k]] = kv["iops"] + 0 } else { bad[k] = kv["status"] }
  }
  function median(k,   a, i, j, t, m) {
    m = n[k]
    if (m == 0 || (k in bad)) { return -1 }
    for (i = 1; i <= m; ++i) { a[i] = v[k, i] }
    for (i = 1; i <= m; ++i) for (j = i + 1; j <= m; ++j) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    printf "%-14s %10s %10s %10s %9s %9s  %s\n", "workload", "on ops/s", "off ops/s", "tgt ops/s",
           "on/off", "on/tgt", "goal (on >= 0.9x off)"
    split(rows, r, " ")
    for (i = 1; i in r; ++i) {
      on = median(r[i] SUBSEP "on"); off = median(r[i] SUBSEP "off"); tgt = median(r[i] SUBSEP "tgt")
      ratio = (on > 0 && off > 0) ? on / off : -1
      printf "%-14s %10s %10s %10s %9s %9s  %s\n", r[i],
             on < 0 ? "failed" : sprintf("%.0f", on), off < 0 ? "failed" : sprintf("%.0f", off),
             tgt < 0 ? (bad[r[i] SUBSEP "tgt"] == "not-supported" ? "no ATS" : "failed") : sprintf("%.0f", tgt),
             ratio < 0 ? "-" : sprintf("%.2fx", ratio),
             (on > 0 && tgt > 0) ? sprintf("%.2fx", on / tgt) : "-",
             ratio < 0 ? "-" : (ratio >= 0.9 ? "met" : "MISSED")
    }
  }' "$raw"
exit "$status"
