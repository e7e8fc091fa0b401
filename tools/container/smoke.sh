#!/usr/bin/env bash
# Smoke test of the container stack (deploy/compose.yaml) with podman + podman-compose:
# builds the base and mesh images, brings the stack up, waits (bounded) until meshd
# reports every engine ready, shows a few live VPIN messages, stops the stack and checks
# that nothing is left. Exit status 0 only if every step worked. Not part of the CI tests
# (minutes, root, network to the Debian mirror); see docs/CONTAINERS.md.
#
# usage: tools/container/smoke.sh [--no-cache] [--keep-going]
#   --no-cache    rebuild the mesh image from scratch (to time a full build)
# environment: MESH_SMOKE_READY_S (default 120), MESH_SMOKE_TAIL_S (default 90),
#              MESH_SMOKE_JOBS (ninja jobs in the image build, default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."

COMPOSE_FILE=deploy/compose.yaml
SERVICE=mesh
CONTAINER=mesh
IMAGE=localhost/mesh:latest
BASE=localhost/mesh-base:bookworm
READY_S=${MESH_SMOKE_READY_S:-120}
TAIL_S=${MESH_SMOKE_TAIL_S:-90}
JOBS=${MESH_SMOKE_JOBS:-2}
NO_CACHE=()
for arg in "$@"; do
    case "$arg" in
    --no-cache) NO_CACHE=(--no-cache) ;;
    -h | --help)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "smoke: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

