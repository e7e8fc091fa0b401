#!/usr/bin/env bash
# Builds the local base image mesh-base:bookworm (no image registry is reachable here):
# configures podman, debootstraps a minimal Debian bookworm rootfs (cached) and imports it.
#
# usage: tools/container/build-base.sh [--rebuild] [--refresh] [--help]
#   --rebuild   import the image again even if it exists (reuses the cached rootfs)
#   --refresh   debootstrap the rootfs again even if the cache is complete (implies --rebuild)
# environment:
#   MESH_BASE_IMAGE     image name (default mesh-base:bookworm)
#   MESH_ROOTFS_CACHE   cache directory for the rootfs (default /var/cache/mesh)
#   MESH_DEBIAN_MIRROR  Debian mirror URL (default: the one apt uses on this host)
# Idempotent: a second run changes nothing and says what it reused.
set -euo pipefail

IMAGE=${MESH_BASE_IMAGE:-mesh-base:bookworm}
CACHE=${MESH_ROOTFS_CACHE:-/var/cache/mesh}
SUITE=bookworm
ROOTFS=$CACHE/rootfs-$SUITE
CONF=/etc/containers/containers.conf
PACKAGES=(podman runc podman-compose debootstrap fuse-overlayfs slirp4netns
    containernetworking-plugins golang-github-containernetworking-plugin-dnsname iptables)

log() { echo "build-base: $*"; }
die() {
    echo "build-base: error: $*" >&2
    exit 1
}

rebuild=0
refresh=0
for arg in "$@"; do
    case "$arg" in
    --rebuild) rebuild=1 ;;
    --refresh) refresh=1 rebuild=1 ;;
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root (podman storage, debootstrap)"

# --- 1. packages ----------------------------------------------------------------------
install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "packages: podman, runc, podman-compose, debootstrap already installed"
        return
    fi
    log "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed (is the Debian mirror reachable?)"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
}

# --- 2. containers.conf ---------------------------------------------------------------
# conf_get SECTION KEY: prints the line setting KEY inside [SECTION], if any.
conf_get() {
    [ -f "$CONF" ] || return 0
    awk -v s="[$1]" -v k="$2" '
        { t = $0; gsub(/^[ \t]+|[ \t]+$/, "", t) }
        t ~ /^\[/ { ins = (t == s); next }
        ins && t ~ ("^" k "[ \t]*=") { print t; exit }' "$CONF"
}

# conf_ensure SECTION KEY LINE: adds LINE under [SECTION] unless KEY is already set there.
conf_ensure() {
    local section=$1 key=$2 line=$3 cur tmp
    cur=$(conf_get "$section" "$key")
    if [ -n "$cur" ]; then
        if [ "${cur// /}" = "${line// /}" ]; then
            log "containers.conf: [$section] already has '$cur'"
        else
            log "containers.conf: warning: [$section] has '$cur', not '$line' (left as is:" \
                "the administrator's choice)"
        fi
        return
    fi
    if [ ! -f "$CONF" ]; then
        printf '# podman settings for the engine mesh (tools/container/build-base.sh)\n' >"$CONF"
    elif [ ! -f "$CONF.mesh-orig" ]; then
        cp -p "$CONF" "$CONF.mesh-orig" # the administrator's file, before our first change
    fi
    tmp=$(mktemp "$CONF.XXXXXX")
    if grep -qE "^[[:space:]]*\\[$section\\][[:space:]]*$" "$CONF"; then
        awk -v s="[$section]" -v l="$line" '
            { print; t = $0; gsub(/^[ \t]+|[ \t]+$/, "", t) }
            t == s && !done { print l; done = 1 }' "$CONF" >"$tmp"
    else
        { cat "$CONF"; printf '\n[%s]\n%s\n' "$section" "$line"; } >"$tmp"
    fi
    chmod 644 "$tmp"
    mv "$tmp" "$CONF"
    log "containers.conf: [$section] $line (added)"
}

configure_podman() {
    mkdir -p "$(dirname "$CONF")"
    conf_ensure engine runtime 'runtime = "runc"'
    conf_ensure containers default_ulimits 'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]'
    podman info >/dev/null 2>&1 || die "podman does not work: $(podman info 2>&1 | tail -3)"
    log "podman: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')," \
        "cgroups $(podman info --format '{{.Host.CgroupsVersion}}')"
}

# --- 3. Debian mirror -----------------------------------------------------------------
# apt_uri SUITE: the first enabled "deb" URI apt on this host uses for SUITE.
apt_uri() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v want="$suite" 'BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; uris = ""; suites = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^Types:/) types = substr($i, 7)
                    else if ($i ~ /^URIs:/) uris = substr($i, 6)
                    else if ($i ~ /^Suites:/) suites = substr($i, 8)
                    else if ($i ~ /^Enabled:/) enabled = substr($i, 9)
                }
                if (enabled ~ /no/ || (" " types " ") !~ / deb /) next
                if ((" " suites " ") !~ (" " want " ")) next
                n = split(uris, u, " "); if (n > 0) { print u[1]; exit }
            }' "$f" | head -1
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v want="$suite" '$1 == "deb" && $3 == want { print $2; exit }'
    done
}

