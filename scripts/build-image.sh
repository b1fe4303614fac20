#!/usr/bin/env bash
# Build the workspace-exporter container image without a container registry or daemon.
#
#   1. base image: debootstrap a minimal Debian (python3 + python3-venv) and `podman import`
#      it as localhost/debian-python:<suite>. The rootfs tarball is cached under CACHE_DIR
#      (rebuilt when older than CACHE_MAX_AGE_DAYS), and the import is skipped when the
#      image is already in podman's storage.
#   2. image: `podman build --isolation=chroot` of ./Dockerfile on that base.
#
# Usage: scripts/build-image.sh [base|image|all]   (default: all)
# Environment (all optional):
#   IMAGE               tag to build                       (localhost/workspace-exporter:dev)
#   BASE_IMAGE          base to build from; set it to an existing image (e.g. python:3.11-slim
#                       on a machine with registry access) to skip debootstrap
#   DEBIAN_SUITE        Debian release for the base         (bookworm)
#   DEBIAN_MIRROR       Debian mirror for debootstrap       (first Debian URI in /etc/apt/sources.list*)
#   CACHE_DIR           rootfs tarball cache                (/var/cache/workspace-exporter-ci)
#   CACHE_MAX_AGE_DAYS  re-debootstrap after this many days (7)
#   BUILD_CA_FILE       CA bundle handed to pip in the build as a build secret (never stored in
#                       the image); default: the system bundle, so TLS-intercepting proxies work
# Needs root, podman and debootstrap (Debian packages podman, buildah, debootstrap).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=${DEBIAN_SUITE:-bookworm}
image=${IMAGE:-localhost/workspace-exporter:dev}
base_image=${BASE_IMAGE:-localhost/debian-python:${suite}}
cache_dir=${CACHE_DIR:-/var/cache/workspace-exporter-ci}
max_age=${CACHE_MAX_AGE_DAYS:-7}
ca_file=${BUILD_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
# Packages in the base rootfs. Part of the cache key, so changing it rebuilds the tarball.
include=python3,python3-venv
rootfs_tar="${cache_dir}/debian-${suite}-python-minbase.tar"

log() { printf '%s build-image: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The first plain Debian archive URI configured for apt (deb822 *.sources or one-line *.list).
detect_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        case "$f" in
            *.sources) uri=$(awk 'tolower($1)=="uris:" {for (i=2;i<=NF;i++) print $i}' "$f") ;;
            *) uri=$(awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^[a-z+]+:\/\//) {print $i; break}}' "$f") ;;
        esac
        uri=$(printf '%s\n' "$uri" | grep -E '/debian/?$' | head -n1 || true)
        if [ -n "$uri" ]; then
            printf '%s\n' "${uri%/}"
            return
        fi
    done
    printf '%s\n' "http://deb.debian.org/debian"
}

build_rootfs() {
    command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
    local mirror=${DEBIAN_MIRROR:-$(detect_mirror)}
    local dir
    dir=$(mktemp -d /var/tmp/debootstrap.XXXXXX)
    # shellcheck disable=SC2064  # expand $dir now
    trap "rm -rf '$dir'" RETURN
    log "debootstrap --variant=minbase --include=${include} ${suite} from ${mirror}"
    local t0=$SECONDS
    debootstrap --variant=minbase --include="${include}" --components=main \
        "${suite}" "${dir}" "${mirror}" >"${dir}.log" 2>&1 || {
        tail -n 30 "${dir}.log" >&2
        die "debootstrap failed (log: ${dir}.log)"
    }
    rm -f "${dir}.log"
    # Keep the base lean: no package caches, lists, docs, man pages or locales.
    rm -rf "${dir}"/var/cache/apt/archives/*.deb "${dir}"/var/lib/apt/lists/* \
        "${dir}"/usr/share/doc/* "${dir}"/usr/share/man/* "${dir}"/usr/share/info/* \
        "${dir}"/usr/share/locale/* "${dir}"/var/log/*.log "${dir}"/var/cache/debconf/*-old
    mkdir -p "${cache_dir}"
    tar --numeric-owner -C "${dir}" -cf "${rootfs_tar}.tmp" .
    mv -f "${rootfs_tar}.tmp" "${rootfs_tar}"
    log "debootstrap took $((SECONDS - t0))s; rootfs cached at ${rootfs_tar} ($(du -h "${rootfs_tar}" | cut -f1))"
}

build_base() {
    command -v podman >/dev/null || die "podman not installed (apt-get install podman buildah)"
    if [ -n "$(find "${rootfs_tar}" -maxdepth 0 -mtime "-${max_age}" 2>/dev/null)" ]; then
        if podman image exists "${base_image}"; then
            log "base ${base_image} already present"
            return
        fi
        log "using cached rootfs ${rootfs_tar}"
    else
        build_rootfs
    fi
    local t0=$SECONDS
    podman import --quiet --change 'CMD ["python3"]' "${rootfs_tar}" "${base_image}" >/dev/null
    log "imported ${base_image} in $((SECONDS - t0))s"
}

build_image() {
    command -v podman >/dev/null || die "podman not installed (apt-get install podman buildah)"
    local -a secret=()
    if [ -r "${ca_file}" ]; then
        secret=(--secret "id=pip-ca,src=${ca_file}")
    fi
    local t0=$SECONDS
    log "podman build ${image} from ${base_image}"
    podman build --isolation=chroot --network=host --layers \
        --build-arg "BASE_IMAGE=${base_image}" \
        --build-arg "VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "${here}/exporter/__init__.py")" \
        --build-arg "REVISION=${REVISION:-unknown}" \
        --build-arg "CREATED=${CREATED:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}" \
        "${secret[@]}" \
        --tag "${image}" --file "${here}/Dockerfile" "${here}"
    log "image ${image} built in $((SECONDS - t0))s"
    # Intermediate images are the layer cache of the next build; drop only old ones.
    podman image prune --force --filter until=72h >/dev/null || true
}

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and podman's chroot isolation need it)"
case "${1:-all}" in
    base) build_base ;;
    image) build_image ;;
    all)
        # A BASE_IMAGE other than the local debian-python one is pulled by podman build itself.
        if [ "${base_image}" = "localhost/debian-python:${suite}" ]; then
            build_base
        fi
        build_image
        ;;
    *) die "usage: $0 [base|image|all]" ;;
esac
