#!/usr/bin/env bash
# The gateway's overhead on Ceph RBD (issue 15): `rbd bench` straight on an image, then atsarray
# gateways exporting that image over iSCSI, in one run on one loopback cluster. Starts a one-node
# memstore cluster (scripts/ceph-cluster) in a temporary folder, creates a 1 GiB image (layering
# only, as the rbd store wants) and fills it sequentially so every read hits a written object,
# then measures 4 KiB random read and write at queue depth 1 and 32:
#   - rbd bench (librbd, uncached like the rbd store: --rbd-cache=false, --io-threads = depth),
#     plus 512-byte random writes as the reference for ATS (COMPARE AND WRITE of one 512-byte
#     block is one RADOS write operation, cmpext + write);
#   - one gateway (an rbd LUN of the image, 512-byte blocks) driven by io_bench, and ATS on
#     distinct blocks (the second gateway runs idle meanwhile);
#   - two gateway processes on the same image (each its own target port group, the other as
#     remote_portals, both active/optimized), the 32 commands in flight split 16 + 16 over two
#     io_bench runs at once (one per gateway), their IOPS summed.
# The gateway rows are run once per worker pool size in WORKER_THREADS: before the rbd store
# completed asynchronously it waited on a worker thread for each cluster operation, so
# `worker_threads` bounded its operations in flight; now READ, WRITE, SYNCHRONIZE CACHE and ATS
# take no worker. With BASELINE_BIN the gateway rows run a second time with that atsarray binary
# (a build of an earlier commit) on the same cluster and image, as "before:" rows.
# Prints one table: IOPS, p50/p99 latency (io_bench's), the gateways', the OSD's and the whole
# machine's CPU over each run, and the ratio to rbd bench's IOPS at the same depth.
# bench/README.md explains the workloads; bench/RESULTS.md has a run.
#
# Knobs (environment):
#   SECONDS=6               seconds per workload and setup
#   WORKER_THREADS="4 32"   the gateways' worker_threads values to measure (4 = the default)
#   BUILD_DIR=...           build directory (default: <repo>/build); configured if missing
#   NO_BUILD=1              use the binaries in BUILD_DIR as they are
#   BASELINE_BIN=...        also run the gateway rows with this atsarray binary ("before:" rows)
#   JOBS=N                  ninja -j (default: nproc)
#   PORT_A=3294 PORT_B=3295 the two gateways' iSCSI ports on 127.0.0.1
#   IMAGE_SIZE_MIB=1024     the image (and every random workload's region)
#   WORK_DIR=/tmp           parent folder of the cluster's folder and the gateways' data
#   RAW=FILE                also keep the result lines in FILE
set -euo pipefail

# bash counts SECONDS up from its start value; read the caller's value from the environment.
per_run=$(printenv SECONDS || echo 6)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
port_a=${PORT_A:-3294}
port_b=${PORT_B:-3295}
worker_sets=${WORKER_THREADS:-4 32}
image_mib=${IMAGE_SIZE_MIB:-1024}
iqn=iqn.2026-11.org.atsarray:vs-rbd
image=bench
bench_name=run_vs_rbd
# shellcheck source=bench/targets.sh
source "$root/bench/targets.sh"
for tool in rbd ceph-mon ceph-osd; do
  command -v "$tool" >/dev/null || {
    echo "$bench_name: $tool missing (apt-get install -y ceph-mon ceph-osd ceph-common)" >&2
    exit 2
  }
done

bench_build atsarray io_bench
atsarray_bin=$build_dir/target/daemon/atsarray
bench_bin=$build_dir/bench/io_bench

work=$(mktemp -d "${WORK_DIR:-/tmp}/atsarray-vs-rbd-XXXXXX")
gw_a_pid=""
gw_b_pid=""
cluster_started=0

