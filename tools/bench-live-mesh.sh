#!/usr/bin/env bash
# Live mesh latency: runs the default mesh (deploy/mesh.yaml) for N seconds and
# reports the VPIN engine's feed latency, marketdata publish (Trade.recv_ts_ns,
# stamped just before engine_publish) to the VPIN handler (wall clock), p50/p99,
# plus per-engine handler latency from meshctl. Usage:
#   tools/bench-live-mesh.sh [SECONDS (30)] [WAIT (adaptive|spin)]
# WAIT=spin makes the vpin engine busy-poll its ring instead of sleeping.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
wait_kind=${2:-adaptive}
build=${BUILD:-build}
[ -x "$build/supervisor/meshd" ] || { echo "build first: tools/dev.sh build" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed -e "s/^  name: default$/  name: bench$$/" \
    -e "s|^  metrics_listen: .*|  control_socket: $dir/ctl.sock|" deploy/mesh.yaml > "$dir/mesh.yaml"
if [ "$wait_kind" != adaptive ]; then
  # Add `wait: <kind>` to the vpin engine's entry.
  sed -i "/^  - name: vpin$/a\\    wait: $wait_kind" "$dir/mesh.yaml"
fi
bin_path=$(find "$PWD/$build/engines" -mindepth 1 -maxdepth 1 -type d ! -name '*.p' | paste -sd: -)
"$build/supervisor/meshd" --config "$dir/mesh.yaml" --foreground --bin-path "$bin_path" \
  > "$dir/meshd.log" 2>&1 &
meshd=$!
sleep "$secs"
"$build/tools/meshctl/meshctl" --socket "$dir/ctl.sock" status
kill -TERM "$meshd"
wait "$meshd" || true
echo "vpin wait strategy: $wait_kind, ${secs}s; feed latency = marketdata publish -> vpin handler:"
grep "feed latency" "$dir/meshd.log" | tail -1
