#!/usr/bin/env bash
# atsarray next to tgt in one run: both daemons on loopback at once, each with an equivalent LUN
# (a 1 GiB file on the same file system, 512-byte blocks, write cache on, the same iSCSI keys),
# and the same io_bench workloads against each in turn: 4 KiB random read and write at queue depth
# 1 and 32, 128 KiB sequential read and write, 512-byte writes, and ATS on distinct blocks and on
# one hot block. Prints one table (ratio = atsarray / tgt) and the project's targets for it.
# bench/README.md explains the workloads and the equivalence.
#
# Knobs (environment):
#   SECONDS=6          seconds per workload and target
#   BUILD_DIR=...      build directory (default: <repo>/build); configured if missing
#   NO_BUILD=1         use the binaries in BUILD_DIR as they are
#   JOBS=N             ninja -j (default: nproc)
#   PORT_ATSARRAY=3291 PORT_TGT=3292 TGT_CONTROL_PORT=3293
#   WORK_DIR=/tmp      parent folder of both LUN files (one file system for both)
#   TGT_ISCSI=matched  give tgt atsarray's iSCSI keys (MaxRecvDataSegmentLength 256 KiB,
#                      InitialR2T=No, ...); "default" keeps tgt's own (8 KiB, InitialR2T=Yes)
#   RAW=FILE           also keep io_bench's result lines in FILE
set -euo pipefail

# bash counts SECONDS up from its start value; read the caller's value from the environment.
per_run=$(printenv SECONDS || echo 6)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
port_atsarray=${PORT_ATSARRAY:-3291}
port_tgt=${PORT_TGT:-3292}
tgt_iscsi=${TGT_ISCSI:-matched}
iqn_atsarray=iqn.2026-11.org.atsarray:vs-tgt
iqn_tgt=iqn.2026-11.org.atsarray:vs-tgt-tgt
bench_name=run_vs_tgt
# shellcheck source=bench/targets.sh
source "$root/bench/targets.sh"
bench_require_tgt

bench_build atsarray io_bench
atsarray_bin=$build_dir/target/daemon/atsarray
bench_bin=$build_dir/bench/io_bench

work=$(mktemp -d "${WORK_DIR:-/tmp}/atsarray-vs-tgt-XXXXXX")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# The same starting point for both: 1 GiB sparse files whose first 256 MiB (the I/O region) hold
# the same random data, so that no workload reads holes or allocates blocks in one file only. Both
# are written the same way, synced, dropped from the page cache and read back the same way: the
# page cache then holds them in folios of the same sizes (on ext4 with large folios a 4 KiB write
# into a large folio costs more than into a small one, so a file written differently, e.g. by cp,
# would not be the same medium).
dd if=/dev/urandom of="$work/seed" bs=1M count=256 status=none
for image in atsarray-lun.img tgt-lun.img; do
  truncate -s 1G "$work/$image"
  dd if="$work/seed" of="$work/$image" bs=1M conv=notrunc,fdatasync status=none
  dd if="$work/$image" iflag=nocache count=0 status=none
  cat "$work/$image" >/dev/null
done
rm "$work/seed"

# atsarray: the file store (buffered pread/pwrite, like tgt's rdwr), write cache on (WCE=1: tgt's
# default caching mode page; both sync only for FUA and SYNCHRONIZE CACHE, which no workload
# sends), the shipped defaults for threads and iSCSI keys.
bench_atsarray_file_config "$port_atsarray" "$iqn_atsarray" atsarray-lun.img 1GiB \
  "write_cache = true" >"$work/atsarray.toml"
bench_start_atsarray "$atsarray_bin" "$work/atsarray.toml" "$port_atsarray"
bench_start_tgt "$port_tgt" "${TGT_CONTROL_PORT:-3293}" "$iqn_tgt" "$work/tgt-lun.img" 512
if [ "$tgt_iscsi" = matched ]; then
  # atsarray's defaults (configs/default.toml [iscsi]); what a session gets is the minimum of these
  # and libiscsi's offer, the same for both targets.
  for key in MaxRecvDataSegmentLength=262144 MaxXmitDataSegmentLength=262144 \
    MaxBurstLength=1048576 FirstBurstLength=262144 InitialR2T=No ImmediateData=Yes \
    MaxOutstandingR2T=8; do
    tgtadm -C "$tgt_control" --lld iscsi --mode target --op update --tid 1 \
      --name "${key%%=*}" --value "${key#*=}"
  done