step() { echo "== smoke: $*"; }
fail() {
    echo "smoke: FAILED: $*" >&2
    exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
compose() { podman-compose -f "$COMPOSE_FILE" "$@"; }
image_mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

# Whatever happens after the stack is up, it is taken down again (and the logs shown if a
# step failed), so a failed run leaves nothing behind either.
up=0
cid=""
cleanup() {
    local rc=$?
    if [ "$up" -eq 1 ]; then
        if [ "$rc" -ne 0 ]; then
            echo "---- last container output ----"
            podman logs --tail 40 "$CONTAINER" 2>&1 || true
        fi
        compose down >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || fail "must run as root (podman storage, debootstrap)"
command -v python3 >/dev/null || fail "python3 is needed to read meshctl's JSON"

# The Containerfile copies the folders the root meson.build descends into, one by one.
while read -r d; do
    grep -q "^COPY $d $d\$" deploy/container/Containerfile ||
        fail "meson.build has subdir('$d') but deploy/container/Containerfile does not 'COPY $d $d'"
done < <(sed -n "s/^subdir('\\([^']*\\)').*/\\1/p" meson.build)

# ---- 1. images -----------------------------------------------------------------------
step "base image (tools/container/build-base.sh)"
t=$(now)
tools/container/build-base.sh || fail "base image"
t_base=$(elapsed "$t")

step "mesh image: podman build -f deploy/container/Containerfile -t $IMAGE ."
t=$(now)
podman build "${NO_CACHE[@]}" --build-arg JOBS="$JOBS" --build-arg BASE="$BASE" \
    -f deploy/container/Containerfile -t "$IMAGE" . >/tmp/mesh-smoke-build.log 2>&1 || {
    tail -40 /tmp/mesh-smoke-build.log
    fail "image build (full log: /tmp/mesh-smoke-build.log)"
}
t_build=$(elapsed "$t")
grep -E '^runtime packages:|^building:' /tmp/mesh-smoke-build.log || true
podman run --rm --entrypoint ls "$IMAGE" /usr/local/bin | tr '\n' ' ' | sed 's/^/binaries: /;s/$/\n/'

# ---- 2. up ---------------------------------------------------------------------------
if podman container exists "$CONTAINER"; then
    fail "a container named '$CONTAINER' exists already (a stack is up?):" \
        "podman-compose -f $COMPOSE_FILE down"
fi
step "podman-compose -f $COMPOSE_FILE up -d"
t_up=$(now)
up=1
compose up -d --no-build >/tmp/mesh-smoke-up.log 2>&1 || true # podman-compose: exit code unreliable
t_upcmd=$(elapsed "$t_up") # includes podman-compose's own 1 s sleep after each podman command
[ "$(podman inspect --format '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" = true ] || {
    cat /tmp/mesh-smoke-up.log
    fail "container $CONTAINER is not running after up"
}
cid=$(podman inspect --format '{{.Id}}' "$CONTAINER")
[ "$(podman top "$CONTAINER" pid comm | awk '$1 == 1 { print $2 }')" = meshd ] ||
    fail "meshd is not PID 1 in the container"

# ---- 3. every engine ready ------------------------------------------------------------
# meshd --check prints the engines it will start ("start order: a b c").
expected=$(podman exec "$CONTAINER" meshd --config /etc/mesh/mesh.yaml --check |
    sed -n 's/.*start order: //p')
[ -n "$expected" ] || fail "meshd --check in the container listed no engines"
step "waiting up to ${READY_S}s for every engine ready: $expected"
all_ready() { # prints a one-line summary; status 0 when meshd and every expected engine are ready
    podman exec "$CONTAINER" meshctl status --json 2>/dev/null | EXPECTED="$expected" python3 -c '
import json, os, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    print("no status yet"); sys.exit(1)
states = {e["name"]: e["state"] for e in s.get("engines", [])}
want = os.environ["EXPECTED"].split()
print(" ".join("%s=%s" % (n, states.get(n, "missing")) for n in want),
      "mesh ready_ms=%s" % s.get("ready_ms", "-"))
sys.exit(0 if s.get("ready") and all(states.get(n) == "ready" for n in want) else 1)'
}
deadline=$(($(date +%s) + READY_S))
until summary=$(all_ready); do
    [ "$(date +%s)" -lt "$deadline" ] || fail "not all ready after ${READY_S}s: $summary"
    [ "$(podman inspect --format '{{.State.Running}}' "$CONTAINER")" = true ] ||
        fail "the container stopped while starting: $summary"
    sleep 0.5
done
t_ready=$(elapsed "$t_up")
echo "all ready ${t_ready}s after 'up': $summary"

step "podman-compose exec -T $SERVICE meshctl status"
compose exec -T "$SERVICE" meshctl status 2>&1 |
    grep -vE "^(\\['podman'|using podman version|podman exec|exit code:)"

# ---- 4. live VPIN messages ------------------------------------------------------------
step "meshctl tail vpin --count 3 (up to ${TAIL_S}s: VPIN needs a full bucket window)"
podman exec "$CONTAINER" meshctl tail vpin --count 3 --timeout $((TAIL_S * 1000)) \
    >/tmp/mesh-smoke-tail.log 2>&1 || {
    cat /tmp/mesh-smoke-tail.log
    fail "no 3 vpin messages within ${TAIL_S}s"
}
cut -c1-200 /tmp/mesh-smoke-tail.log
n=$(grep -c '^{' /tmp/mesh-smoke-tail.log || true)
[ "$n" -ge 3 ] || fail "meshctl tail vpin printed $n JSON lines, expected 3"

# ---- 5. stop --------------------------------------------------------------------------
step "podman-compose stop (SIGTERM to meshd, PID 1)"
t=$(now)
compose stop >/dev/null 2>&1 || true
t_stop=$(elapsed "$t")
state=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$CONTAINER")
podman logs --tail 8 "$CONTAINER" 2>&1 | sed 's/^/  | /'
[ "$state" = "exited 0" ] ||
    fail "after SIGTERM the container is '$state' (expected 'exited 0': meshd's clean stop)"
echo "meshd stopped the mesh cleanly in ${t_stop}s (container exit status 0)"

step "podman-compose down"
compose down >/dev/null 2>&1 || true
up=0
! podman container exists "$CONTAINER" || fail "container $CONTAINER still exists after down"
# No process of any kind may remain in the container's cgroup (engines, meshctl, conmon).
stray=$(grep -l "$cid" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | tr '\n' ' ' || true)
[ -z "$stray" ] || fail "processes still in the container's cgroup: $stray"
echo "nothing left: no container, no process of $CONTAINER (${cid:0:12})"

echo
echo "smoke: PASSED"
printf '  base image   %-10s %8ss (build-base.sh)\n' "$(image_mb "$BASE")" "$t_base"
printf '  mesh image   %-10s %8ss (podman build%s)\n' "$(image_mb "$IMAGE")" "$t_build" \
    "${NO_CACHE:+ --no-cache}"
printf '  all ready    %8ss after up was typed (the up command took %ss; meshd: %s)\n' \
    "$t_ready" "$t_upcmd" "${summary##*mesh }"
printf '  clean stop   %8ss\n' "$t_stop"
