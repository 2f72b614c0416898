#!/usr/bin/env bash
# The ctest fixture `ceph_cluster` (tests/ceph/CMakeLists.txt) and its smoke test.
#
#   ceph_fixture.sh setup CEPH_CLUSTER CLUSTER_DIR PATH_FILE
#   ceph_fixture.sh cleanup CEPH_CLUSTER CLUSTER_DIR PATH_FILE
#   ceph_fixture.sh smoke PATH_FILE
#
# setup: when $CEPH_CONF names a cluster that answers (scripts/test starts one per run and
# exports it), that one is used; else CEPH_CLUSTER (scripts/ceph-cluster) starts one in
# CLUSTER_DIR (in the build folder). Either way the ceph.conf path is written to PATH_FILE's first
# line, where tests find it (tests/integration/ceph_cluster.hpp); its second line is the
# CEPH_CONF that did not answer, if any: a test whose environment still names that one uses the
# first line instead.
# A cluster that cannot start fails the setup, and with it every test that requires the fixture:
# they fail, never skip.
# cleanup: stops the cluster of CLUSTER_DIR if setup started it, removes PATH_FILE.
# smoke: `rbd ls` and an image created, written, removed on the fixture's cluster.
set -euo pipefail

# answers CONF: the cluster of CONF serves the pool rbd (bounded: a cluster that is down would
# keep a client waiting for minutes; one whose monitor address refuses connections is
# known down at once).
answers() {
  [ -f "$1" ] || return 1
  local mon
  mon=$(sed -n 's/^[[:space:]]*mon[ _]host[[:space:]]*=.*[^0-9.]\([0-9.]\{7,15\}:[0-9]\{1,5\}\).*/\1/p' "$1" |
    head -n 1)
  if [ -n "$mon" ]; then
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}"' _ "$mon" 2>/dev/null || return 1
  fi
  CEPH_CONF=$1 timeout 15 rbd ls rbd >/dev/null 2>&1
}

case ${1:-} in
  setup)
    ceph_cluster=$2 cluster_dir=$3 path_file=$4
    rm -f "$path_file" "$cluster_dir.started"
    dead=""
    if [ -n "${CEPH_CONF:-}" ] && answers "$CEPH_CONF"; then
      echo "using the cluster of CEPH_CONF=$CEPH_CONF"
      conf=$CEPH_CONF
    else
      if [ -n "${CEPH_CONF:-}" ]; then
        echo "CEPH_CONF=$CEPH_CONF does not answer: starting a cluster"
        dead=$CEPH_CONF
      fi
      out=$("$ceph_cluster" start "$cluster_dir")
      touch "$cluster_dir.started"
      conf=${out#CEPH_CONF=}
      echo "started a cluster: CEPH_CONF=$conf"
    fi
    printf '%s\n%s\n' "$conf" "$dead" >"$path_file"
    ;;
  cleanup)
    ceph_cluster=$2 cluster_dir=$3 path_file=$4
    rm -f "$path_file"
    if [ -f "$cluster_dir.started" ]; then
      "$ceph_cluster" stop "$cluster_dir"
      rm -f "$cluster_dir.started"
    fi
    ;;
  smoke)
    path_file=$2
    # As tests/integration/ceph_cluster.hpp does: CEPH_CONF unless the setup found it dead.
    conf=${CEPH_CONF:-}
    if [ -z "$conf" ] || [ "$conf" = "$(sed -n 2p "$path_file")" ]; then
      conf=$(head -n 1 "$path_file")
    fi
    export CEPH_CONF=$conf
    image=smoke-$$
    timeout 30 rbd ls rbd
    timeout 30 rbd create --size 16M "rbd/$image"
    timeout 60 rbd bench --io-type write --io-size 64K --io-total 4M "rbd/$image" | tail -n 1
    timeout 30 rbd info "rbd/$image" | grep -q "size 16 MiB"
    timeout 30 rbd rm --no-progress "rbd/$image"
    echo "ceph_cluster_smoke: $CEPH_CONF answers"
    ;;
  *)
    echo "usage: $0 setup|cleanup CEPH_CLUSTER CLUSTER_DIR PATH_FILE | smoke PATH_FILE" >&2
    exit 2
    ;;
esac
