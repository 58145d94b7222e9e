#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (root, no Docker
# engine), set everything up, build examples/debian.yaml into a bootable disk
# and boot it under QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${STRATA_CACHE:-/var/cache/strata-e2e}
e2e/setup-host.sh
eval "$(e2e/buildkitd.sh start)"
echo "buildkitd: $BUILDKIT_HOST" >&2

# The OS base: Debian bookworm minbase made with mmdebstrap from this host's
# apt sources, as an OCI layout (cached by its inputs). It doubles as the
# tools environment for disk assembly since it carries mke2fs.
base=$(go run ./e2e/cmd/mkbase -cache "$cache/base")
echo "os base: $base" >&2

CGO_ENABLED=0 go build -o bin/strata ./cmd/strata
start=$(date +%s)
bin/strata build examples/debian.yaml --target disk -o out \
	--build-context os-base="$base" --build-context strata-tools="$base"
echo "built in $(($(date +%s) - start))s" >&2
bin/strata inspect out/disk.raw

go run ./e2e/cmd/boot -console out/console.log out/disk.raw
echo "disk: $PWD/out/disk.raw"
