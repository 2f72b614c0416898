# Shared by scripts/run and scripts/test: install what is missing (Debian packages), build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Every build and test dependency, from Debian's packages. Boost 1.81 is the newest Debian
# bookworm boost that includes Beast.
packages=(
  build-essential cmake ninja-build pkg-config python3 clang libclang-rt-14-dev
  clang-format-14 clang-tidy-14
  libboost1.81-dev libspdlog-dev libisal-dev libtomlplusplus-dev libcli11-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libiscsi-dev libiscsi-bin librocksdb-dev
  nlohmann-json3-dev python3-prometheus-client python3-jsonschema python3-websocket
  chromium
  # atsarrayctl top is checked in a tmux pane (integration_ctl).
  tmux
  # Wireshark's iSCSI dissector reads the trace's pcapng export back (unit_formats).
  tshark
  # Ceph 16.2 for the rbd store (librbd, librados) and the loopback test cluster that
  # scripts/ceph-cluster starts for the tests and scripts/ceph-lab (monitor, OSD, the ceph and
  # rbd commands); no manager, no systemd units are used.
  ceph-mon ceph-osd ceph-common librbd-dev librados-dev
)

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# The files the bundle step (webui/scripts/bundle.mjs) copies into webui/static/vendor/: the
# console's uPlot, which the daemon serves and docker/Dockerfile copies from the build context.
web_bundle_files=(uPlot.iife.min.js uPlot.min.css uPlot.LICENSE)

# web_bundle_ready: every file of the bundle is in webui/static/vendor/.
web_bundle_ready() {
  local f
  for f in "${web_bundle_files[@]}"; do
    [ -s "$root/webui/static/vendor/$f" ] || return 1
  done
}

# The web console's npm packages (webui/package.json: uPlot, and playwright-core for the e2e
# tests, which drives Debian's chromium and never downloads a browser) and the bundle step that
# copies uPlot into webui/static/vendor/, which the daemon serves. Node.js and npm come from
# Debian when the machine has none. Run on the host by scripts/run, scripts/test and
# scripts/lab-test (the lab's image gets the bundle from the build context and no Node.js).
install_web() {
  if ! command -v npm >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends nodejs npm
  fi
  if [ ! -d "$root/webui/node_modules/uplot" ] || [ ! -d "$root/webui/node_modules/playwright-core" ]; then
    npm ci --prefix "$root/webui" --no-audit --no-fund
  fi
  if ! web_bundle_ready; then
    npm run --prefix "$root/webui" bundle
  fi
}

# build DIR [cmake options...] [-- targets...]: configure once, then build incrementally: every
# target, or only the ones named after --.
build() {
  local dir=$1 options=() targets=()
  shift
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
      shift
      targets=("$@")
      break
    fi
    options+=("$1")
    shift
  done
  cmake -S "$root" -B "$dir" -G Ninja "${options[@]}" >/dev/null &&
    ninja -C "$dir" -j "$(nproc)" "${targets[@]}"
}
