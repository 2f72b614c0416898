#!/usr/bin/env bash
# Starts atsarray as a dual-controller array on two loopback ports (target port group 1
# active/optimized, group 2 active/non-optimized), runs libiscsi's whole conformance suite
# (iscsi-test-cu, Debian libiscsi-bin) with the second URL, for the multipath tests, on the other
# controller's portal, on a file LUN with 512-byte blocks, a RocksDB LUN with 4096-byte blocks
# and two Ceph RBD LUNs (512- and 4096-byte blocks), the four passes at the same time (all but
# Sanitize.Reset, which runs on the file LUN only: see sanitize_reset_lun), the
# read-only and removable-medium tests on LUNs configured that way, and fails on any failed test
# or any skip not listed in expected_skips.txt.
# usage: run_suite.sh ATSARRAY_BINARY [TESTS] [CEPH_CONF_PATH_FILE]
#   TESTS: iscsi-test-cu -t patterns, comma separated; default (or ALL): every test.
#   CEPH_CONF_PATH_FILE: where the ctest fixture ceph_cluster wrote its ceph.conf path
#   (tests/ceph/CMakeLists.txt). The cluster is the environment's CEPH_CONF unless that file's
#   second line names it as not answering, else that file's first line, as for every rbd test
#   (tests/integration/ceph_cluster.hpp). No cluster, or one that does not answer: the run fails.
set -u
binary=${1:?usage: run_suite.sh ATSARRAY_BINARY [TESTS] [CEPH_CONF_PATH_FILE]}
tests=${2:-ALL}
path_file=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
conf=${CEPH_CONF:-}
if [ -n "$path_file" ] && [ -f "$path_file" ]; then
  if [ -z "$conf" ] || [ "$conf" = "$(sed -n 2p "$path_file")" ] || [ ! -f "$conf" ]; then
    conf=$(head -n 1 "$path_file")
  fi
fi
if [ -z "$conf" ] || [ ! -f "$conf" ]; then
  echo "no Ceph cluster for the rbd LUNs: set CEPH_CONF or run under ctest (fixture ceph_cluster)" >&2
  exit 1
fi
export CEPH_CONF=$conf
if ! timeout 30 rbd ls rbd >/dev/null; then
  echo "the Ceph cluster of CEPH_CONF=$CEPH_CONF does not answer (rbd ls rbd)" >&2
  exit 1
fi
# Fresh images per run, removed at the end: a cluster kept between runs holds no old LUN.
image=conformance-$(date +%s)-$$
work=$(mktemp -d)
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
port2=$(free_port)
while [ "$port2" = "$port" ]; do port2=$(free_port); done
target=iqn.2026-11.org.atsarray:conformance
# LUN 0: file, 512-byte blocks; LUN 1: RocksDB, 4096-byte blocks; LUN 4: rbd, 512-byte blocks;
# LUN 5: rbd, 4096-byte blocks (the whole suite on the four); LUN 2: read-only file (libiscsi's
# ReadOnly tests need one); LUN 3: removable memory LUN (its PreventAllow, StartStopUnit and
# NoMedia tests need RMB=1).
truncate -s 16M "$work/lun2.img"
cat >"$work/atsarray.toml" <<TOML
data_dir = "data"
[[portal]]
address = "127.0.0.1"
port = $port
[[portal]]
address = "127.0.0.1"
port = $port2
[[target_port_group]]
id = 1
name = "controller-a"
portals = ["127.0.0.1:$port"]
state = "active_optimized"
preferred = true
[[target_port_group]]
id = 2
name = "controller-b"
portals = ["127.0.0.1:$port2"]
state = "active_non_optimized"
[[target]]
name = "$target"
[[target.lun]]
id = 0
backend = "file"
path = "lun0.img"
size = "64MiB"
[[target.lun]]
id = 2
backend = "file"
path = "lun2.img"
size = "16MiB"
read_only = true
[[target.lun]]
id = 3
backend = "memory"
size = "16MiB"
removable = true
# A target of its own for each other whole-suite LUN, so that the whole-suite passes can run at
# the same time: the suite's target resets then stay within their own pass.
[[target]]
name = "$target-4k"
[[target.lun]]
id = 1
backend = "rocksdb"
size = "64MiB"
block_size = 4096
[[target]]
name = "$target-rbd"
[[target.lun]]
id = 4
backend = "rbd"
pool = "rbd"
image = "$image-512"
ceph_conf = "$CEPH_CONF"
create = true
size = "64MiB"
[[target]]
name = "$target-rbd-4k"
[[target.lun]]
id = 5
backend = "rbd"
pool = "rbd"
image = "$image-4k"
ceph_conf = "$CEPH_CONF"
create = true
size = "64MiB"
block_size = 4096
TOML
"$binary" --config "$work/atsarray.toml" >"$work/daemon.log" 2>&1 &
pid=$!
# remove_images: the run's rbd images (with their metadata) and the records objects beside them.
remove_images() {
  local i
  for i in "$image-512" "$image-4k"; do
    timeout 60 rbd rm --no-progress "rbd/$i" 2>/dev/null
    timeout 30 rados -p rbd rm "atsarray.$i" 2>/dev/null
  done
  return 0
}
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; remove_images
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
for _ in $(seq 300); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
  echo "the daemon did not start:"; tail -n 30 "$work/daemon.log"; exit 1
