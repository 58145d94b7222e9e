#!/usr/bin/env bash
# Assembles the same root filesystem into a bootable GPT disk (ESP + ext4
# root) twice in one run: with `strata assemble`, and with the shell pipeline
# a Packer or image-builder user would write (mkfs.ext4 -d, mkfs.vfat +
# mcopy, sfdisk, dd). Prints both wall times, their ratio, and strata's peak
# RSS. Targets (issue 2): strata <= 1.0x the pipeline, peak RSS <= 256 MiB.
#
#   bench/assemble.sh              # the rootfs of examples/debian.yaml, built first
#   bench/assemble.sh ROOTFS_DIR   # any tree with a kernel, initrd and systemd-boot
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=${SIZE_MIB:-4096}
esp_mib=256
runs=${RUNS:-3}
work=$(mktemp -d /var/tmp/strata-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

e2e/setup-host.sh
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time mtools >/dev/null
command -v mcopy >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mtools >/dev/null
CGO_ENABLED=0 go build -o bin/strata ./cmd/strata

rootfs=${1:-}
if [[ -z $rootfs ]]; then
	eval "$(e2e/buildkitd.sh start)"
	base=$(go run ./e2e/cmd/mkbase -cache "${STRATA_CACHE:-/var/cache/strata-e2e}/base")
	rootfs=$work/rootfs
	bin/strata build examples/debian.yaml --target rootfs -o type=tar,dest="$work/rootfs.tar" --progress quiet \
		--build-context os-base="$base"
	mkdir "$rootfs"
	tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$work/rootfs.tar" -C "$rootfs"
	rm "$work/rootfs.tar"
fi
echo "rootfs: $rootfs ($(du -sh "$rootfs" | cut -f1), $(find "$rootfs" | wc -l) entries)"

kernel=$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$rootfs/boot/initrd.img-${kernel##*/vmlinuz-}
efi=$rootfs/usr/lib/systemd/boot/efi/systemd-bootx64.efi

strata_once() {
	rm -f "$work/strata.raw"
	/usr/bin/time -f "%e %M" -o "$work/time" bin/strata assemble --rootfs "$rootfs" -o "$work/strata.raw" \
		--size "${size_mib}MiB" --seed bench --cmdline console=ttyS0 >/dev/null
	cat "$work/time"
}

# The peer: the same layout, built the way shell scripts do it.
pipeline_once() {
	local disk=$work/peer.raw esp=$work/esp.img root=$work/root.img
	rm -f "$disk" "$esp" "$root"
	local start; start=$(date +%s.%N)
	truncate -s "${size_mib}M" "$disk"
	sfdisk -q "$disk" <<-SFDISK
		label: gpt
		start=1MiB, size=${esp_mib}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
		start=$((1 + esp_mib))MiB, size=$((size_mib - esp_mib - 2))MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
	SFDISK
	mkfs.vfat -F 32 -n ESP -C "$esp" $((esp_mib * 1024)) >/dev/null
	mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/strata
	mcopy -i "$esp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
	mcopy -i "$esp" "$kernel" ::/strata/vmlinuz
	mcopy -i "$esp" "$initrd" ::/strata/initrd.img
	printf 'timeout 0\ndefault strata.conf\n' >"$work/loader.conf"
	printf 'title bench\nlinux /strata/vmlinuz\ninitrd /strata/initrd.img\noptions root=PARTLABEL=root rw console=ttyS0\n' >"$work/strata.conf"
	mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
	mcopy -i "$esp" "$work/strata.conf" ::/loader/entries/strata.conf
	truncate -s "$((size_mib - esp_mib - 2))M" "$root"
	mkfs.ext4 -q -F -L root -d "$rootfs" "$root"
	dd if="$esp" of="$disk" bs=1M seek=1 conv=sparse,notrunc status=none
	dd if="$root" of="$disk" bs=1M seek=$((1 + esp_mib)) conv=sparse,notrunc status=none
	echo "$(echo "$(date +%s.%N) - $start" | bc)"
}

command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null
echo "disk ${size_mib} MiB, ESP ${esp_mib} MiB, best of $runs runs each (the same run, alternating)"
best_s= best_p= rss=
for i in $(seq 1 "$runs"); do
	sync; read -r s m < <(strata_once)
	sync; p=$(pipeline_once)
	echo "  run $i: strata ${s}s (peak RSS $((m / 1024)) MiB), pipeline ${p}s"
	if [[ -z $best_s ]] || (($(echo "$s < $best_s" | bc))); then best_s=$s; fi
	if [[ -z $best_p ]] || (($(echo "$p < $best_p" | bc))); then best_p=$p; fi
	if [[ -z $rss ]] || ((m > rss)); then rss=$m; fi
done
printf 'strata assemble: %.2fs   pipeline: %.2fs   ratio strata/pipeline: %.2f   strata peak RSS: %d MiB\n' \
	"$best_s" "$best_p" "$(echo "$best_s / $best_p" | bc -l)" $((rss / 1024))
echo "allocated: strata.raw $(du -h "$work/strata.raw" | cut -f1), peer.raw $(du -h "$work/peer.raw" | cut -f1)"
