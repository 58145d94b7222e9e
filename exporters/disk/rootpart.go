package disk

import (
	"fmt"
	"io"
	"strings"
)

// GPT partition types a root filesystem is found by on a disk strata did not
// assemble: a vendor's published image (os.baseDisk).
const (
	// TypeLinuxData is the generic "Linux filesystem data" type, which
	// most distributions' cloud images give their root.
	TypeLinuxData = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	// TypeCoreOSUsr is Flatcar's (and CoreOS') /usr partition (USR-A and
	// USR-B): a read-only, verity-checked image the updater replaces
	// whole. It is never written to.
	TypeCoreOSUsr = "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6"
	// TypeCoreOSResize is the type of Flatcar's ROOT, the stateful
	// partition grown on first boot.
	TypeCoreOSResize = "3884DD41-8582-4404-B9A8-E9B84F2DF50E"

	// flatcarRootName is the GPT name of Flatcar's writable root.
	flatcarRootName = "ROOT"
)

// rootTypes are the Discoverable Partitions Specification's root
// partition types, one per architecture: a disk carrying one of them says
// which partition systemd mounts at /.
var rootTypes = map[string]string{
	TypeRootX86_64:                         "x86-64",
	"44479540-F297-41B2-9AF7-D131D5F0458A": "x86",
	"B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "arm64",
	"69DAD710-2CE4-4E3C-B16C-21A1D49ABED3": "arm",
	"72EC70A6-CF74-40E6-BD49-4BDA08E8F224": "riscv64",
	"C31C45E6-3F39-412E-80FB-4809C4980599": "ppc64le",
	"5EEAD9A9-FE09-4A1E-A1D7-520D00531306": "s390x",
	"77055800-792C-4F94-B39A-98C91B762BB6": "loongarch64",
}

// usrTypes are partitions mounted at /usr over the root's own /usr: a
// file the layer puts under /usr on the root filesystem would be hidden
// at boot.
var usrTypes = map[string]string{
	TypeCoreOSUsr:                          "CoreOS usr",
	"8484680C-9521-48C6-9C11-B0720656F69E": "Linux /usr (x86-64)",
	"B0E01050-EE5F-4390-949A-9101B17104E9": "Linux /usr (arm64)",
}

// rootPartition finds the partition of disk a layer is written to (see
// chooseRoot): the root of a disk Assemble built, or of a vendor's disk.
func rootPartition(disk string) (PartitionReport, error) {
	_, root, err := inspectRoot(disk)
	return root, err
}

// inspectRoot reads disk's partition table and picks its root.
func inspectRoot(disk string) (*Report, PartitionReport, error) {
	r, err := Inspect(disk)
	if err != nil {
		return nil, PartitionReport{}, err
	}
	if r.Format != "raw" {
		return nil, PartitionReport{}, fmt.Errorf("%s is a %s image; a layer is added to a raw disk (strata convert --format raw turns it into one)", disk, r.Format)
	}
	root, err := chooseRoot(r)
	if err != nil {
		return nil, PartitionReport{}, err
	}
	return r, root, nil
}

// checkUsrShadow refuses a layer with files under /usr on a disk that
// mounts another partition at /usr (Flatcar's USR-A): the files would be
// written to the root filesystem and hidden at boot.
func checkUsrShadow(r *Report, tree string, entries []layerEntry) error {
	usr, ok := separateUsr(r)
	if !ok {
		return nil
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Path, "/usr/") {
			return fmt.Errorf("%s: the layer puts %s under /usr, but the disk mounts /usr from partition %d %q, which strata does not write, so the file would be hidden at boot; install the layer as a system extension instead (kubernetes.install: sysext)",
				tree, e.Path, usr.Number, usr.Name)
		}
	}
	return nil
}

