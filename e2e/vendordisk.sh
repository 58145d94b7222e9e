#!/usr/bin/env bash
# Makes a disk the way a distro's cloud image is made, with none of strata's
# code: sfdisk, mke2fs -d, mkfs.vfat and mtools. Its layout is Debian's cloud
# images': the root on partition 1 after a BIOS boot (14) and an EFI system
# partition (15), a root partition of the plain Linux filesystem type with
# its own label, and systemd-boot loading the kernel from the ESP.
#   e2e/vendordisk.sh ROOTFS_DIR OUT.raw
# The identifiers are fixed, so the same tree gives the same disk.
set -euo pipefail
rootfs=$1 out=$2
work=$(mktemp -d "$(dirname "$out")/vendordisk.XXXXXX")
trap 'rm -rf "$work"' EXIT

disk_uuid=5e1ec7ed-0000-4000-8000-00000000d15c
root_uuid=5e1ec7ed-0000-4000-8000-000000000001
# 4 GiB: the root ends 1 MiB before the end, where the backup GPT goes.
esp_start=8192 esp_sectors=253952 root_start=262144 root_sectors=8124416

truncate -s 4G "$out"
sfdisk --quiet "$out" <<SFDISK
label: gpt
label-id: $disk_uuid
unit: sectors
first-lba: 2048
${out}1 : start=$root_start, size=$root_sectors, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$root_uuid, name="vendor-root"
${out}14 : start=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649, uuid=5e1ec7ed-0000-4000-8000-000000000014
${out}15 : start=$esp_start, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=5e1ec7ed-0000-4000-8000-000000000015
SFDISK

kernel=$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$rootfs/boot/initrd.img-${kernel##*/vmlinuz-}
mkfs.vfat -F 32 -n VENDOR-ESP -i 5ec7ed15 -C "$work/esp.img" $((esp_sectors / 2)) >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/vendor
mcopy -i "$work/esp.img" "$rootfs/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$work/esp.img" "$kernel" ::/vendor/vmlinuz
mcopy -i "$work/esp.img" "$initrd" ::/vendor/initrd.img
printf 'default vendor.conf\ntimeout 0\n' >"$work/loader.conf"
printf 'title Vendor Debian\nlinux /vendor/vmlinuz\ninitrd /vendor/initrd.img\noptions root=PARTUUID=%s rw console=ttyS0\n' "$root_uuid" >"$work/vendor.conf"
mcopy -i "$work/esp.img" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$work/esp.img" "$work/vendor.conf" ::/loader/entries/vendor.conf
dd if="$work/esp.img" of="$out" bs=1M seek=$((esp_start * 512)) oflag=seek_bytes conv=notrunc,sparse status=none

truncate -s $((root_sectors * 512)) "$work/root.img"
mke2fs -q -F -t ext4 -L vendor-root -U 5e1ec7ed-0000-4000-8000-0000000000fe -d "$rootfs" "$work/root.img"
dd if="$work/root.img" of="$out" bs=1M seek=$((root_start * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
