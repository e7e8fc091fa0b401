#!/usr/bin/env bash
# One entry point for a fresh machine: install, build, then run the mesh or the tests.
#   tools/dev.sh run   [meshd args...]  install, build, start the default mesh
#   tools/dev.sh test                    install, build, run the suite (plain, ASan+UBSan, TSan)
#   tools/dev.sh build                   install and build only
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
werror=false
[ "${CI:-}" = "true" ] && werror=true

configure() { # dir, extra meson args...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=$werror "$@" >/dev/null
  else
    meson configure "$dir" -Dwerror=$werror "$@" >/dev/null
  fi
  ninja -C "$dir" -j "$jobs" >/dev/null || ninja -C "$dir" -j 1
}

cmd=${1:-}
shift || true
case "$cmd" in
  build)
    tools/setup.sh
    configure build
    ;;
  run)
    tools/setup.sh
    configure build
    # Engine binaries live in per-folder build directories; meshd searches them first.
    bin_path=$(find "$PWD/build/engines" "$PWD/build/bridge" -mindepth 1 -maxdepth 1 -type d \
      ! -name '*.p' 2>/dev/null | paste -sd: -)
    cat <<EOF
Starting the default mesh (deploy/mesh.yaml). In another terminal:
  build/tools/meshctl/meshctl status       engines, restarts, latency
  build/tools/meshctl/meshctl rings        per-route depth, rate, waits, drops
  build/tools/meshctl/meshctl tail vpin    live VPIN updates as JSON
Ctrl-C stops the mesh (engines in reverse order, shared memory removed).
EOF
    exec build/supervisor/meshd --config deploy/mesh.yaml --foreground --bin-path "$bin_path" "$@"
    ;;
  test)
    tools/setup.sh
    exec tools/run-tests.sh
    ;;
  *)
    echo "usage: tools/dev.sh run|test|build" >&2
    exit 2
    ;;
esac