// chooseRoot picks the partition of r whose filesystem a layer is written
// to, and refuses a disk without one strata can write. The order is the
// one a vendor's disk tells its root by:
//
//  1. the partition named ROOT (Flatcar, whose ROOT has a CoreOS type
//     that says nothing about being the root);
//  2. the first partition of a Discoverable Partitions root type (what
//     strata's own disks carry, and systemd-repart's);
//  3. the first Linux filesystem data partition holding ext4 (most cloud
//     images: Debian's, Ubuntu's, the RHEL family's).
//
// A partition picked by 1 or 2 is the root whatever it holds, so a root
// strata cannot write (btrfs, xfs, a read-only ext4) fails rather than
// falling through to another partition that is not the root.
func chooseRoot(r *Report) (PartitionReport, error) {
	var picked *PartitionReport
	var why string
	for i, p := range r.Partitions {
		if p.Name == flatcarRootName && usrTypes[p.TypeGUID] == "" {
			picked, why = &r.Partitions[i], "named "+flatcarRootName
			break
		}
	}
	if picked == nil {
		for i, p := range r.Partitions {
			if arch, ok := rootTypes[p.TypeGUID]; ok {
				picked, why = &r.Partitions[i], "of the "+arch+" root type"
				break
			}
		}
	}
	if picked == nil {
		for i, p := range r.Partitions {
			if p.TypeGUID == TypeLinuxData && p.Filesystem != nil && p.Filesystem.Type == "ext4" {
				picked, why = &r.Partitions[i], "the first Linux filesystem partition holding ext4"
				break
			}
		}
	}
	if picked == nil {
		return PartitionReport{}, fmt.Errorf("%s: no root partition strata can write to: none is named %s, has a root partition type, or is a Linux filesystem partition holding ext4; partitions found: %s",
			r.Path, flatcarRootName, describePartitions(r.Partitions))
	}
	if err := writable(*picked); err != nil {
		return PartitionReport{}, fmt.Errorf("%s: the root is partition %d (%s), but %v; strata adds files to an ext4 root only; partitions found: %s",
			r.Path, picked.Number, why, err, describePartitions(r.Partitions))
	}
	return *picked, nil
}

// writable says why strata's writer (debugfs) cannot add files to p's
// filesystem, or nil if it can.
func writable(p PartitionReport) error {
	switch {
	case p.Filesystem == nil:
		return fmt.Errorf("it holds no filesystem strata recognises")
	case p.Filesystem.Type != "ext4":
		return fmt.Errorf("it holds %s", p.Filesystem.Type)
	case len(p.Filesystem.ReadOnlyFeatures) > 0:
		return fmt.Errorf("its ext4 has read-only features (%s)", strings.Join(p.Filesystem.ReadOnlyFeatures, ", "))
	}
	return nil
}

// separateUsr returns the partition mounted at /usr over the root's own,
// if r has one.
func separateUsr(r *Report) (PartitionReport, bool) {
	for _, p := range r.Partitions {
		if usrTypes[p.TypeGUID] != "" {
			return p, true
		}
	}
	return PartitionReport{}, false
}

// describePartitions lists partitions for an error: number, GPT name,
// type and filesystem, so the user sees what strata saw.
func describePartitions(ps []PartitionReport) string {
	if len(ps) == 0 {
		return "none"
	}
	var parts []string
	for _, p := range ps {
		fs := "no filesystem recognised"
		if p.Filesystem != nil {
			fs = p.Filesystem.Type
			if len(p.Filesystem.ReadOnlyFeatures) > 0 {
				fs += " (read-only features)"
			}
		}
		typ := p.Type
		if n := usrTypes[p.TypeGUID]; n != "" {
			typ = n
		} else if p.TypeGUID == TypeCoreOSResize {
			typ = "CoreOS resize"
		}
		parts = append(parts, fmt.Sprintf("%d %q %s %s", p.Number, p.Name, typ, fs))
	}
	return strings.Join(parts, "; ")
}

// ext4's read-only compatible features that forbid writing the filesystem
// at all: "read-only" marks an image meant never to change, and
// "shared_blocks" (Android's deduplicated images) lets files share blocks
// a write would corrupt.
var ext4ReadOnlyBits = []struct {
	bit  uint32
	name string
}{
	{0x1000, "read-only"},
	{0x4000, "shared_blocks"},
}

func ext4ReadOnlyFeatures(roCompat uint32) []string {
	var names []string
	for _, f := range ext4ReadOnlyBits {
		if roCompat&f.bit != 0 {
			names = append(names, f.name)
		}
	}
	return names
}

// foreignMagics are filesystems a vendor's root may be in, told by their
// magic number, so an error can name what it found.
var foreignMagics = []struct {
	name  string
	at    int64
	magic string
}{
	{"btrfs", 0x10040, "_BHRfS_M"},
	{"xfs", 0, "XFSB"},
	{"squashfs", 0, "hsqs"},
	{"erofs", 1024, "\xe2\xe1\xf5\xe0"},
}

// otherFilesystem names the filesystem at start among foreignMagics, or
// returns "".
func otherFilesystem(f io.ReaderAt, start int64) string {
	for _, m := range foreignMagics {
		b := make([]byte, len(m.magic))
		if _, err := f.ReadAt(b, start+m.at); err == nil && string(b) == m.magic {
			return m.name
		}
	}
	return ""
}
