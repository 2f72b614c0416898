#!/usr/bin/env bash
# atsarray's stores next to tgt in one run (issue 17): tgt and one atsarray daemon per store (file,
# rocksdb, memory; separate processes on separate ports, so each daemon's CPU is its own), all on
# loopback at once, each with a 1 GiB LUN of 512-byte blocks, write cache on, holding the same
# random data in every region a workload touches. The same io_bench workloads run against each side
# in turn: 4 KiB random read and write at queue depth 1 and 32, 128 KiB random write at 16,
# 512-byte random writes at 32, and ATS on distinct blocks and on one hot block at 32; plus a raw
# TCP round trip over loopback (bench/tcp_rtt) for the queue-depth-1 rows. Every workload runs
# ROUNDS times; the table shows the median of the rounds, the ratio of each store to tgt, and the
# issue's goals met or MISSED. bench/README.md explains the workloads and the equivalence.
#
# Knobs (environment):
#   SECONDS=6          seconds per workload, side and round (and per tcp_rtt shape)
#   ROUNDS=2           rounds; each value shown is the median of the rounds (of 2: their mean)
#   STORES="file rocksdb memory"  the atsarray stores to run (tgt always runs)
#   BUILD_DIR=...      build directory (default: <repo>/build); configured if missing
#   NO_BUILD=1         use the binaries in BUILD_DIR as they are
#   JOBS=N             ninja -j (default: nproc)
#   PORT_TGT=3292 TGT_CONTROL_PORT=3293
#   PORT_FILE=3291 (or PORT_ATSARRAY) PORT_ROCKSDB=3296 PORT_MEMORY=3297
#   QUIET_WAIT=20      at most this many seconds, before each run, for the atsarray daemons to
#                      go quiet (RocksDB flushing and compacting what the previous run wrote)
#   WORK_DIR=/tmp      parent folder of the LUN files and the RocksDB data (one file system)
#   TGT_ISCSI=matched  give tgt atsarray's iSCSI keys (MaxRecvDataSegmentLength 256 KiB,
#                      InitialR2T=No, ...); "default" keeps tgt's own (8 KiB, InitialR2T=Yes)
#   RAW=FILE           also keep the result lines (io_bench's and tcp_rtt's) in FILE
# Exit status: 0 when every run worked (goals missed or not), 1 when a run failed, 2 when the
# set-up failed.
set -euo pipefail

# bash counts SECONDS up from its start value; read the caller's value from the environment.
per_run=$(printenv SECONDS || echo 6)
rounds=${ROUNDS:-2}
stores=${STORES:-file rocksdb memory}
quiet_wait=${QUIET_WAIT:-20}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
port_tgt=${PORT_TGT:-3292}
tgt_iscsi=${TGT_ISCSI:-matched}
iqn_prefix=iqn.2026-11.org.atsarray:vs-tgt
bench_name=run_vs_tgt
# shellcheck source=bench/targets.sh
source "$root/bench/targets.sh"
bench_require_tgt

for store in $stores; do
  case $store in
    file | rocksdb | memory) ;;
    *)
      echo "$bench_name: STORES: unknown store '$store' (file, rocksdb, memory)" >&2
      exit 2
      ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || {
  echo "$bench_name: ROUNDS must be a positive integer" >&2
  exit 2
}

bench_build atsarray io_bench tcp_rtt
atsarray_bin=$build_dir/target/daemon/atsarray
bench_bin=$build_dir/bench/io_bench
rtt_bin=$build_dir/bench/tcp_rtt

work=$(mktemp -d "${WORK_DIR:-/tmp}/atsarray-vs-tgt-XXXXXX")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
started=$(date +%s)

# The regions the workloads touch, in MiB: "offset:size". 0:256 is where the 4 KiB and 128 KiB
# rows run; 768:1 holds the 512-byte writes and ATS on distinct blocks (the same blocks and
# page-cache state, so the two rates compare directly); 896:1 the hot ATS block.
regions="0:256 768:1 896:1"
for region in $regions; do
  dd if=/dev/urandom of="$work/seed-${region%%:*}" bs=1M count="${region#*:}" status=none
done

