#!/usr/bin/env bash
# docker-base.sh - make, once, the two base images Vigil's Docker files name,
# on a machine that reaches Debian's package mirror but no container registry:
#
#   debian:12-slim  (and debian:12)  a minbase bookworm rootfs from debootstrap,
#                                    trimmed like the official slim image,
#                                    imported into podman's local storage
#   postgres:15                      Debian's postgresql-15 on that base, with an
#                                    entrypoint that behaves like the official
#                                    image's (POSTGRES_* variables, initdb on
#                                    first start, /var/lib/postgresql/data)
#
# Idempotent: an image already there and made by this recipe (the label
# org.vigil.base-recipe, a hash of this script and the postgres files) is
# kept (podman's storage, /var/lib/containers/storage, is the cache); --force
# makes both again. It also writes the podman configuration these machines
# need (runc, and ulimits no higher than the caller's hard limits) to
# var/podman/containers.conf, and var/podman/env to source before podman or
# podman-compose.
#
# Usage: tools/dev/docker-base.sh [--force]   (as root)
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
# An image is kept while its recipe is unchanged: the base's is this script,
# postgres:15's this script and tools/dev/postgres-image/.
pg_dir=$here/tools/dev/postgres-image
BASE_RECIPE=$(sha256sum < "$here/tools/dev/docker-base.sh" | cut -c1-16)
PG_RECIPE=$(cat "$here/tools/dev/docker-base.sh" "$pg_dir/Containerfile" "$pg_dir/docker-entrypoint.sh" \
    | sha256sum | cut -c1-16)
force=0
[ "${1:-}" = "--force" ] && force=1

say() { echo "docker-base: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and podman's rootful storage need it)"

# --- tools ------------------------------------------------------------------
need=()
for p in podman podman-compose debootstrap runc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} (about 20 s)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# --- podman configuration ---------------------------------------------------
# runc, not crun (issue 14 saw crun fail on these machines' hybrid cgroups;
# listing runc in the apt-get line means crun is never installed). runc refuses
# rlimits above what podman itself has: nofile up to the caller's hard limit,
# nproc up to min(hard limit, kernel.pid_max) (podman lowers its own NPROC to
# pid_max). podman's default (1048576) is higher, hence explicit ulimits.
conf_dir=$here/var/podman
conf=$conf_dir/containers.conf
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=$pid_max
[ "$nproc" -gt "$pid_max" ] && nproc=$pid_max
mkdir -p "$conf_dir"
cat > "$conf.tmp" <<EOF
# Written by tools/dev/docker-base.sh for this machine's limits.
# Use:  export CONTAINERS_CONF=$conf
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
mv "$conf.tmp" "$conf"
# What containers.conf cannot say for `podman build` (podman 4.3 ignores its
# image_default_format): chroot isolation, and the docker format, without
# which HEALTHCHECK is dropped. podman-compose's builds inherit these too.
cat > "$conf_dir/env" <<EOF
# Written by tools/dev/docker-base.sh. Use:  . $conf_dir/env
export CONTAINERS_CONF=$conf
export BUILDAH_ISOLATION=chroot
export BUILDAH_FORMAT=docker
EOF
# shellcheck source=/dev/null
. "$conf_dir/env"

has_recipe() {  # image recipe -> 0 when the image is there, made by that recipe
    local v
    v=$(podman image inspect --format '{{index .Labels "org.vigil.base-recipe"}}' "$1" 2>/dev/null) || return 1
    [ "$v" = "$2" ]
}

# --- debian:12-slim ---------------------------------------------------------
# The Debian archive this machine's apt uses (the first deb822 URIs line of
# a source that is not the security archive); the image gets the same
# sources, as the official image has: bookworm, bookworm-updates,
# bookworm-security.
mirror=${VIGIL_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
fi
if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list*: set VIGIL_DEBIAN_MIRROR"
security=${VIGIL_DEBIAN_SECURITY:-${mirror%/debian}/debian-security}

image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
drop_old() {  # id: remove a replaced image unless something still uses it
    if [ -n "$1" ]; then podman rmi "$1" > /dev/null 2>&1 || true; fi
}

base_made=0
if [ $force -eq 0 ] && has_recipe localhost/debian:12-slim "$BASE_RECIPE"; then
    say "debian:12-slim is there, same recipe: kept"
else
    start=$(date +%s)
    old_base=$(image_id localhost/debian:12-slim)
    work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-base.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    root=$work/rootfs
    mkdir -p "$work/empty"
    say "debootstrap --variant=minbase bookworm from $mirror (about 35 s)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

    # What the official slim image does: no docs, man pages or translations
    # from later installs, no package caches or lists kept in layers.
    cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
EOF
    cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    cat > "$root/etc/apt/apt.conf.d/docker-gzip-indexes" <<'EOF'
Acquire::GzipIndexes "true";
Acquire::Languages "none";
EOF
    rm -f "$root/etc/apt/sources.list"
    cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
        "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
        "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* \
        "$root/etc/hostname" "$root/etc/resolv.conf"
    : > "$root/etc/machine-id"

    say "podman import, then bookworm-updates and security updates (about 15 s)"
    tar -C "$root" --numeric-owner -c . | podman import -q \
        --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - localhost/vigil-base-import:bookworm > /dev/null
    # debootstrap installs bookworm's point release only; the official image
    # has the updates too. One squashed layer, as an imported image would be.
    printf '%s\n' 'FROM localhost/vigil-base-import:bookworm' \
        'RUN apt-get update && apt-get -y upgrade && rm -rf /var/lib/apt/lists/*' > "$work/Containerfile"
    podman build -q --isolation=chroot --pull=never --squash-all \
        --label "org.vigil.base-recipe=$BASE_RECIPE" -t localhost/debian:12-slim \
        -f "$work/Containerfile" "$work/empty" > "$work/upgrade.log" 2>&1 \
        || { tail -20 "$work/upgrade.log" >&2; die "the update of the imported image failed (log above)"; }
    podman rmi localhost/vigil-base-import:bookworm > /dev/null
    podman tag localhost/debian:12-slim localhost/debian:12
    rm -rf "$work"; trap - EXIT
    base_made=1
    say "debian:12-slim made in $(( $(date +%s) - start )) s"
fi

# --- postgres:15 ------------------------------------------------------------
# A new base means a new postgres:15 on it.
if [ $force -eq 0 ] && [ $base_made -eq 0 ] && has_recipe localhost/postgres:15 "$PG_RECIPE"; then
    say "postgres:15 is there, same recipe: kept"
else
    start=$(date +%s)
    old_pg=$(image_id localhost/postgres:15)
    say "building postgres:15 from Debian's postgresql-15 (about 40 s)"
    podman build --isolation=chroot --pull=never --label "org.vigil.base-recipe=$PG_RECIPE" \
        -t localhost/postgres:15 -f "$pg_dir/Containerfile" "$pg_dir" \
        > "$conf_dir/postgres-build.log" 2>&1 \
        || { tail -30 "$conf_dir/postgres-build.log" >&2; die "postgres:15 build failed (log: $conf_dir/postgres-build.log)"; }
    say "postgres:15 made in $(( $(date +%s) - start )) s"
    drop_old "$old_pg"
fi
# Only now: the old postgres:15 was a child of the old base.
if [ $base_made -eq 1 ]; then drop_old "${old_base:-}"; fi

podman images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' \
    | grep -E '^localhost/(debian:12-slim|debian:12|postgres:15) ' >&2 || true
say "ready; for podman and podman-compose here:  . $conf_dir/env"
