#!/usr/bin/env bash
# The README's second command: every test tier. .ci/run calls exactly this.
#   unit + golden LLB tests, fuzzing (e2e/fuzz.sh), then the e2e tier (real buildkitd, the example
#   disk checked with sfdisk/fsck.vfat/e2fsck/debugfs, and a QEMU boot).
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${STRATA_CACHE:-/var/cache/strata-e2e}
e2e/setup-host.sh
eval "$(e2e/buildkitd.sh start)"
export BUILDKIT_HOST
# Start within the cache budget buildkitd.sh sets for its own collection
# (MB), whatever earlier runs on this machine left.
"$cache/bin/buildctl" prune --keep-storage 16000 >/dev/null
STRATA_OS_BASE=$(go run ./e2e/cmd/mkbase -cache "$cache/base")
export STRATA_OS_BASE
# The tools environment for assembly and sysext packing: the base plus the
# sysext tools (the list is toolsPackages in e2e/harness_test.go).
STRATA_TOOLS=$(go run ./e2e/cmd/mkbase -cache "$cache/base" -include squashfs-tools,erofs-utils)
export STRATA_TOOLS

echo "== go vet" >&2
go vet ./...
echo "== unit and golden tests" >&2
go test -count=1 ./...
echo "== fuzzing: every fuzz target for ${STRATA_FUZZTIME:-20s} on its committed corpus" >&2
bash e2e/fuzz.sh
echo "== e2e tier (buildkitd at $BUILDKIT_HOST, base $STRATA_OS_BASE)" >&2
# -p 1: one package at a time, so a QEMU boot never shares the 2 cores with a
# parallel fixture build (TCG guests starve and stall under such load).
STRATA_E2E=1 go test -p 1 -count=1 -v -timeout 80m ./e2e/... ./boottest/
