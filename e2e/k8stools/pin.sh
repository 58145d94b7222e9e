#!/usr/bin/env bash
# Pins the Kubernetes release the e2e fixture (e2e/cmd/mkartifacts) builds
# kubelet, kubeadm and kubectl from, and rewrites this module to match.
#
#   e2e/k8stools/pin.sh v1.36.3            # the release the node is built at
#   e2e/k8stools/pin.sh v1.36.2 previous   # the one a version bump starts from
#
# The first form also rewrites controlplane/, which pins the same release
# for kube-apiserver, kube-controller-manager and kube-scheduler: a module
# of its own, so their extra requirements (go-oidc, kube-aggregator, ...)
# do not change this one's go.sum and with it the cached kubelet build.
# The second form rewrites the module in previous/ instead: the fixture
# serves both releases, so the e2e tier can bump kubernetes.version between
# two real ones. Keep previous one patch release behind, in the same minor,
# so the two builds share every non-Kubernetes dependency and the Go build
# cache does that work once.
#
# k8s.io/kubernetes is not meant to be a dependency: its go.mod requires its
# staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and replaces
# them with ./staging directories that exist only in its own repository. A
# consumer has to replace each with the published copy, tagged v0.X.Y for
# release v1.X.Y. The list changes between releases (1.36 added
# k8s.io/streaming, for one), so it is read from the pinned go.mod rather
# than kept by hand. The go line and godebug defaults are copied too: they
# apply only in the main module, and the binaries should behave as
# upstream's do.
#
# crictl, etcd and CoreDNS have modules of their own, crictl/, etcd/ and
# coredns/; move each with go get and go mod tidy (its go.mod says how).
# mkartifacts refuses etcd and CoreDNS versions other than the ones
# kubeadm of the pinned release names, so bump them with Kubernetes.
set -euo pipefail

version=${1:?usage: pin.sh vMAJOR.MINOR.PATCH [previous]}
moddir=${2:-.}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "not a release version: $version" >&2; exit 2; }
staging=v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}
[[ $moddir == . || $moddir == previous ]] || { echo "unknown module: $moddir (want previous, or nothing)" >&2; exit 2; }
moddirs=("$moddir")
[[ $moddir == . ]] && moddirs+=(controlplane)
command -v jq >/dev/null || { echo "pin.sh needs jq (apt-get install jq)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

pin() (
	cd "$here/$1"

	gomod=$(go mod download -json "k8s.io/kubernetes@$version" | jq -r '.GoMod // empty')
	[[ -n $gomod ]] || { echo "cannot download k8s.io/kubernetes@$version" >&2; exit 1; }
	upstream=$(go mod edit -json "$gomod")

	# Start from a clean slate, so modules dropped upstream lose their replace
	# and godebug keys dropped upstream go too.
	for old in $(go mod edit -json | jq -r '.Replace[]?.Old.Path'); do
		go mod edit -dropreplace "$old"
	done
	for old in $(go mod edit -json | jq -r '.GoDebug[]?.Key'); do
		go mod edit -dropgodebug "$old"
	done

	{
		echo
		echo "// The staging modules k8s.io/kubernetes $version replaces with ./staging,"
		echo "// at their published versions. Written by pin.sh; do not edit by hand."
		echo "replace ("
		jq -r --arg v "$staging" '.Replace[] | select(.New.Path | startswith("./staging/"))
			| "\t\(.Old.Path) => \(.Old.Path) \($v)"' <<<"$upstream"
		echo ")"
	} >>go.mod
	for kv in $(jq -r '.GoDebug[]? | "\(.Key)=\(.Value)"' <<<"$upstream"); do
		go mod edit -godebug "$kv"
	done
	go mod edit -fmt -go "$(jq -r .Go <<<"$upstream")" -require "k8s.io/kubernetes@$version"
	go mod tidy
)

for m in "${moddirs[@]}"; do
	pin "$m"
done
