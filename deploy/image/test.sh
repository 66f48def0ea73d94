#!/bin/sh
# `make image-test`: build deploy/Dockerfile with podman, lint it with hadolint, then run
# the image's own filesystem as its numeric user (tests/image/). As root, with podman and
# debootstrap installed (.ci/run installs them).
#
#   deploy/image/test.sh IMAGE [CACHE_DIR]
#
# podman builds with `--isolation chroot`: no user namespace, cgroup or OCI runtime is
# needed, so it builds in a sandbox that has none to give. The image is then not run by a
# container runtime but mounted read-only (`podman image mount`) and entered with chroot
# in a private mount namespace that gives it a fresh /tmp (as a pod's emptyDir), /dev and
# /proc: the services are the image's own files, run as its user, on this machine's
# network, where the tests' nats-server listens.
set -eu
image="localhost/$1"
cache="${2:-/var/cache/fengqiao}"
cd "$(dirname "$0")/../.."
began=$(date +%s)

.venv/bin/hadolint deploy/Dockerfile
base="$(deploy/image/base.sh "$cache")"
# pip in the build trusts what this machine trusts (a proxy that re-signs TLS included).
set --
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  set -- --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt
fi
podman build --isolation chroot --build-arg BASE="$base" "$@" \
  -f deploy/Dockerfile -t "$image" .
built=$(date +%s)
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$image"

config="$(mktemp)"
podman image inspect "$image" > "$config"
root="$(podman image mount "$image")"
trap 'podman image unmount "$image" >/dev/null; rm -f "$config"' EXIT
unshare --mount --propagation private sh -eu -c '
  mount -t tmpfs -o mode=1777 tmpfs "$1/tmp"
  mount --rbind /dev "$1/dev"
  mount -t proc proc "$1/proc"
  FENGQIAO_IMAGE_ROOT="$1" FENGQIAO_IMAGE_CONFIG="$2" \
    .venv/bin/pytest -q -p no:cacheprovider tests/image
' sh "$root" "$config"
echo "image-test: built in $((built - began)) s, all in $(($(date +%s) - began)) s"