fi

# name | io_bench workload | bytes | queue depth | region offset (MiB) | region (MiB) | unit
# The 512-byte writes use the 1 MiB at 768 MiB where ATS on distinct blocks runs next: the same
# file blocks and page-cache state, so the two rates compare directly.
workloads=(
  "randread-4k-qd1|randread|4096|1|0|256|IOPS"
  "randread-4k-qd32|randread|4096|32|0|256|IOPS"
  "randwrite-4k-qd1|randwrite|4096|1|0|256|IOPS"
  "randwrite-4k-qd32|randwrite|4096|32|0|256|IOPS"
  "seqread-128k-qd16|seqread|131072|16|0|256|MB/s"
  "seqwrite-128k-qd16|seqwrite|131072|16|0|256|MB/s"
  "write-512-qd1|randwrite|512|1|768|1|IOPS"
  "write-512-qd32|randwrite|512|32|768|1|IOPS"
  "ats-distinct-qd1|ats-distinct|512|1|768|1|ATS/s"
  "ats-distinct-qd32|ats-distinct|512|32|768|1|ATS/s"
  "ats-hot-qd1|ats-hot|512|1|896|1|ATS/s"
  "ats-hot-qd32|ats-hot|512|32|896|1|ATS/s"
)

raw=$work/results.txt
status=0
echo "== atsarray vs tgt: ${per_run} s per workload and target, one session, $(nproc) cores," \
  "loopback, LUN files in $work ($(df -T "$work" | awk 'NR == 2 { print $2 }'))"
echo "   atsarray $("$atsarray_bin" --version 2>/dev/null || true); tgt $(tgtd -V 2>/dev/null || true);" \
  "tgt iSCSI keys: $tgt_iscsi"
for entry in "${workloads[@]}"; do
  IFS='|' read -r name workload bytes depth offset_mib region_mib _ <<<"$entry"
  # The two targets one after the other for each workload, so that both see the same load from
  # the rest of the machine.
  for side in atsarray tgt; do
    if [ "$side" = atsarray ]; then
      args=(--portal "127.0.0.1:$port_atsarray" --target "$iqn_atsarray" --lun 0
        --daemon-pid "$atsarray_pid")
    else
      args=(--portal "127.0.0.1:$port_tgt" --target "$iqn_tgt" --lun 1 --daemon-pid "$tgtd_pid")
    fi
    if line=$("$bench_bin" "${args[@]}" --label "$side" --workload "$workload" --bs "$bytes" \
      --qd "$depth" --seconds "$per_run" --offset $((offset_mib << 20)) --region $((region_mib << 20)) \
      --initiator-prefix "iqn.2026-11.org.atsarray:vs-tgt-$name"); then
      :
    else
      status=1
      [ -n "$line" ] || line="io_bench label=$side status=error error=\"io_bench failed\""
    fi
    echo "row=$name $line" | tee -a "$raw" | sed 's/^/   /' >&2
  done
done
[ -z "${RAW:-}" ] || cp "$raw" "$RAW"