stop_gateways() {
  for pid in $gw_a_pid $gw_b_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $gw_a_pid $gw_b_pid; do
    bench_stop_pid "$pid"
  done
  gw_a_pid=""
  gw_b_pid=""
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  stop_gateways
  if [ "$cluster_started" = 1 ]; then
    "$root/scripts/ceph-cluster" stop "$work/ceph" >/dev/null 2>&1 || true
  fi
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_started=1
"$root/scripts/ceph-cluster" start "$work/ceph" >"$work/ceph-start.log" 2>&1 || {
  echo "$bench_name: the cluster did not start:" >&2
  cat "$work/ceph-start.log" >&2
  exit 2
}
export CEPH_CONF=$work/ceph/ceph.conf
osd_pid=$(cat "$work/ceph/run/osd.0.pid")

# Where the CPU goes during a run: the machine's busy time and the OSD's, in % of one core
# (/proc/stat's first line: all cores' ticks; the OSD's utime + stime).
cpu_snapshot() {
  echo "$(awk 'NR == 1 { t = 0; for (i = 2; i <= NF; ++i) t += $i; print t, $5 + $6 }' /proc/stat)" \
    "$(awk '{ print $14 + $15 }' "/proc/$osd_pid/stat")"
}
cpu_since() {  # snapshot: prints "host_pct=N osd_pct=N"
  # shellcheck disable=SC2046,SC2086 # three numbers each
  echo $1 $(cpu_snapshot) | awk -v cores="$(nproc)" '{
    ticks = ($4 - $1) / cores
    printf "host_pct=%.0f osd_pct=%.0f", 100 * (($4 - $1) - ($5 - $2)) / ticks, 100 * ($6 - $3) / ticks
  }'
}

# Layering only: what the rbd store accepts (no exclusive-lock, object-map or journaling). Filled
# with 4 MiB sequential writes so that no read hits a missing object (a hole reads as zeros
# without going to the OSD's data).
rbd create --size "${image_mib}M" --image-feature layering "rbd/$image"
rbd bench --rbd-cache=false --io-type write --io-pattern seq --io-size 4M --io-threads 16 \
  --io-total "${image_mib}M" "rbd/$image" >"$work/prefill.log" 2>&1

raw=$work/results.txt
status=0

