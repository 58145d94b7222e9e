#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (root, no Docker
# engine), set everything up, build examples/debian.yaml and
# examples/kubernetes-node.yaml into bootable disks and boot each under QEMU.
#
# This machine reaches no GitHub or dl.k8s.io, so the Kubernetes artifacts
# come from a local release fixture (e2e/cmd/mkartifacts: containerd, runc
# and CNI from Debian's packages, kubelet/kubeadm/kubectl/crictl built from
# the Go module proxy) served on loopback as kubernetes.source, with the
# example's versions overridden by the fixture's. Checksums are enforced as
# for upstream. With internet access, drop the KUBERNETES_* build args.
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

# The Kubernetes release fixture (cached by its inputs; the first run builds
# kubelet & co. from source, which takes a while on 2 cores).
release=$(go run ./e2e/cmd/mkartifacts -cache "$cache/artifacts")
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" <<<"$release"; }
mkdir -p bin
go build -o bin/serve-release ./e2e/cmd/serve-release
rm -f bin/release-url
bin/serve-release "$(field dir)" >bin/release-url &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do [[ -s bin/release-url ]] && break; sleep 0.1; done
source_url=$(cat bin/release-url)
echo "kubernetes release fixture: $source_url (kubernetes $(field kubernetes))" >&2

CGO_ENABLED=0 go build -o bin/strata ./cmd/strata

# build_and_boot SPEC OUT [strata build args...] -- [boot -expect args...]
build_and_boot() {
	local spec=$1 out=$2
	shift 2
	local build=() boot=()
	while (($#)) && [[ $1 != -- ]]; do build+=("$1"); shift; done
	shift
	boot=("$@")
	local start; start=$(date +%s)
	bin/strata build "$spec" --target disk -o "$out" \
		--build-context os-base="$base" --build-context strata-tools="$base" "${build[@]}"
	echo "built $spec in $(($(date +%s) - start))s" >&2
	bin/strata inspect "$out/disk.raw"
	go run ./e2e/cmd/boot -console "$out/console.log" "${boot[@]}" "$out/disk.raw"
	echo "disk: $PWD/$out/disk.raw"
}

build_and_boot examples/debian.yaml out/debian -- \
	-expect "Multi-User System" -expect "strata-ready: booted"

build_and_boot examples/kubernetes-node.yaml out/kubernetes-node \
	--build-arg KUBERNETES_SOURCE="$source_url" \
	--build-arg KUBERNETES_VERSION="$(field kubernetes)" \
	--build-arg KUBERNETES_CONTAINERD="$(field containerd)" \
	--build-arg KUBERNETES_RUNC="$(field runc)" \
	--build-arg KUBERNETES_CRICTL="$(field crictl)" \
	--build-arg KUBERNETES_CNI="$(field cni)" -- \
	-expect "Multi-User System" -expect "Started containerd.service" -expect "Started kubelet"
