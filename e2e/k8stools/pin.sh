#!/usr/bin/env bash
# Pins the Kubernetes release the e2e fixture builds kubelet, kubeadm and
# kubectl from, and rewrites this module's replace directives to match.
#
#   e2e/k8stools/pin.sh v1.36.3
#
# k8s.io/kubernetes is not meant to be a dependency: its go.mod requires its
# staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and replaces
# them with ./staging directories that do not exist outside its own tree. A
# consumer has to replace each of them with the published copy, tagged
# v0.X.Y for release v1.X.Y. The list changes between releases (1.36 added
# k8s.io/streaming, for one), so it is read from the pinned go.mod rather
# than kept by hand.
set -euo pipefail

version=${1:?usage: pin.sh vMAJOR.MINOR.PATCH}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "not a release version: $version" >&2; exit 2; }
staging=v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}

cd "$(dirname "$0")"
command -v jq >/dev/null || { echo "pin.sh needs jq (apt-get install jq)" >&2; exit 1; }
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[[ -n $gomod ]] || { echo "cannot download k8s.io/kubernetes@$version" >&2; exit 1; }

# Start from a clean slate so modules dropped upstream lose their replace.
for old in $(go mod edit -json | jq -r '.Replace[]?.Old.Path'); do
	go mod edit -dropreplace "$old"
done
for mod in $(go mod edit -json "$gomod" | jq -r '.Replace[] | select(.New.Path | startswith("./staging/")) | .Old.Path'); do
	go mod edit -replace "$mod=$mod@$staging"
done

# The godebug defaults apply only in the main module; copy them so the
# binaries behave as upstream's do.
for old in $(go mod edit -json | jq -r '.Godebug[]?.Key'); do
	go mod edit -dropgodebug "$old"
done
for kv in $(go mod edit -json "$gomod" | jq -r '.Godebug[]? | "\(.Key)=\(.Value)"'); do
	go mod edit -godebug "$kv"
done

go mod edit -go "$(go mod edit -json "$gomod" | jq -r .Go)" -require "k8s.io/kubernetes@$version"
go mod tidy