# rbd bench for `per_run` seconds: SIGINT makes it print its summary (ops/sec over the time it
# ran). Now and then it ends without one; then the last progress line (SEC, OPS so far) gives
# the rate over whole seconds. Appends "row=NAME setup=rbd status=ok|error iops=N".
rbd_bench() {  # row io_type io_size depth
  local out rate before
  before=$(cpu_snapshot)
  out=$(timeout -s INT "$per_run" stdbuf -oL rbd bench --rbd-cache=false --io-type "$2" \
    --io-pattern rand --io-size "$3" --io-threads "$4" --io-total 1T "rbd/$image" 2>&1) || true
  rate=$(printf '%s\n' "$out" | awk '
    /^elapsed:/ { for (i = 1; i < NF; ++i) if ($i == "ops/sec:") summary = $(i + 1) }
    $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && $1 > 0 { progress = sprintf("%.0f", $2 / $1) }
    END { if (summary != "") print summary; else if (progress != "") print progress }')
  if [ -n "$rate" ]; then
    echo "row=$1 setup=rbd status=ok iops=$rate $(cpu_since "$before")" | tee -a "$raw" | sed 's/^/   /' >&2
  else
    status=1
    echo "row=$1 setup=rbd status=error" | tee -a "$raw" | sed 's/^/   /' >&2
    printf '%s\n' "$out" | tail -n 5 >&2
  fi
}

# A gateway's config: LUN 0 = the image, 512-byte blocks; its own group and the other gateway's
# as remote_portals, both active/optimized (active/active: no path is slower by design).
gateway_config() {  # own_group own_port other_group other_port workers
  cat <<EOF
log_level = "warn"
worker_threads = $5
data_dir = "$work/gw-$1"

[[portal]]
address = "127.0.0.1"
port = $2

[[target_port_group]]
id = $1
name = "gateway-$1"
portals = ["127.0.0.1:$2"]
state = "active_optimized"

[[target_port_group]]
id = $3
name = "gateway-$3"
remote_portals = ["127.0.0.1:$4"]
state = "active_optimized"

[alua]
failover = false

[[target]]
name = "$iqn"

[[target.lun]]
id = 0
backend = "rbd"
pool = "rbd"
image = "$image"
ceph_conf = "$CEPH_CONF"
block_size = 512
EOF
}

start_gateway() {  # group port other_group other_port workers: sets started_pid
  gateway_config "$@" >"$work/gw-$1.toml"
  "$atsarray_bin" --config "$work/gw-$1.toml" >"$work/gw-$1.log" 2>&1 &
  started_pid=$!
}

# io_bench against one gateway; prints its result line (or an error line).
io_bench_on() {  # port pid label workload bs depth offset_mib region_mib
  local line
  if line=$("$bench_bin" --portal "127.0.0.1:$1" --target "$iqn" --lun 0 --daemon-pid "$2" \
    --label "$3" --workload "$4" --bs "$5" --qd "$6" --seconds "$per_run" \
    --offset $(($7 << 20)) --region $(($8 << 20)) --initiator-prefix "$iqn-$3-$4-$6"); then
    echo "$line"
  else
    echo "${line:-io_bench label=$3 status=error error=\"io_bench failed\"}"
    return 1
  fi
}

# name | io_bench workload | bytes | depth | region offset (MiB) | region (MiB) | rbd bench reference
# ATS runs on 1 MiB at three quarters of the image (768 MiB of 1 GiB; gateway B's half 4 MiB
# further, in another RADOS object); its reference is rbd bench's 512-byte random writes at the
# same depth.
ats_mib=$((image_mib * 3 / 4))
workloads=(
  "randread-4k-qd1|randread|4096|1|0|$image_mib|randread-4k-qd1"
  "randread-4k-qd32|randread|4096|32|0|$image_mib|randread-4k-qd32"
  "randwrite-4k-qd1|randwrite|4096|1|0|$image_mib|randwrite-4k-qd1"
  "randwrite-4k-qd32|randwrite|4096|32|0|$image_mib|randwrite-4k-qd32"
  "ats-distinct-qd1|ats-distinct|512|1|$ats_mib|1|write-512-qd1"
  "ats-distinct-qd32|ats-distinct|512|32|$ats_mib|1|write-512-qd32"
)

echo "== gateways vs rbd bench: ${per_run} s per workload and setup, $(nproc) cores, loopback," \
  "one memstore OSD, ${image_mib} MiB image, worker_threads: $worker_sets"
echo "   atsarray $("$atsarray_bin" --version 2>/dev/null || true); $(rbd --version 2>/dev/null | cut -d' ' -f1-3)"

rbd_bench randread-4k-qd1 read 4K 1
rbd_bench randread-4k-qd32 read 4K 32
rbd_bench randwrite-4k-qd1 write 4K 1
rbd_bench randwrite-4k-qd32 write 4K 32
rbd_bench write-512-qd1 write 512 1
rbd_bench write-512-qd32 write 512 32

variants=new
[ -z "${BASELINE_BIN:-}" ] || variants="base new"
new_bin=$atsarray_bin
for variant in $variants; do
  if [ "$variant" = base ]; then
    atsarray_bin=$BASELINE_BIN
    tag=base-
  else
    atsarray_bin=$new_bin
    tag=
  fi
  for workers in $worker_sets; do
    # Both gateways run from the start, so that no group changes its ALUA state during a run (a
    # change is a UNIT ATTENTION to every session, which io_bench counts as an error): the first
    # rows load gateway A alone while B idles. Three heartbeats (1 s each) let the shared view
    # show both groups available before the first login.
    # A first: the first gateway on an image writes the LUN's identity into it.
    start_gateway 1 "$port_a" 2 "$port_b" "$workers"
    gw_a_pid=$started_pid
    bench_wait_for_port "$port_a" "$gw_a_pid" gw-1 300
    start_gateway 2 "$port_b" 1 "$port_a" "$workers"
    gw_b_pid=$started_pid
    bench_wait_for_port "$port_b" "$gw_b_pid" gw-2 300
    sleep 3
    for entry in "${workloads[@]}"; do
      IFS='|' read -r name workload bytes depth offset_mib region_mib _ <<<"$entry"
      before=$(cpu_snapshot)
      line=$(io_bench_on "$port_a" "$gw_a_pid" gw1 "$workload" "$bytes" "$depth" "$offset_mib" \
        "$region_mib") || status=1
      echo "row=$name setup=gw1-${tag}w$workers $(cpu_since "$before") $line" | tee -a "$raw" | sed 's/^/   /' >&2
    done

    # Two gateways on the image: 16 + 16 in flight for the depth-32 rows, summed.
    for entry in "${workloads[@]}"; do
      IFS='|' read -r name workload bytes depth offset_mib region_mib _ <<<"$entry"
      [ "$depth" = 32 ] || continue
      before=$(cpu_snapshot)
      io_bench_on "$port_a" "$gw_a_pid" gw2a "$workload" "$bytes" 16 "$offset_mib" "$region_mib" \
        >"$work/a.txt" &
      pid_a=$!
      io_bench_on "$port_b" "$gw_b_pid" gw2b "$workload" "$bytes" 16 \
        $((offset_mib == ats_mib ? ats_mib + 4 : offset_mib)) "$region_mib" >"$work/b.txt" &
      pid_b=$!
      wait "$pid_a" || status=1
      wait "$pid_b" || status=1
      usage=$(cpu_since "$before")
      for side in a b; do
        echo "row=$name setup=gw2-${tag}w$workers part=$side $usage $(cat "$work/$side.txt")" | tee -a "$raw" |
          sed 's/^/   /' >&2
      done
    done
    stop_gateways
  done
done
atsarray_bin=$new_bin
[ -z "${RAW:-}" ] || cp "$raw" "$RAW"

echo
awk -v refs="$(printf '%s\n' "${workloads[@]}" | cut -d'|' -f1,7 | tr '\n' ' ')" \
  -v worker_sets="$worker_sets" '
  # Each line: row=NAME setup=SETUP [part=a|b] [io_bench] key=value ... error="..."
  {
    n = split($0, f, " ")
    delete kv
    for (i = 1; i <= n; ++i) {
      if (f[i] ~ /^error=/) { break }
      eq = index(f[i], "=")
      if (eq > 0) { kv[substr(f[i], 1, eq - 1)] = substr(f[i], eq + 1) }
    }
    k = kv["row"] SUBSEP kv["setup"]
    if (!(k in st)) { st[k] = "ok" }
    if (kv["status"] != "ok") { st[k] = "error" }
    iops[k] += kv["iops"]
    # Two gateways: the worse of the two latencies, the sum of the two CPUs.
    if (kv["p50_us"] + 0 > p50[k]) { p50[k] = kv["p50_us"] + 0 }
    if (kv["p99_us"] + 0 > p99[k]) { p99[k] = kv["p99_us"] + 0 }
    if ("target_cpu_pct" in kv) { cpu[k] += kv["target_cpu_pct"]; has_cpu[k] = 1 }
    host[k] = kv["host_pct"]; osd[k] = kv["osd_pct"]
  }
  function line(row, setup, label, ref,   k, r) {
    k = row SUBSEP setup
    if (!(k in st)) { return }
    if (st[k] != "ok") { printf "%-18s %-22s %9s\n", row, label, "ERROR"; return }
    r = ref SUBSEP "rbd"
    printf "%-18s %-22s %9.0f %13s %6s %6s %6s %7s\n", row, label, iops[k],
           setup == "rbd" ? "-" : sprintf("%.0f/%.0f", p50[k], p99[k]),
           has_cpu[k] ? cpu[k] "%" : "-", osd[k] "%", host[k] "%",
           (st[r] == "ok" && iops[r] > 0) ? sprintf("%.2f", iops[k] / iops[r]) : "-"
  }
  END {
    nr = split(refs, r, " ")
    nw = split(worker_sets, w, " ")
    printf "%-18s %-22s %9s %13s %6s %6s %6s %7s\n", "workload", "setup", "IOPS", "p50/p99 us", "gw cpu",
           "osd", "host", "vs rbd"
    for (i = 1; i <= nr; ++i) {
      split(r[i], p, "|")
      row = p[1]; ref = p[2]
      line(ref, "rbd", "rbd bench" (ref == row ? "" : " " ref), ref)
      for (j = 1; j <= nw; ++j) {
        line(row, "gw1-base-w" w[j], "before: 1 gw, " w[j] " wkrs", ref)
        line(row, "gw2-base-w" w[j], "before: 2 gws, " w[j] " wkrs", ref)
      }
      for (j = 1; j <= nw; ++j) {
        line(row, "gw1-w" w[j], "1 gateway, " w[j] " workers", ref)
        line(row, "gw2-w" w[j], "2 gateways, " w[j] " wkrs", ref)
      }
      print ""
    }
    print "IOPS of ATS rows: successful COMPARE AND WRITEs (distinct blocks: none miscompares);"
    print "their reference is rbd bench 512-byte random writes at the same depth."
    print "2 gateways: 16 + 16 in flight (one io_bench per gateway), IOPS summed, the worse p50/p99."
    print "gw cpu, osd = the gateway processes'\'' and the OSD'\''s CPU time over the run, host = the"
    print "whole machine'\''s busy time (rbd bench, io_bench and the monitor included); 100% = one core."
  }' "$raw"

if [ "$status" -ne 0 ]; then
  echo "$bench_name: a run failed; gateway logs (tail):" >&2
  for log in "$work"/gw-*.log; do
    [ -f "$log" ] && tail -n 20 "$log" >&2
  done
fi
exit "$status"
