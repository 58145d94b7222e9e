#!/usr/bin/env bash
# Converts the same raw disk with `strata convert` and with `qemu-img convert`
# in one run, for qcow2, compressed qcow2, fixed VHD and stream-optimized
# VMDK (and, as an extra, the GCE archive against GNU tar + gzip). Prints
# both wall times, the speed-up (peer time / strata time) and both output
# sizes. Targets (issue 4): compressed formats >= 2x faster than qemu-img
# with output no larger; uncompressed ones no slower (speed-up >= 1.0).
#
#   bench/convert.sh            # builds a 2 GiB GPT disk with an ext4 root of
#                               # ~470 MiB of real files from the host's /usr
#   bench/convert.sh DISK.raw   # any raw disk, e.g. from strata assemble
#
# RUNS (default 3) runs per tool, alternating; the best time of each counts.
# CPU seconds (user+sys) are printed too: unlike wall time they barely
# depend on what else runs on the machine. On an idle machine strata's wall
# time approaches its CPU time divided by the cores it keeps busy.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
work=$(mktemp -d /var/tmp/strata-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

e2e/setup-host.sh
command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
CGO_ENABLED=0 go build -o bin/strata ./cmd/strata

raw=${1:-}
if [[ -z $raw ]]; then
	# Real content: binaries, Python modules and documentation, hard-linked
	# (or copied) into one tree for mke2fs -d.
	tree=$work/tree
	mkdir "$tree"
	for d in /usr/bin /usr/lib/python3 /usr/lib/python3.11 /usr/share/doc; do
		[[ -d $d ]] || continue
		cp -al "$d" "$tree/$(basename "$d")" 2>/dev/null || cp -a "$d" "$tree/$(basename "$d")"
	done
	raw=$work/disk.raw
	truncate -s 2G "$raw"
	sfdisk -q "$raw" <<-SFDISK
		label: gpt
		start=1MiB, size=100MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
		start=101MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
	SFDISK
	mke2fs -q -t ext4 -F -E offset=$((101 << 20)) -d "$tree" "$raw" $(((2048 - 102) * 1024))k
	rm -rf "$tree"
fi
echo "disk: $raw ($(du -h --apparent-size "$raw" | cut -f1) apparent, $(du -h "$raw" | cut -f1) allocated)"
cat "$raw" >/dev/null # both tools start from the page cache

# timed OUT CMD...: runs CMD after removing OUT, prints "wall,cpu" in
# seconds (cpu = user + sys).
timed() {
	local out=$1
	shift
	rm -f "$out"
	/usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null
	read -r wall user sys <"$work/time"
	echo "$wall,$(echo "$user + $sys" | bc)"
}

strata_run() { # FORMAT OUT
	local dir=$work/strata
	mkdir -p "$dir"
	timed "$2" bin/strata convert --seed bench --format "$1" -o "$dir" "$raw"
}

# best WALL,CPU...: the pair with the lowest wall time.
best() { printf '%s\n' "$@" | sort -t, -k1 -g | head -1; }

printf '%-18s %9s %9s %8s %9s %9s %14s %14s\n' format strata peer speed-up "cpu strata" "cpu peer" "strata bytes" "peer bytes"
report() { # NAME STRATA_FILE PEER_FILE STRATA_TIMES... -- PEER_TIMES...
	local name=$1 sf=$2 pf=$3
	shift 3
	local st=() pt=() side=s
	for t in "$@"; do
		if [[ $t == -- ]]; then side=p; continue; fi
		if [[ $side == s ]]; then st+=("$t"); else pt+=("$t"); fi
	done
	local bs bp
	bs=$(best "${st[@]}")
	bp=$(best "${pt[@]}")
	printf '%-18s %8.2fs %8.2fs %7.2fx %8.2fs %8.2fs %14d %14d\n' "$name" "${bs%,*}" "${bp%,*}" \
		"$(echo "${bp%,*} / ${bs%,*}" | bc -l)" "${bs#*,}" "${bp#*,}" "$(stat -c %s "$sf")" "$(stat -c %s "$pf")"
}

stem=$(basename "${raw%.raw}")

bench() { # NAME STRATA_FORMAT EXTENSION QEMU_FORMAT QEMU_ARGS...
	local name=$1 format=$2 ext=$3 qfmt=$4
	shift 4
	local sf=$work/strata/$stem.$ext pf=$work/peer.$qfmt
	local st=() pt=()
	for _ in $(seq 1 "$runs"); do
		st+=("$(strata_run "$format" "$sf")")
		pt+=("$(timed "$pf" qemu-img convert -f raw "$@" "$raw" "$pf")")
	done
	# The timed outputs must be right: compare each with the source once.
	qemu-img compare -q -f raw -F "$qfmt" "$raw" "$sf" || { echo "$name: strata output differs from the source" >&2; exit 1; }
	report "$name" "$sf" "$pf" "${st[@]}" -- "${pt[@]}"
}

bench qcow2 qcow2 qcow2 qcow2 -O qcow2
bench qcow2-compressed qcow2-compressed qcow2 qcow2 -c -O qcow2
bench "vhd (fixed)" vhd vhd vpc -O vpc -o subformat=fixed
bench "vmdk (stream)" vmdk vmdk vmdk -O vmdk -o subformat=streamOptimized

# GCE has no qemu-img equivalent; the peer is GNU tar + gzip, as Google's
# documentation shows (tar --format=oldgnu -Sczf), on a copy named disk.raw.
if [[ $raw != "$work/disk.raw" ]]; then
	ln -f "$raw" "$work/disk.raw" 2>/dev/null || cp --sparse=always "$raw" "$work/disk.raw"
fi
gt=() tt=()
for _ in $(seq 1 "$runs"); do
	gt+=("$(strata_run gce "$work/strata/$stem.tar.gz")")
	tt+=("$(timed "$work/peer.tar.gz" tar --format=oldgnu -Sczf "$work/peer.tar.gz" -C "$work" disk.raw)")
done
report "gce (vs tar -Sczf)" "$work/strata/$stem.tar.gz" "$work/peer.tar.gz" "${gt[@]}" -- "${tt[@]}"
echo "best of $runs runs each; speed-up = peer time / strata time; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
