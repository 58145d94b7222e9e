#!/usr/bin/env bash
# Installs the host packages strata's build, tests and quick start use.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail

packages=(
	runc            # buildkitd's OCI worker
	mmdebstrap      # the OS base image fixture
	e2fsprogs       # mke2fs/debugfs/e2fsck: assemble and its fidelity test
	dosfstools      # fsck.vfat in tests, mkfs.vfat for the vendor disk fixture
	mtools          # mcopy: the vendor disk fixture's ESP, written without mounting
	fdisk           # sfdisk in tests
	attr libcap2-bin # getfattr/setcap in the fidelity test
	squashfs-tools erofs-utils # strata sysext and its tests (unsquashfs, fsck.erofs)
	qemu-system-x86 qemu-utils ovmf # boot tests
	gcc libc6-dev   # the e2e fixture's pause image, compiled from upstream's pause.c
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	sudo=""
	[[ $(id -u) == 0 ]] || sudo=sudo
	echo "installing: ${missing[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl)" >&2; exit 1; }
