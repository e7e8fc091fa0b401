#!/usr/bin/env bash
# Smoke test of the container stacks with podman + podman-compose: builds the base and
# mesh images; for each stack brings it up, waits (bounded) until meshd reports every
# engine ready, shows a few live VPIN messages, stops it (SIGTERM: meshd must exit 0),
# takes it down and checks that nothing is left. Exit status 0 only if every step worked.
# Not part of the CI tests (minutes, root, the Debian mirror); see docs/CONTAINERS.md.
#
# usage: tools/container/smoke.sh [--no-cache] [--stacks LIST]
#   --no-cache      rebuild the mesh image from scratch (to time a full build)
#   --stacks LIST   comma-separated: simple (deploy/compose.yaml), multihost
#                   (deploy/compose.multihost.yaml); default simple
# environment: MESH_SMOKE_READY_S (default 120), MESH_SMOKE_TAIL_S (default 90),
#              MESH_SMOKE_JOBS (ninja jobs in the image build, default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=localhost/mesh:latest
BASE=localhost/mesh-base:bookworm
READY_S=${MESH_SMOKE_READY_S:-120}
TAIL_S=${MESH_SMOKE_TAIL_S:-90}
JOBS=${MESH_SMOKE_JOBS:-2}
STACKS=simple
NO_CACHE=()
while [ $# -gt 0 ]; do
    case "$1" in
    --no-cache) NO_CACHE=(--no-cache) ;;
    --stacks)
        [ $# -ge 2 ] || { echo "smoke: --stacks needs a list (try --help)" >&2; exit 2; }
        STACKS=$2
        shift
        ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "smoke: unknown argument '$1' (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done
for s in ${STACKS//,/ }; do
    case "$s" in
    simple | multihost) ;;
    *)
        echo "smoke: unknown stack '$s' in --stacks (simple, multihost)" >&2
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
image_mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