fi
status=0
# libiscsi's Sanitize.Reset runs in one whole-suite pass only, the file LUN's (the shortest pass):
# the test waits, whatever the store. After its resets and its reconnect it polls TEST UNIT READY
# until one answers GOOD, sleeping 60 s after each one that does not (test_sanitize_reset.c,
# libiscsi 1.19 and 1.20), and the first poll comes right after the check that the SANITIZE is
# still going, 4 s in: 65 s at the least (64 s measured on each store). Before Lun::execute
# reported a pending unit attention ahead of SANITIZE IN PROGRESS (SAM-5 §5.14), the new I_T
# nexus' POWER ON, RESET OR BUS DEVICE RESET escaped the reconnect's own TEST UNIT READYs and cost
# the poll another 60 s each: 125, 125, 125 and 184 s (file, RocksDB, rbd 512, rbd 4096). What
# the test checks, a SANITIZE that goes on through ABORT TASK, LUN reset, target resets and an
# I_T nexus loss, is the SCSI layer's (sanitize.cpp, lun.cpp), the same for every store; every
# other test runs on every pass.
sanitize_reset_lun=0
# run LUN LABEL PATTERNS: runs iscsi-test-cu for each pattern into cu-LUN.txt.
run() {
  local lun=$1 label=$2 patterns=$3
  local name=$target
  case $lun in
    1) name=$target-4k ;;
    4) name=$target-rbd ;;
    5) name=$target-rbd-4k ;;
  esac
  echo "== LUN $lun ($label): $patterns" >"$work/head-$lun.txt"
  : >"$work/cu-$lun.txt"
  local url="iscsi://127.0.0.1:$port/$name/$lun"
  local url2="iscsi://127.0.0.1:$port2/$name/$lun"
  IFS=, read -ra list <<<"$patterns"
  if [ "$patterns" = ALL ]; then
    # Every suite in its own process, and every SANITIZE test in its own: a SANITIZE test leaves
    # a background operation or a second session's teardown in flight on another connection,
    # which the next test of the same process would otherwise race into.
    mapfile -t list < <(iscsi-test-cu -l | awk -F. 'NF == 2 && $1 == "ALL" && $2 != "Sanitize"')
    mapfile -t -O "${#list[@]}" list < <(iscsi-test-cu -l |
      awk -F. -v reset="$([ "$lun" = "$sanitize_reset_lun" ] && echo 1 || echo 0)" \
        'NF == 3 && $1 == "ALL" && $2 == "Sanitize" && ($3 != "Reset" || reset)')
  fi
  local started
  for t in "${list[@]}"; do
    started=$(date +%s%N)
    timeout 900 iscsi-test-cu --dataloss --allow-sanitize -v -t "$t" "$url" "$url2" >>"$work/cu-$lun.txt" 2>&1
    echo "$(( ($(date +%s%N) - started) / 1000000 )) $t" >>"$work/times-$lun.txt"
  done
}
# slowest LUN: the pass's five slowest suites, in milliseconds (where a slow run spends its time).
slowest() {
  echo "slowest suites on LUN $1 (ms): $(sort -rn "$work/times-$1.txt" | head -n 5 | paste -sd, -)"
}
# classify LUN: prints the pass's verdicts; any failure or unlisted skip fails the run.
classify() {
  cat "$work/head-$1.txt"
  python3 "$here/classify.py" "$work/cu-$1.txt" "$here/expected_skips.txt" "$work/cu-$1.json" ||
    status=1
}
run 0 "file, 512-byte blocks" "$tests" &
pass0=$!
run 1 "rocksdb, 4096-byte blocks" "$tests" &
pass1=$!
run 4 "rbd, 512-byte blocks" "$tests" &
pass4=$!
run 5 "rbd, 4096-byte blocks" "$tests" &
pass5=$!
wait "$pass0" "$pass1" "$pass4" "$pass5"
for lun in 0 1 4 5; do
  classify $lun
  slowest $lun
done
if [ "$tests" = ALL ]; then
  run 2 "file, 512-byte blocks, read-only" "ALL.ReadOnly"
  classify 2
  run 3 "memory, 512-byte blocks, removable" "ALL.PreventAllow,ALL.StartStopUnit.Simple,ALL.NoMedia"
  classify 3
  # The suite's distinct tests, each counted as passed when it passed on a LUN made for it.
  python3 - "$work"/cu-0.json "$work"/cu-2.json "$work"/cu-3.json <<'PY'
import json, sys
merged = {}
for path in sys.argv[1:]:
    for name, verdict in json.load(open(path)).items():
        old = merged.get(name)
        if old == "fail" or verdict == "fail":
            merged[name] = "fail"
        elif old == "pass" or verdict == "pass":
            merged[name] = "pass"
        else:
            merged[name] = verdict
c = {v: sum(1 for r in merged.values() if r == v) for v in ("pass", "fail", "skip")}
print(f"distinct tests over LUNs 0, 2, 3: {c['pass']} passed, {c['fail']} failed, {c['skip']} skipped")
PY
fi
if ! kill -0 $pid 2>/dev/null; then
  echo "the daemon died during the suite:"; tail -n 50 "$work/daemon.log"; status=1
fi
[ $status = 0 ] || { echo "--- daemon log tail"; tail -n 30 "$work/daemon.log"; }
exit $status
