# Shared by scripts/run and scripts/test: install what is missing (Debian packages), build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Every build and test dependency, from Debian's packages. Boost 1.81 is the newest Debian
# bookworm boost that includes Beast.
packages=(
  build-essential cmake ninja-build pkg-config python3 clang libclang-rt-14-dev
  libboost1.81-dev libspdlog-dev libisal-dev libtomlplusplus-dev libcli11-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libiscsi-dev libiscsi-bin librocksdb-dev
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

# build DIR [cmake options...]: configure once, then build incrementally.
build() {
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir" -j "$(nproc)"
}