# The file LUNs (tgt's and atsarray's file store): 1 GiB sparse files holding the seed data in the
# regions above, written, synced and dropped from the page cache. At the start of every round each
# side reads its regions back through its own target (read_back): what the page cache holds, and
# in which folio sizes, is what that target's own reads leave (on ext4 with large folios a 4 KiB
# write into a large folio costs several times more than into a small one:
# backend/page_cache_pieces.hpp; tgt reads with readahead, atsarray's file store without).
prefill_image() {  # path
  truncate -s 1G "$1"
  for region in $regions; do
    dd if="$work/seed-${region%%:*}" of="$1" bs=1M seek="${region%%:*}" conv=notrunc,fdatasync \
      status=none
  done
  dd if="$1" iflag=nocache count=0 status=none
}

# Every region read once through the side's target, 128 KiB READs at queue depth 16, one pass.
read_back() {  # side
  local region line
  for region in $regions; do
    if ! line=$("$bench_bin" --portal "127.0.0.1:${port[$1]}" --target "${iqn[$1]}" \
      --lun "${lun[$1]}" --label "read-back-$1" --workload seqread --bs 131072 --qd 16 \
      --passes 1 --seconds 600 --offset $((${region%%:*} << 20)) \
      --region $((${region#*:} << 20)) --initiator-prefix "$iqn_prefix-read-back"); then
      echo "$bench_name: reading the $1 LUN back failed: $line" >&2
      [ "$1" = tgt ] || tail -n 20 "$work/$1.log" >&2
      exit 2
    fi
  done
}

sides=(tgt)
declare -A port pid iqn lun
port[tgt]=$port_tgt
port[file]=${PORT_FILE:-${PORT_ATSARRAY:-3291}}
port[rocksdb]=${PORT_ROCKSDB:-3296}
port[memory]=${PORT_MEMORY:-3297}

prefill_image "$work/tgt-lun.img"
bench_start_tgt "$port_tgt" "${TGT_CONTROL_PORT:-3293}" "$iqn_prefix-tgt" "$work/tgt-lun.img" 512
pid[tgt]=$tgtd_pid
iqn[tgt]=$iqn_prefix-tgt
lun[tgt]=1 # tgt's LUN 0 is its controller
if [ "$tgt_iscsi" = matched ]; then
  # atsarray's defaults (configs/default.toml [iscsi]); what a session gets is the minimum of these
  # and libiscsi's offer, the same for every target.
  for key in MaxRecvDataSegmentLength=262144 MaxXmitDataSegmentLength=262144 \
    MaxBurstLength=1048576 FirstBurstLength=262144 InitialR2T=No ImmediateData=Yes \
    MaxOutstandingR2T=8; do
    tgtadm -C "$tgt_control" --lld iscsi --mode target --op update --tid 1 \
      --name "${key%%=*}" --value "${key#*=}"
  done
fi

# One daemon per store, each with its own data_dir (a second daemon on one is refused) and the
# shipped defaults for threads, iSCSI keys and [rocksdb] (no overrides: the rocksdb LUN is what a
# user gets). WCE=1 on every LUN (tgt's default caching mode page): all sync only for FUA and
# SYNCHRONIZE CACHE, which no workload sends.
atsarray_config() {  # store port iqn
  cat <<EOF
log_level = "warn"
data_dir = "data-$1"

[[portal]]
address = "127.0.0.1"
port = $2

[[target]]
name = "$3"

[[target.lun]]
id = 0
backend = "$1"
size = "1GiB"
block_size = 512
write_cache = true
EOF
  [ "$1" != file ] || echo "path = \"file-lun.img\""
}

# The LUNs with no file to write beforehand get the same seed data over iSCSI: each region copied
# sequentially, 128 KiB WRITEs at queue depth 32, one pass.
prefill_over_iscsi() {  # store
  local region line
  for region in $regions; do
    if ! line=$("$bench_bin" --portal "127.0.0.1:${port[$1]}" --target "${iqn[$1]}" --lun 0 \
      --label "prefill-$1" --workload seqwrite --bs 131072 --qd 32 --passes 1 --seconds 600 \
      --data-file "$work/seed-${region%%:*}" --offset $((${region%%:*} << 20)) \
      --region $((${region#*:} << 20)) --initiator-prefix "$iqn_prefix-prefill"); then
      echo "$bench_name: prefilling the $1 LUN failed: $line" >&2
      tail -n 20 "$work/$1.log" >&2
      exit 2
    fi
    echo "   prefill $1 ${region#*:} MiB at ${region%%:*} MiB: $line" >&2
  done
}

for store in $stores; do
  sides+=("$store")
  iqn[$store]=$iqn_prefix-$store
  lun[$store]=0
  [ "$store" != file ] || prefill_image "$work/file-lun.img"
  atsarray_config "$store" "${port[$store]}" "${iqn[$store]}" >"$work/$store.toml"
  bench_start_atsarray "$atsarray_bin" "$work/$store.toml" "${port[$store]}" "$store"
  pid[$store]=$atsarray_pid
  [ "$store" = file ] || prefill_over_iscsi "$store"
  if [ "$store" = rocksdb ]; then
    # The prefill leaves RocksDB flushing memtables and compacting L0 for a while: wait until the
    # daemon is quiet (at most 60 s) so that the first rows measure the store, not a flush in
    # progress; each round's read-back then leaves in the block cache (an eighth of memory by
    # default) what a reader of the regions would have left in it.
    echo "   rocksdb quiet after prefill in $(bench_wait_quiet 60 "${pid[rocksdb]}") s" >&2
  fi
done
rm -f "$work"/seed-*
atsarray_pid_list=()
for side in "${sides[@]:1}"; do
  atsarray_pid_list+=("${pid[$side]}")
done

# name | io_bench workload | bytes | queue depth | region offset (MiB) | region (MiB) | unit
workloads=(
  "randread-4k-qd1|randread|4096|1|0|256|IOPS"
  "randread-4k-qd32|randread|4096|32|0|256|IOPS"
  "randwrite-4k-qd1|randwrite|4096|1|0|256|IOPS"
  "randwrite-4k-qd32|randwrite|4096|32|0|256|IOPS"
  "randwrite-128k-qd16|randwrite|131072|16|0|256|IOPS"
  "write-512-qd32|randwrite|512|32|768|1|IOPS"
  "ats-distinct-qd32|ats-distinct|512|32|768|1|ATS/s"
  "ats-hot-qd32|ats-hot|512|32|896|1|ATS/s"
)

raw=$work/results.txt
status=0
echo "== atsarray stores vs tgt: ${per_run} s per workload, side and round, $rounds round(s), one" \
  "session per run, $(nproc) cores, loopback, LUNs in $work ($(df -T "$work" | awk 'NR == 2 { print $2 }'))"
echo "   atsarray $("$atsarray_bin" --version 2>/dev/null || true); tgt $(tgtd -V 2>/dev/null || true);" \
  "tgt iSCSI keys: $tgt_iscsi; sides: ${sides[*]}"
rtt_seconds=$(awk -v s="$per_run" 'BEGIN { print s / 2 }')
# The raw TCP round trip of a queue-depth-1 shape, half a run long, kept as a "tcp" line of the
# row and side it is measured next to.
rtt() {  # round row side shape when
  local out line
  if ! out=$("$rtt_bin" --shape "$4" --seconds "$rtt_seconds"); then
    status=1
  fi
  while read -r line; do
    echo "round=$1 row=tcp qd1_row=$2 side=$3 when=$5 $line"
  done <<<"$out" | tee -a "$raw" | sed 's/^/   /' >&2
}

# The page cache's share of a file LUN's first 256 MiB (fincore), for the log.
residency() {  # image
  fincore --bytes --noheadings --output RES "$1" 2>/dev/null | awk '{ printf "%.0f MiB", $1 / 1048576 }'
}

for ((round = 1; round <= rounds; ++round)); do
  # Every side's regions read back once more through its own target: the kernel may have dropped
  # page-cache pages since the last round (a VM's proactive reclaim, such as DAMON's pageout of
  # page cache unused for a minute, does), and a QD1 read that waits for the disk measures the disk.
  cached="tgt image $(residency "$work/tgt-lun.img")"
  [ ! -f "$work/file-lun.img" ] || cached+=", file image $(residency "$work/file-lun.img")"
  echo "   round $round: the page cache holds, before the read-back: $cached" >&2
  bench_wait_quiet "$quiet_wait" "${atsarray_pid_list[@]}" >/dev/null
  for side in "${sides[@]}"; do
    read_back "$side"
  done
  # Odd rounds run the sides in the order tgt, file, rocksdb, memory; even rounds the reverse, so
  # that no side always runs right after the same one.
  order=("${sides[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#sides[@]} - 1; i >= 0; --i)); do
      order+=("${sides[i]}")
    done
  fi
  for entry in "${workloads[@]}"; do
    IFS='|' read -r name workload bytes depth offset_mib region_mib _ <<<"$entry"
    # The queue-depth-1 rows are held to the raw TCP round trip of their shape, measured right
    # before and right after each side's run: loopback's speed in a VM drifts by 10-20 % within a
    # minute, so a reference taken at the round's start would judge a run by another minute's.
    shape=
    if [ "$depth" = 1 ] && [ "$bytes" = 4096 ]; then
      shape=${workload#rand}
    fi
    # The sides one after the other for each workload, so that all see the same load from the rest
    # of the machine; each run starts once the atsarray daemons are quiet (what a RocksDB LUN
    # flushes and compacts after a write row is charged to that row's run only while it runs, not
    # to the next side's).
    for side in "${order[@]}"; do
      waited=$(bench_wait_quiet "$quiet_wait" "${atsarray_pid_list[@]}")
      [ -z "$shape" ] || rtt "$round" "$name" "$side" "$shape" before
      if line=$("$bench_bin" --portal "127.0.0.1:${port[$side]}" --target "${iqn[$side]}" \
        --lun "${lun[$side]}" --daemon-pid "${pid[$side]}" --label "$side" --workload "$workload" \
        --bs "$bytes" --qd "$depth" --seconds "$per_run" --offset $((offset_mib << 20)) \
        --region $((region_mib << 20)) --initiator-prefix "$iqn_prefix-$name"); then
        :
      else
        status=1
        [ -n "$line" ] || line="io_bench label=$side status=error error=\"io_bench failed\""
      fi
      echo "round=$round row=$name $line quiet_wait_s=$waited" | tee -a "$raw" | sed 's/^/   /' >&2
      [ -z "$shape" ] || rtt "$round" "$name" "$side" "$shape" after
    done
  done
done
[ -z "${RAW:-}" ] || cp "$raw" "$RAW"

echo
# The store a new user gets: LUN 0's backend in the shipped config.
default_store=$(awk '/^\[\[target\.lun\]\]/ { lun = 1 } lun && /^backend *=/ { gsub(/[" ]/, "", $3); print $3; exit }' \
  "$root/configs/default.toml")
awk -v units="$(printf '%s\n' "${workloads[@]}" | cut -d'|' -f1,7 | tr '\n' ' ')" \
  -v sides="${sides[*]}" -v rounds="$rounds" -v default_store="${default_store:-file}" '
  # io_bench lines: round=R row=NAME io_bench label=SIDE key=value ... error="..." quiet_wait_s=S
  # tcp_rtt lines:  round=R row=tcp tcp_rtt shape=write|read key=value ... error="..."
  {
    n = split($0, f, " ")
    delete kv
    for (i = 1; i <= n; ++i) {
      if (f[i] ~ /^error=/) { break }
      eq = index(f[i], "=")
      if (eq > 0) { kv[substr(f[i], 1, eq - 1)] = substr(f[i], eq + 1) }
    }
    if (kv["row"] == "tcp") {
      k = kv["shape"]
      if (kv["status"] != "ok") { tcp_bad[kv["side"] SUBSEP k] = 1; next }
      add("tcp_us" SUBSEP k, 1e6 / kv["rate"]); add("tcp_p50" SUBSEP k, kv["p50_us"])
      add("tcp_p99" SUBSEP k, kv["p99_us"])
      # The reference of one side'"'"'s run: the round trips before and after it.
      ref = kv["round"] SUBSEP kv["side"] SUBSEP k
      ref_sum[ref] += 1e6 / kv["rate"]; ref_n[ref]++
      next
    }
    if (kv["status"] == "ok") { round_iops[kv["round"] SUBSEP kv["row"] SUBSEP kv["label"]] = kv["iops"] }
    k = kv["row"] SUBSEP kv["label"]
    if (!(kv["row"] in seen)) { seen[kv["row"]] = 1; order[++rows] = kv["row"] }
    if (kv["status"] == "not-supported") { unsupported[k] = 1 }
    else if (kv["status"] != "ok") { bad[k] = 1 }
    else {
      add("value" SUBSEP k, kv["iops"]); add("p50" SUBSEP k, kv["p50_us"])
      add("p99" SUBSEP k, kv["p99_us"]); add("cpu" SUBSEP k, kv["target_cpu_pct"])
      misc[k] += kv["miscompares_per_s"] / rounds
    }
  }
  function add(key, v) { vals[key] = (key in vals) ? vals[key] " " v : v }
  # The median of the values kept under key (of two: their mean); "" if none.
  function median(key,   n, a, i, j, t) {
    if (!(key in vals)) { return "" }
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; ++i) {
      for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; --j) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function ok(row, side,   k) {
    k = row SUBSEP side
    return !(k in bad) && !(k in unsupported) && median("value" SUBSEP k) != ""
  }
  function value(row, side) { return median("value" SUBSEP row SUBSEP side) }
  function ratio(row, side) {
    if (!ok(row, side) || !ok(row, "tgt") || value(row, "tgt") == 0) { return "-" }
    return sprintf("%.2f", value(row, side) / value(row, "tgt"))
  }
  function cell(row, side,   k, r) {
    k = row SUBSEP side
    if (k in unsupported) { return sprintf("%-33s", "no COMPARE AND WRITE") }
    if (!ok(row, side)) { return sprintf("%-33s", "ERROR") }
    r = side == "tgt" ? "" : ratio(row, side)
    return sprintf("%8.0f %11s %4.0f%% %-6s", value(row, side),
                   sprintf("%.0f/%.0f", median("p50" SUBSEP k), median("p99" SUBSEP k)),
                   median("cpu" SUBSEP k), r == "-" || r == "" ? "" : r "x")
  }
  function has(side,   i) { for (i = 1; i <= ns; ++i) { if (s[i] == side) { return 1 } } return 0 }
  function verdict(x, goal) { return x == "-" ? "n/a" : (x + 0 >= goal ? "met" : "MISSED") }
  function goal(text, figure, verdict_,   out) {
    out = sprintf("  %-66s %-20s %s", text, figure, verdict_)
    sub(/ +$/, "", out); print out
  }
  # A store against tgt on one row: figure "1.28x tgt", met when >= times.
  function vs_tgt(text, row, side, times,   x) {
    if (!has(side)) { goal(text, "(not run)", "n/a"); return }
    x = ratio(row, side)
    goal(text, x == "-" ? "-" : x "x tgt", verdict(x, times))
  }
  # 4 KiB queue-depth-1 time per command (1e6 / IOPS) against the TCP round trip of that shape
  # measured right before and after the same run (their mean): one ratio per round, and the goal
  # judges the median of the rounds'"'"' ratios. tgt has no such goal: its line is a reference
  # ("tgt:"), with no verdict.
  function vs_tcp(side, row, shape,   r, k, ref, us, x, text) {
    text = sprintf("%s: 4 KiB QD1 %s <= 1.3x raw TCP round trip", side, shape)
    if (side == "tgt") { text = sprintf("(reference) tgt: 4 KiB QD1 %s vs raw TCP round trip", shape) }
    if (!has(side)) { goal(text, "(not run)", "n/a"); return }
    if (!ok(row, side) || ((side SUBSEP shape) in tcp_bad)) { goal(text, "-", "n/a"); return }
    for (r = 1; r <= rounds; ++r) {
      k = r SUBSEP row SUBSEP side; ref = r SUBSEP side SUBSEP shape
      if (!(k in round_iops) || !(ref in ref_n) || round_iops[k] == 0) { continue }
      us = 1e6 / round_iops[k]; ref = ref_sum[ref] / ref_n[ref]
      add("qd1_us" SUBSEP side SUBSEP shape, us); add("qd1_ref" SUBSEP side SUBSEP shape, ref)
      add("qd1_x" SUBSEP side SUBSEP shape, us / ref)
    }
    x = median("qd1_x" SUBSEP side SUBSEP shape)
    if (x == "") { goal(text, "-", "n/a"); return }
    x = sprintf("%.2f", x)
    goal(text, sprintf("%.0f/%.0f us = %sx", median("qd1_us" SUBSEP side SUBSEP shape),
                       median("qd1_ref" SUBSEP side SUBSEP shape), x),
         side == "tgt" ? "" : x + 0 <= 1.3 ? "met" : "MISSED")
  }
  function ats_vs_write(side,   x, text) {
    text = sprintf("%s: ATS distinct blocks QD32 >= 0.8x 512-byte writes QD32", side)
    if (!has(side)) { goal(text, "(not run)", "n/a"); return }
    x = "-"
    if (ok("ats-distinct-qd32", side) && ok("write-512-qd32", side) && value("write-512-qd32", side) > 0) {
      x = sprintf("%.2f", value("ats-distinct-qd32", side) / value("write-512-qd32", side))
    }
    goal(text, x == "-" ? "-" : x "x", verdict(x, 0.8))
  }
  END {
    nu = split(units, u, " ")
    for (i = 1; i <= nu; ++i) { split(u[i], p, "|"); unit[p[1]] = p[2] }
    ns = split(sides, s, " ")
    line = sprintf("%-19s %-5s", "", "")
    head = sprintf("%-19s %-5s", "workload", "unit")
    for (i = 1; i <= ns; ++i) {
      line = line sprintf(" | %-33s", s[i] (s[i] == default_store ? " (default)" : ""))
      head = head sprintf(" | %8s %11s %5s %-6s", "value", "p50/p99us", "cpu", "vs tgt")
    }
    sub(/ +$/, "", line); print line; print head
    for (r = 1; r <= rows; ++r) {
      line = sprintf("%-19s %-5s", order[r], unit[order[r]])
      for (i = 1; i <= ns; ++i) { line = line " | " cell(order[r], s[i]) }
      sub(/ +$/, "", line); print line
    }
    printf "\n"
    printf "value = the median of %d round(s) (of 2: their mean), as are p50/p99 and cpu; vs tgt = the\n", rounds
    printf "store'\''s median / tgt'\''s. cpu = the daemon'\''s CPU time over the run (100%% = one core).\n"
    printf "ATS rows count successful COMPARE AND WRITEs; miscompares/s on the hot block:"
    for (i = 2; i <= ns; ++i) { printf " %s %.0f", s[i], misc["ats-hot-qd32" SUBSEP s[i]] }
    printf ".\n"
    for (i = 1; i <= 2; ++i) {
      shape = i == 1 ? "write" : "read"
      if (median("tcp_us" SUBSEP shape) == "") { printf "raw TCP %s: ERROR\n", shape; continue }
      printf "raw TCP round trip, %s shape (%s): %.1f us per round trip (1e6 / rate; median of\n   every measurement), p50/p99 %.0f/%.0f us\n",
             shape, shape == "write" ? "4096+48 bytes out, 48 back" : "48 out, 48+4096 back",
             median("tcp_us" SUBSEP shape), median("tcp_p50" SUBSEP shape), median("tcp_p99" SUBSEP shape)
    }

    printf "\n== goals (issue 17; benchmark goals, not tests)\n"
    for (r = 1; r <= rows; ++r) {
      if (ok(order[r], "tgt")) {
        vs_tgt("default store (" default_store ") >= tgt: " order[r], order[r], default_store, 1)
      }
    }
    vs_tgt("default store (" default_store ") >= 2x tgt: randread-4k-qd32", "randread-4k-qd32", default_store, 2)
    vs_tgt("default store (" default_store ") >= 2x tgt: randwrite-4k-qd32", "randwrite-4k-qd32", default_store, 2)
    vs_tgt("file >= 2x tgt: randwrite-4k-qd32", "randwrite-4k-qd32", "file", 2)
    for (i = 1; i <= ns; ++i) {
      vs_tcp(s[i], "randread-4k-qd1", "read"); vs_tcp(s[i], "randwrite-4k-qd1", "write")
    }
    for (i = 2; i <= ns; ++i) { ats_vs_write(s[i]) }
    printf "(QD1 latency = 1e6 / IOPS, the time per command at one in flight, against 1e6 / rate of\n"
    printf "tcp_rtt right before and after the same run; x = the median of the rounds'"'"' ratios, shown\n"
    printf "with the median latency and round trip. ATS: tgt has no COMPARE AND WRITE, so each store\n"
    printf "is held to its own writes.)\n"
  }' "$raw"
echo
echo "whole run: $(($(date +%s) - started)) s"

if [ "$status" -ne 0 ]; then
  for side in "${sides[@]:1}"; do
    echo "$bench_name: a run failed; $side daemon log (tail):" >&2
    tail -n 20 "$work/$side.log" >&2
  done
fi
exit "$status"
