#!/usr/bin/env bash
# Builds a pinned tool from the Go module proxy into $STRATA_CACHE/bin and
# prints the directory holding it. Each tool set has its own module (its
# go.mod pins the version), because `go install pkg@v` fails on buildkit's
# exclude directives and the tools' dependency graphs disagree.
#
#   e2e/tools.sh buildkit   # buildkitd, buildctl   (e2e/tools, buildkit v0.26.3)
#   e2e/tools.sh buildx     # buildx                (e2e/tools/buildx, v0.30.1)
#   e2e/tools.sh registry   # registry              (e2e/tools/registry, distribution v3.0.0)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${STRATA_CACHE:-/var/cache/strata-e2e}/bin

case ${1:-} in
buildkit) dir=$here/tools pkgs=(github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl) ;;
buildx) dir=$here/tools/buildx pkgs=(github.com/docker/buildx/cmd/buildx) ;;
registry) dir=$here/tools/registry pkgs=(github.com/distribution/distribution/v3/cmd/registry) ;;
*) echo "usage: $0 buildkit|buildx|registry" >&2; exit 2 ;;
esac

# The stamp is the module's go.mod and go.sum, so a version bump rebuilds.
stamp=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-16)
stampFile=$bin/.stamp-$1
[[ $1 == buildkit ]] && stampFile=$bin/.stamp # its name before buildx and registry joined
if [[ -f $stampFile && $(cat "$stampFile") == "$stamp" ]]; then
	echo "$bin"
	exit 0
fi
echo "building ${pkgs[*]} (pinned in ${dir#"$here/"}/go.mod)..." >&2
mkdir -p "$bin"
(cd "$dir" && CGO_ENABLED=0 go build -o "$bin/" "${pkgs[@]}")
echo "$stamp" >"$stampFile"
echo "$bin"
