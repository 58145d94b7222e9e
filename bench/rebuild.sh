#!/usr/bin/env bash
# Cold build versus a Kubernetes-only rebuild of the Kubernetes node image,
# measured in one run against a fresh, empty buildkitd (its own state dir,
# so the developer's cache is not touched). Prints cold time, rebuild time
# and their ratio, for the rootfs target (the layers alone) and for the disk
# target (plus assembly and the export of disk.raw).
#
#   bench/rebuild.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${STRATA_CACHE:-/var/cache/strata-e2e}
e2e/setup-host.sh
base=$(go run ./e2e/cmd/mkbase -cache "$cache/base")
release=$(go run ./e2e/cmd/mkartifacts -cache "$cache/artifacts")
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" <<<"$release"; }
CGO_ENABLED=0 go build -o bin/strata ./cmd/strata
go build -o bin/serve-release ./e2e/cmd/serve-release

out=$(mktemp -d /var/tmp/strata-bench-out.XXXXXX)
state=
rm -f "$out/url"
bin/serve-release "$(field dir)" >"$out/url" &
server=$!
stop_buildkitd() {
	[[ -n $state ]] || return 0
	STRATA_BUILDKIT_STATE=$state e2e/buildkitd.sh stop
	sleep 1
	umount -R "$state/root" 2>/dev/null || true
	rm -rf "$state"
	state=
}
cleanup() {
	kill "$server" 2>/dev/null || true
	stop_buildkitd
	rm -rf "$out"
}
trap cleanup EXIT
for _ in $(seq 1 50); do [[ -s $out/url ]] && break; sleep 0.1; done

args=(--progress quiet --build-context os-base="$base" --build-context strata-tools="$base"
	--build-arg KUBERNETES_SOURCE="$(cat "$out/url")"
	--build-arg KUBERNETES_VERSION="$(field kubernetes)" --build-arg KUBERNETES_CONTAINERD="$(field containerd)"
	--build-arg KUBERNETES_RUNC="$(field runc)" --build-arg KUBERNETES_CRICTL="$(field crictl)"
	--build-arg KUBERNETES_CNI="$(field cni)")

timed() { local s; s=$(date +%s.%N); "$@"; echo "$(date +%s.%N) - $s" | bc; }

for target in rootfs disk; do
	# A fresh, empty buildkitd per target, so "cold" means cold.
	stop_buildkitd
	state=$(mktemp -d /var/tmp/strata-bench-bk.XXXXXX)
	eval "$(STRATA_BUILDKIT_STATE=$state e2e/buildkitd.sh start)"
	rm -rf "$out/$target"
	cold=$(timed bin/strata build examples/kubernetes-node.yaml --target "$target" -o "$out/$target" "${args[@]}" \
		--build-arg KUBERNETES_SANDBOX_IMAGE=registry.k8s.io/pause:cold-$target)
	rm -rf "$out/$target"
	# A Kubernetes-only change: the OS layer must come from cache.
	rebuild=$(timed bin/strata build examples/kubernetes-node.yaml --target "$target" -o "$out/$target" "${args[@]}" \
		--build-arg KUBERNETES_SANDBOX_IMAGE=registry.k8s.io/pause:rebuild-$target)
	printf '%-6s cold %6.1fs   kubernetes-only rebuild %5.1fs   ratio %4.1f%%\n' \
		"$target" "$cold" "$rebuild" "$(echo "100 * $rebuild / $cold" | bc -l)"
done