echo
awk -v units="$(printf '%s\n' "${workloads[@]}" | cut -d'|' -f1,7 | tr '\n' ' ')" '
  # Each line: row=NAME io_bench label=SIDE key=value ... error="..."
  {
    n = split($0, f, " ")
    delete kv
    for (i = 1; i <= n; ++i) {
      if (f[i] ~ /^error=/) { break }
      eq = index(f[i], "=")
      if (eq > 0) { kv[substr(f[i], 1, eq - 1)] = substr(f[i], eq + 1) }
    }
    k = kv["row"] SUBSEP kv["label"]
    if (!(kv["row"] in seen)) { seen[kv["row"]] = 1; order[++rows] = kv["row"] }
    st[k] = kv["status"]; iops[k] = kv["iops"]; mbs[k] = kv["mb_s"]; p50[k] = kv["p50_us"]
    p99[k] = kv["p99_us"]; cpu[k] = kv["target_cpu_pct"]; misc[k] = kv["miscompares_per_s"]
  }
  function value(row, side,   k) {
    k = row SUBSEP side
    return unit[row] == "MB/s" ? mbs[k] : iops[k]
  }
  function cell(row, side,   k) {
    k = row SUBSEP side
    if (st[k] == "not-supported") { return sprintf("%-30s", "tgt: no COMPARE AND WRITE") }
    if (st[k] != "ok") { return sprintf("%-30s", "ERROR") }
    return sprintf("%9.0f %13s %5s%%", value(row, side), sprintf("%.0f/%.0f", p50[k], p99[k]), cpu[k])
  }
  function ratio(row) {
    if (st[row SUBSEP "atsarray"] != "ok" || st[row SUBSEP "tgt"] != "ok" || value(row, "tgt") == 0) { return "-" }
    return sprintf("%.2f", value(row, "atsarray") / value(row, "tgt"))
  }
  function verdict(x, goal) { return x == "-" ? "n/a" : (x + 0 >= goal ? "met" : "MISSED") }
  END {
    nu = split(units, u, " ")
    for (i = 1; i <= nu; ++i) { split(u[i], p, "|"); unit[p[1]] = p[2] }
    printf "%-19s %-5s | %-30s | %-30s | %5s\n", "", "", "atsarray", "tgt", ""
    printf "%-19s %-5s | %9s %13s %6s | %9s %13s %6s | %5s\n", "workload", "unit", "value",
           "p50/p99us", "cpu", "value", "p50/p99us", "cpu", "ratio"
    for (i = 1; i <= rows; ++i) {
      r = order[i]
      printf "%-19s %-5s | %s | %s | %5s\n", r, unit[r], cell(r, "atsarray"), cell(r, "tgt"), ratio(r)
    }
    printf "\nATS rows count successful COMPARE AND WRITEs; miscompares/s on the hot block: qd1 %s, qd32 %s.\n",
           misc["ats-hot-qd1" SUBSEP "atsarray"], misc["ats-hot-qd32" SUBSEP "atsarray"]
    printf "cpu = the daemon'\''s CPU time over the run (100%% = one core).\n"
    printf "\n== targets (benchmark goals, not tests)\n"
    x = ratio("randread-4k-qd32");  printf "%-58s %6s  %s\n", "4 KiB random read IOPS, qd32: >= 2x tgt", x, verdict(x, 2)
    x = ratio("randwrite-4k-qd32"); printf "%-58s %6s  %s\n", "4 KiB random write IOPS, qd32: >= 2x tgt", x, verdict(x, 2)
    x = ratio("seqread-128k-qd16"); printf "%-58s %6s  %s\n", "128 KiB sequential read MB/s: >= tgt", x, verdict(x, 1)
    x = ratio("seqwrite-128k-qd16"); printf "%-58s %6s  %s\n", "128 KiB sequential write MB/s: >= tgt", x, verdict(x, 1)
    for (d = 1; d <= 32; d += 31) {
      a = "ats-distinct-qd" d; w = "write-512-qd" d
      x = "-"
      if (st[a SUBSEP "atsarray"] == "ok" && st[w SUBSEP "atsarray"] == "ok" && iops[w SUBSEP "atsarray"] > 0) {
        x = sprintf("%.2f", iops[a SUBSEP "atsarray"] / iops[w SUBSEP "atsarray"])
      }
      printf "%-58s %6s  %s\n", "ATS distinct blocks, qd" d ": >= 0.8x atsarray 512-byte writes", x, verdict(x, 0.8)
    }
  }' "$raw"

if [ "$status" -ne 0 ]; then
  echo "$bench_name: a run failed; atsarray log (tail):" >&2
  tail -n 20 "$work/atsarray.log" >&2
fi
exit "$status"
