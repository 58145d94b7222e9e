#!/usr/bin/env bash
# Cold build versus a Kubernetes-only rebuild of the Kubernetes node image,
# measured in one run against a fresh, empty buildkitd (its own state dir,
# so the developer's cache is not touched). Prints cold time, rebuild time
# and their ratio, for the rootfs target (the layers alone), the disk target
# (plus assembly and the export of disk.raw) and the qemu target (plus its
# guest configuration and the conversion to compressed qcow2, which is what
# leaves the builder instead of the whole raw disk). BENCH_TARGETS picks
# some of them, e.g. BENCH_TARGETS=qemu.
#
# The rebuild is a real kubernetes.version bump: the cold build is at the
# release fixture's previous Kubernetes release, the rebuild at its current
# one, with nothing else changed.
#
#   bench/rebuild.sh                # the figures
#   bench/rebuild.sh DIR            # also keeps each build's BuildKit progress
#                                   # (rawjson) in DIR and prints where the
#                                   # rebuild's time went (bench/cmd/vertextimes)
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${STRATA_CACHE:-/var/cache/strata-e2e}
e2e/setup-host.sh
base=$(go run ./e2e/cmd/mkbase -cache "$cache/base")
release=$(go run ./e2e/cmd/mkartifacts -cache "$cache/artifacts")
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" <<<"$release"; }
CGO_ENABLED=0 go build -o bin/strata ./cmd/strata
go build -o bin/serve-release ./e2e/cmd/serve-release
keep=${1:-}
if [[ -n $keep ]]; then
	mkdir -p "$keep"
	go build -o bin/vertextimes ./bench/cmd/vertextimes
fi

out=$(mktemp -d /var/tmp/strata-bench-out.XXXXXX)
state=
rm -f "$out/url"
bin/serve-release "$(field dir)" >"$out/url" &
server=$!
stop_buildkitd() {
	[[ -n $state ]] || return 0
	local pid
	pid=$(cat "$state/buildkitd.pid" 2>/dev/null || true)
	STRATA_BUILDKIT_STATE=$state e2e/buildkitd.sh stop
	# A daemon stuck in an export ignores SIGTERM; it must be gone before
	# its state is removed.
	for _ in $(seq 1 100); do [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	[[ -z $pid ]] || kill -9 "$pid" 2>/dev/null || true
	sleep 0.5
	# A killed daemon leaves its mounts (of its own snapshots) behind.
	awk -v s="$state/" '$1 == "overlay" && index($4, s) { print $2 }' /proc/mounts | xargs -r -n1 umount || true
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

args=(--build-context os-base="$base" --build-context strata-tools="$base"
	--build-arg KUBERNETES_SOURCE="$(cat "$out/url")" --build-arg KUBERNETES_CONTAINERD="$(field containerd)"
	--build-arg KUBERNETES_RUNC="$(field runc)" --build-arg KUBERNETES_CRICTL="$(field crictl)"
	--build-arg KUBERNETES_CNI="$(field cni)")
previous=$(field previousKubernetes)
current=$(field kubernetes)
[[ -n $previous ]] || { echo "the release fixture serves no previous Kubernetes release" >&2; exit 1; }

# settle writes back what earlier steps left dirty, so that each timed build
# pays only for its own writes: right after a cold build, gigabytes of its
# pages are still on their way to disk, and the rebuild would otherwise share
# the machine with their writeback.
settle() {
	local s dirty
	dirty=$(awk '$1 == "Dirty:" { print int($2 / 1024) }' /proc/meminfo)
	s=$(date +%s.%N)
	sync
	printf 'settle: %d MiB dirty written back in %.1fs\n' "$dirty" "$(echo "$(date +%s.%N) - $s" | bc)" >&2
}

# dirtied prints the MiB of pages dirtied so far, the client's output
# included.
dirtied() { echo $(( $(awk '$1 == "nr_dirtied" { print $2 }' /proc/vmstat) * $(getconf PAGESIZE) >> 20 )); }

# freshWrite times writing 1 GiB into new page cache. On a VM that hands
# freed memory back to its host (free page reporting), memory the guest
# touches anew costs a fault in the host first, and each GiB a build writes
# costs seconds of CPU before any disk is involved; on other machines this
# takes a fraction of a second (docs/benchmarks.md).
freshWrite() {
	local s
	s=$(date +%s.%N)
	head -c 1G /dev/zero >"$out/fresh"
	printf '%.2f' "$(echo "$(date +%s.%N) - $s" | bc)"
	rm -f "$out/fresh"
}

timed() { local s; s=$(date +%s.%N); "$@" || return 1; echo "$(date +%s.%N) - $s" | bc; }

# build NAME TARGET VERSION: one build, its progress kept when asked for.
# The rootfs goes out as a tar: a tree of 20,000 files through the local
# exporter now and then stalls for good (moby/buildkit#2950), and a tar is
# what a root filesystem wants anyway. The disk is one file.
build() {
	local progress=(--progress quiet) output=$out/$2
	[[ -z $keep ]] || progress=(--progress rawjson)
	[[ $2 != rootfs ]] || output=type=tar,dest=$out/rootfs.tar
	rm -rf "${out:?}/$2" "$out/rootfs.tar"
	timeout 30m bin/strata build examples/kubernetes-node.yaml --target "$2" -o "$output" "${args[@]}" \
		--build-arg KUBERNETES_VERSION="$3" "${progress[@]}" 2>"$out/$1.json" ||
		{ tail -40 "$out/$1.json" >&2; return 1; }
	[[ -z $keep ]] || cp "$out/$1.json" "$keep/"
}

for target in ${BENCH_TARGETS:-rootfs disk qemu}; do
	kill -0 "$server" 2>/dev/null || { echo "the release server (pid $server) is gone" >&2; exit 1; }
	# A fresh, empty buildkitd per target, so "cold" means cold.
	stop_buildkitd
	state=$(mktemp -d /var/tmp/strata-bench-bk.XXXXXX)
	eval "$(STRATA_BUILDKIT_STATE=$state e2e/buildkitd.sh start)"
	settle
	before=$(dirtied)
	cold=$(timed build "$target-cold" "$target" "$previous")
	coldWrote=$(( $(dirtied) - before ))
	# Only kubernetes.version changes: the OS layer must come from cache.
	# What each build wrote is printed too: where new memory is slow to
	# get (freshWrite), it sets a build's time as much as the work does.
	settle
	before=$(dirtied)
	rebuild=$(timed build "$target-rebuild" "$target" "$current")
	rebuildWrote=$(( $(dirtied) - before ))
	printf '%-6s cold %6.1fs (wrote %d MiB)   kubernetes.version %s -> %s rebuild %5.1fs (wrote %d MiB)   ratio %4.1f%%   1 GiB into new page cache: %ss\n' \
		"$target" "$cold" "$coldWrote" "$previous" "$current" "$rebuild" "$rebuildWrote" "$(echo "100 * $rebuild / $cold" | bc -l)" "$(freshWrite)"
	[[ -z $keep ]] || bin/vertextimes -top 14 "$keep/$target-rebuild.json"
done