# Whatever happens after a stack is up, it is taken down again (and the logs shown if a
# step failed), so a failed run leaves nothing behind either.
active_file=""
active_containers=()
cleanup() {
    local rc=$? c
    if [ -n "$active_file" ]; then
        if [ "$rc" -ne 0 ]; then
            for c in "${active_containers[@]}"; do
                echo "---- last output of $c ----"
                podman logs --tail 40 "$c" 2>&1 || true
            done
        fi
        podman-compose -f "$active_file" down >/dev/null 2>&1 || true
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

# ---- 2. a stack: up, ready, VPIN, stop, nothing left -----------------------------------
# stack_up FILE CONTAINER...: refuses to touch containers that exist already.
stack_up() {
    local file=$1 c
    shift
    for c in "$@"; do
        podman container exists "$c" &&
            fail "a container named '$c' exists already (a stack is up?): podman-compose -f $file down"
    done
    step "podman-compose -f $file up -d"
    t_up=$(now)
    active_file=$file
    active_containers=("$@")
    podman-compose -f "$file" up -d --no-build >/tmp/mesh-smoke-up.log 2>&1 || true # exit code unreliable
    t_upcmd=$(elapsed "$t_up") # includes podman-compose's own 1 s sleep after each podman command
    for c in "$@"; do
        [ "$(podman inspect --format '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || {
            cat /tmp/mesh-smoke-up.log
            fail "container $c is not running after up"
        }
        [ "$(podman top "$c" pid comm | awk '$1 == 1 { print $2 }')" = meshd ] ||
            fail "$c: meshd is not PID 1 in the container"
        cids[$c]=$(podman inspect --format '{{.Id}}' "$c")
    done
}

# all_ready CONTAINER EXPECTED: one-line summary; status 0 when meshd reports the mesh ready
# and every engine named in EXPECTED is in state ready, 2 when an engine has failed (meshd
# gave up restarting it), 1 otherwise.
all_ready() {
    podman exec "$1" meshctl status --json 2>/dev/null | EXPECTED="$2" python3 -c '
import json, os, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    print("no status yet"); sys.exit(1)
states = {e["name"]: e["state"] for e in s.get("engines", [])}
want = os.environ["EXPECTED"].split() + [n for n in states if n not in os.environ["EXPECTED"].split()]
print(" ".join("%s=%s" % (n, states.get(n, "missing")) for n in want),
      "mesh ready_ms=%s" % s.get("ready_ms", "-"))
if "failed" in states.values():
    sys.exit(2)
sys.exit(0 if s.get("ready") and all(states.get(n) == "ready" for n in want) else 1)'
}

# wait_ready CONTAINER: bounded wait until every engine of its config is ready.
wait_ready() {
    local c=$1 expected deadline st
    # meshd --check prints the engines it will start ("start order: a b c").
    expected=$(podman exec "$c" meshd --config /etc/mesh/mesh.yaml --check | sed -n 's/.*start order: //p')
    [ -n "$expected" ] || fail "$c: meshd --check in the container listed no engines"
    step "$c: waiting up to ${READY_S}s for every engine ready: $expected"
    deadline=$(($(date +%s) + READY_S))
    while :; do
        st=0
        summary=$(all_ready "$c" "$expected") || st=$?
        [ "$st" -ne 0 ] || break
        [ "$st" -ne 2 ] || fail "$c: an engine failed: $summary"
        [ "$(date +%s)" -lt "$deadline" ] || fail "$c: not all ready after ${READY_S}s: $summary"
        [ "$(podman inspect --format '{{.State.Running}}' "$c")" = true ] ||
            fail "$c: the container stopped while starting: $summary"
        sleep 0.5
    done
    t_ready=$(elapsed "$t_up")
    echo "$c: all ready ${t_ready}s after 'up': $summary"
}

# tail_vpin CONTAINER: three live VPIN updates as JSON.
tail_vpin() {
    local c=$1 n
    step "$c: meshctl tail vpin --count 3 (up to ${TAIL_S}s: VPIN needs a full bucket window)"
    podman exec "$c" meshctl tail vpin --count 3 --timeout $((TAIL_S * 1000)) \
        >/tmp/mesh-smoke-tail.log 2>&1 || {
        cat /tmp/mesh-smoke-tail.log
        fail "$c: no 3 vpin messages within ${TAIL_S}s"
    }
    cut -c1-160 /tmp/mesh-smoke-tail.log
    n=$(grep -c '^{' /tmp/mesh-smoke-tail.log || true)
    [ "$n" -ge 3 ] || fail "$c: meshctl tail vpin printed $n JSON lines, expected 3"
}

# stack_down: SIGTERM (podman-compose stop) must end every meshd with status 0, then
# down must leave no container and no process in the containers' cgroups.
stack_down() {
    local c state stray t
    step "podman-compose -f $active_file stop (SIGTERM to meshd, PID 1)"
    t=$(now)
    podman-compose -f "$active_file" stop >/dev/null 2>&1 || true
    t_stop=$(elapsed "$t")
    for c in "${active_containers[@]}"; do
        state=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$c")
        podman logs --tail 4 "$c" 2>&1 | sed "s/^/  $c | /"
        [ "$state" = "exited 0" ] ||
            fail "$c: after SIGTERM the container is '$state' (expected 'exited 0': meshd's clean stop)"
    done
    echo "meshd stopped cleanly in every container (exit status 0), ${t_stop}s"
    step "podman-compose -f $active_file down"
    podman-compose -f "$active_file" down >/dev/null 2>&1 || true
    for c in "${active_containers[@]}"; do
        ! podman container exists "$c" || fail "container $c still exists after down"
        # No process may remain in the container's cgroup (engines, meshctl, conmon).
        stray=$(grep -l "${cids[$c]}" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | tr '\n' ' ' || true)
        [ -z "$stray" ] || fail "$c: processes still in the container's cgroup: $stray"
        echo "nothing left of $c (${cids[$c]:0:12}): no container, no process"
    done
    active_file=""
    active_containers=()
}

declare -A cids
results=()
if [[ ",$STACKS," == *,simple,* ]]; then
    stack_up deploy/compose.yaml mesh
    wait_ready mesh
    step "podman-compose -f deploy/compose.yaml exec -T mesh meshctl status"
    podman-compose -f deploy/compose.yaml exec -T mesh meshctl status 2>&1 |
        grep -vE "^(\\['podman'|using podman version|podman exec|exit code:)"
    tail_vpin mesh
    stack_down
    results+=("$(printf '  simple stack: all ready %ss after up was typed (up itself %ss; meshd %s), clean stop %ss' \
        "$t_ready" "$t_upcmd" "${summary##*mesh }" "$t_stop")")
fi
if [[ ",$STACKS," == *,multihost,* ]]; then
    stack_up deploy/compose.multihost.yaml mesh-b mesh-a
    wait_ready mesh-b
    wait_ready mesh-a
    t_ready_mh=$t_ready
    # VPIN on b is computed from trades that a's market sent over the nng route.
    tail_vpin mesh-b
    for c in mesh-a mesh-b; do
        step "$c: meshctl status; meshctl rings"
        podman exec "$c" meshctl status
        podman exec "$c" meshctl rings --interval 500
    done
    stack_down
    results+=("$(printf '  multihost stack: both meshes ready %ss after up was typed (up itself %ss), clean stop %ss' \
        "$t_ready_mh" "$t_upcmd" "$t_stop")")
fi

echo
echo "smoke: PASSED ($STACKS)"
printf '  base image   %-10s %8ss (build-base.sh)\n' "$(image_mb "$BASE")" "$t_base"
printf '  mesh image   %-10s %8ss (podman build%s)\n' "$(image_mb "$IMAGE")" "$t_build" \
    "${NO_CACHE:+ --no-cache}"
printf '%s\n' "${results[@]}"