# --- 4. rootfs ------------------------------------------------------------------------
write_apt_config() { # rootfs mirror security-mirror
    local r=$1 mirror=$2 security=$3
    rm -f "$r/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' \
            "$mirror" "$SUITE" "$SUITE"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        if [ -n "$security" ]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' \
                "$security" "$SUITE"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        fi
    } >"$r/etc/apt/sources.list.d/debian.sources"
    {
        echo '// Container images: no recommends, no translations, no package caches.'
        echo 'APT::Install-Recommends "false";'
        echo 'APT::Install-Suggests "false";'
        echo 'Acquire::Languages "none";'
        echo 'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";'
        echo 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };'
        # A snapshot mirror serves old Release files: follow the host's choice.
        if apt-config dump | grep -q '^Acquire::Check-Valid-Until "false"'; then
            echo 'Acquire::Check-Valid-Until "false";'
            echo 'Acquire::Check-Date "false";'
        fi
    } >"$r/etc/apt/apt.conf.d/90mesh-container"
    {
        echo '# Container images: no documentation, manual pages or translations.'
        echo 'path-exclude /usr/share/doc/*'
        echo 'path-include /usr/share/doc/*/copyright'
        echo 'path-exclude /usr/share/man/*'
        echo 'path-exclude /usr/share/info/*'
        echo 'path-exclude /usr/share/locale/*'
        echo 'path-exclude /usr/share/lintian/*'
    } >"$r/etc/dpkg/dpkg.cfg.d/90mesh-slim"
    # No service may start while packages are installed in a build.
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
}

slim_rootfs() { # rootfs: what the dpkg excludes would have kept out, caches, host files
    local r=$1
    find "$r/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/usr/share/lintian/*
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb
    find "$r/var/log" -type f -exec truncate -s 0 {} +
    rm -f "$r/etc/resolv.conf" "$r/etc/hostname" # podman provides both
}

make_rootfs() {
    if [ "$refresh" -eq 0 ] && [ -f "$ROOTFS/.mesh-complete" ]; then
        log "rootfs: reusing $ROOTFS ($(cat "$ROOTFS/.mesh-complete"))"
        return
    fi
    local mirror security tmp=$ROOTFS.tmp t0
    mirror=${MESH_DEBIAN_MIRROR:-$(apt_uri "$SUITE" | head -1)}
    [ -n "$mirror" ] || die "no Debian mirror for '$SUITE' in /etc/apt/sources.list*; set MESH_DEBIAN_MIRROR"
    security=$(apt_uri "$SUITE-security" | head -1)
    log "rootfs: debootstrap --variant=minbase $SUITE from $mirror into $ROOTFS (a few minutes)"
    mkdir -p "$CACHE"
    rm -rf "$tmp"
    t0=$(date +%s)
    if ! debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
        tail -5 "$CACHE/debootstrap.log" >&2
        [ -f "$tmp/debootstrap/debootstrap.log" ] && tail -5 "$tmp/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (full log: $CACHE/debootstrap.log)"
    fi
    write_apt_config "$tmp" "$mirror" "$security"
    slim_rootfs "$tmp"
    echo "$SUITE minbase from $mirror, $(date -u +%Y-%m-%dT%H:%MZ)" >"$tmp/.mesh-complete"
    rm -rf "$ROOTFS"
    mv "$tmp" "$ROOTFS"
    log "rootfs: done in $(($(date +%s) - t0)) s, $(du -sh --exclude=proc "$ROOTFS" | cut -f1)"
}

# --- 5. image -------------------------------------------------------------------------
import_image() {
    log "image: importing $ROOTFS as $IMAGE"
    tar --numeric-owner --exclude=./.mesh-complete -C "$ROOTFS" -c . |
        podman import -q --message "debootstrap minbase $SUITE (tools/container/build-base.sh)" \
            --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null ||
        die "podman import failed"
    podman image exists "$IMAGE" || die "podman import reported success but $IMAGE is missing"
}

check_image() {
    local v
    v=$(podman run --rm --network none "$IMAGE" cat /etc/debian_version 2>&1) ||
        die "cannot run a container from $IMAGE: $v"
    log "image: $IMAGE runs (Debian $v), $(podman image inspect --format '{{.Size}}' "$IMAGE" |
        awk '{ printf "%.0f MB", $1 / 1e6 }')"
    if ! v=$(podman run --rm "$IMAGE" sh -c 'apt-get update -qq 2>&1 && echo mirror-ok' 2>&1) ||
        [ "${v##*$'\n'}" != mirror-ok ]; then
        die "a container cannot reach the Debian mirror (image builds need it): ${v:0:500}"
    fi
    log "image: apt-get update works inside a container"
}

install_packages
configure_podman
if [ "$rebuild" -eq 0 ] && podman image exists "$IMAGE"; then
    log "image: $IMAGE exists (use --rebuild to import it again)"
    check_image
    exit 0
fi
make_rootfs
import_image
check_image
log "done: $IMAGE"
