#!/usr/bin/env bash
# Builds buildkitd/buildctl at the pinned version (from e2e/tools/go.mod) and
# starts a buildkitd with the OCI worker (runc) as root.
#
#   e2e/buildkitd.sh build          # just the binaries, into $STRATA_CACHE/bin
#   e2e/buildkitd.sh start          # prints: export BUILDKIT_HOST=unix://...
#   e2e/buildkitd.sh stop
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${STRATA_CACHE:-/var/cache/strata-e2e}
state=${STRATA_BUILDKIT_STATE:-/var/lib/strata-e2e/buildkitd}
bin=$cache/bin
sock=$state/buildkitd.sock
gc_keep=16000,12000,24000

build() {
	"$here/tools.sh" buildkit >/dev/null
}

start() {
	build
	mkdir -p "$state"
	if [[ -S $sock ]] && "$bin/buildctl" --addr "unix://$sock" debug workers >/dev/null 2>&1; then
		echo "export BUILDKIT_HOST=unix://$sock"
		return
	fi
	rm -f "$sock"
	command -v runc >/dev/null || { echo "runc is not installed (apt-get install runc)" >&2; exit 1; }
	# The state persists between runs on one machine; garbage collection
	# bounds it (MB: keep 16 GB of cache, and more only while 12 GB of the
	# disk stay free, 24 GB at most). Unbounded, a day's runs filled the disk.
	nohup "$bin/buildkitd" --oci-worker=true --containerd-worker=false \
		--oci-worker-gc=true --oci-worker-gc-keepstorage "$gc_keep" \
		--root "$state/root" --addr "unix://$sock" >"$state/buildkitd.log" 2>&1 &
	echo $! >"$state/buildkitd.pid"
	for _ in $(seq 1 60); do
		if "$bin/buildctl" --addr "unix://$sock" debug workers >/dev/null 2>&1; then
			echo "export BUILDKIT_HOST=unix://$sock"
			return
		fi
		sleep 0.5
	done
	echo "buildkitd did not come up; its log:" >&2
	tail -50 "$state/buildkitd.log" >&2
	exit 1
}

stop() {
	if [[ -f $state/buildkitd.pid ]]; then
		kill "$(cat "$state/buildkitd.pid")" 2>/dev/null || true
		rm -f "$state/buildkitd.pid"
	fi
}

case ${1:-} in
build) build ;;
start) start ;;
stop) stop ;;
*) echo "usage: $0 build|start|stop" >&2; exit 2 ;;
esac
