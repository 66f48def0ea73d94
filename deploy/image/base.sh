#!/bin/sh
# The base image, made from Debian's packages where no image registry can be reached:
# a minimal Debian 12 (bookworm) root filesystem, the same release and package set as
# `debian:12-slim`, imported into podman as localhost/debian:12-slim.
#
#   deploy/image/base.sh [CACHE_DIR]        (as root; needs debootstrap and podman)
#
# The root filesystem's tarball is kept in CACHE_DIR (default /var/cache/fengqiao), outside
# the clone, so a later run only imports it (seconds) instead of bootstrapping (minutes).
set -eu
cache="${1:-/var/cache/fengqiao}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
tarball="$cache/debian-12-minbase.tar"
image=localhost/debian:12-slim

mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  root="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
  # The same sources as debian:12-slim: the release, its updates and security fixes.
  rm -f "$root/etc/apt/sources.list"
  cat > "$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # Like the official slim images: no package lists or downloaded packages kept.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi
# Imported once: the same base keeps the build's layer cache valid.
if ! podman image exists "$image"; then
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
fi
echo "$image"
