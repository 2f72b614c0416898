# shellcheck shell=bash
# Sourced by the bench/ scripts that start atsarray (and tgt) on loopback: building, writing a
# one-LUN config, starting the daemons, waiting for their ports, and stopping them (also on
# failure or Ctrl-C).
#
# The caller sets `root` (the source tree), `build_dir`, `bench_name` (for messages) and, before
# starting a daemon, `work` (a temporary folder, removed on exit; the daemons' logs go there),
# then `trap bench_cleanup EXIT` and `trap 'exit 130' INT TERM`.
# shellcheck disable=SC2154 # work and bench_name are the caller's

atsarray_pid=""    # the last atsarray started
atsarray_pids=()   # every atsarray started (run_vs_tgt.sh runs one per store)
tgtd_pid=""
tgt_control=""

bench_require_tgt() {
  for tool in tgtd tgtadm; do
    command -v "$tool" >/dev/null || {
      echo "$bench_name: $tool missing (apt-get install -y tgt)" >&2
      exit 2
    }
  done
}

# Configures build_dir if needed and builds the ninja targets given, unless NO_BUILD=1.
bench_build() {  # ninja targets...
  [ "${NO_BUILD:-0}" != 1 ] || return 0
  [ -f "$build_dir/build.ninja" ] ||
    cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$build_dir" -j "${JOBS:-$(nproc)}" "$@"
}

# An atsarray config on stdout: one portal on 127.0.0.1, one target, LUN 0 a file LUN of 512-byte
# blocks (created sparse if missing), otherwise the shipped defaults; more LUN keys may follow.
bench_atsarray_file_config() {  # port iqn image_path size [extra "key = value" lines...]
  cat <<EOF
log_level = "warn"

[[portal]]
address = "127.0.0.1"
port = $1

[[target]]
name = "$2"

[[target.lun]]
id = 0
backend = "file"
path = "$3"
size = "$4"
block_size = 512
EOF
  shift 4
  [ "$#" -eq 0 ] || printf '%s\n' "$@"
}

bench_stop_pid() {  # pid: give it 10 s to exit (RocksDB closes), then SIGKILL
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# shellcheck disable=SC2317 # run by the EXIT trap
bench_cleanup() {
  [ -n "${work:-}" ] || return 0
  local pid
  # All at once, then wait for each: RocksDB daemons close in parallel.
  for pid in "${atsarray_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${atsarray_pids[@]}"; do
    bench_stop_pid "$pid"
  done
  # tgtd ignores SIGTERM while targets exist; it stops on tgtadm's "delete system".
  if [ -n "$tgtd_pid" ]; then
    tgtadm -C "$tgt_control" --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
    tgtadm -C "$tgt_control" --op delete --mode system >/dev/null 2>&1 || true
    bench_stop_pid "$tgtd_pid"
  fi
  rm -rf "$work"
}

bench_wait_for_port() {  # port pid name [tries of 0.1 s, default 100]: $work/name.log is its log
  for _ in $(seq "${4:-100}"); do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "$bench_name: $3 exited at start; its log:" >&2
      cat "$work/$3.log" >&2
      exit 2
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$bench_name: $3 does not listen on 127.0.0.1:$1" >&2
  exit 2
}

# name (default atsarray) names its log, $work/name.log, in messages.
bench_start_atsarray() {  # binary config port [name]: sets atsarray_pid, adds to atsarray_pids
  local name=${4:-atsarray}
  "$1" --config "$2" >"$work/$name.log" 2>&1 &
  atsarray_pid=$!
  atsarray_pids+=("$atsarray_pid")
  bench_wait_for_port "$3" "$atsarray_pid" "$name"
}

# utime + stime of the processes given, in clock ticks (proc(5): fields 14 and 15, counted after
# the parenthesised command name, which may hold spaces).
bench_cpu_ticks() {  # pids...
  local pid stat total=0
  local -a fields
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    read -r -a fields <<<"${stat##*) }"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# Waits until the processes given use together less than about 5 % of one core over half a
# second (e.g. RocksDB's flushes and compactions after a write workload are done), at most
# max_seconds. Prints the seconds waited, with "+" if it gave up.
bench_wait_quiet() {  # max_seconds pids...
  local max=$1 hz before after start now
  shift
  hz=$(getconf CLK_TCK)
  start=$(date +%s%N)
  while true; do
    before=$(bench_cpu_ticks "$@")
    sleep 0.5
    after=$(bench_cpu_ticks "$@")
    now=$(date +%s%N)
    # 5 % of a core over 0.5 s: ticks <= hz / 40.
    if [ $(((after - before) * 40)) -le "$hz" ]; then
      awk -v ns=$((now - start)) 'BEGIN { printf "%.1f\n", ns / 1e9 }'
      return 0
    fi
    if [ $(((now - start) / 1000000000)) -ge "$max" ]; then
      awk -v ns=$((now - start)) 'BEGIN { printf "%.1f+\n", ns / 1e9 }'
      return 0
    fi
  done
}

# tgtd in the foreground on 127.0.0.1:port with its own control port, one target (tid 1) bound to
# every initiator, the backing file as LUN 1 (tgt's LUN 0 is its controller) through the rdwr
# backing store (pread/pwrite on the page cache). Sets tgtd_pid and tgt_control.
bench_start_tgt() {  # port control_port iqn backing_file block_size
  tgt_control=$2
  tgtd -f -C "$tgt_control" --iscsi "portal=127.0.0.1:$1" >"$work/tgtd.log" 2>&1 &
  tgtd_pid=$!
  bench_wait_for_port "$1" "$tgtd_pid" tgtd
  tgtadm -C "$tgt_control" --lld iscsi --mode target --op new --tid 1 --targetname "$3"
  tgtadm -C "$tgt_control" --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 \
    --bstype rdwr --backing-store "$4" --blocksize "$5"
  tgtadm -C "$tgt_control" --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL
}
