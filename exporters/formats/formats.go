// Package formats turns a raw disk image into the files clouds and
// hypervisors import: a sparse raw copy, qcow2 (plain or compressed), VHD (fixed, as Azure
// wants, or dynamic), stream-optimized VMDK, OVA and GCE's tar.gz. Each format
// lives in its own package; this one names them, in one table, and writes
// the output atomically.
package formats

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/formats/gce"
	"github.com/strata-dev/strata/exporters/formats/ova"
	"github.com/strata-dev/strata/exporters/formats/qcow2"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/exporters/formats/reuse"
	"github.com/strata-dev/strata/exporters/formats/vhd"
	"github.com/strata-dev/strata/exporters/formats/vmdk"
)

// Options apply to every format; each ignores what it has no field for.
type Options struct {
	// Seed determines identifiers inside the image (a VHD's unique ID, a
	// VMDK's content IDs): the same disk and seed give the same file.
	Seed string
	// Time is written where a format records one (the VHD footer, the GCE
	// archive); zero writes none. Use SOURCE_DATE_EPOCH.
	Time time.Time
	// Workers is how many goroutines compress (0: GOMAXPROCS).
	Workers int
	// VM describes the virtual machine, for the formats that carry one
	// (the OVA's OVF descriptor); zero fields keep the format's defaults.
	VM VM
	// Reuse, when set, names an earlier conversion to copy compressed
	// clusters from, which makes converting a disk built on another one
	// much faster without changing a byte of the output. The formats that
	// compress cluster by cluster (qcow2-compressed, vmdk) use it; the
	// others say in Result.Reuse why they ignore it (see Format.NoReuse).
	Reuse *Reuse
	// Layer, when set, makes the source a layered disk: the source file is
	// the base, and Layer holds the bytes that differ (what strata
	// add-layer --delta writes). The whole disk is never written out.
	Layer *Layer
}

// Layer is what a layered disk holds apart from its base: the disk's bytes
// in each of Changes (in order, disjoint) are Image's at offset-Shift.
type Layer struct {
	Image   io.ReaderAt
	Shift   int64
	Changes []rawdisk.Extent
}

// Reuse is an earlier conversion: a raw disk and the image strata made of
// it in the same format with the same options. Wherever the disk being
// converted holds the same bytes as Raw at the same offset, the image's
// compressed cluster is copied instead of compressed again; the output is
// byte for byte what it would be without reuse. The image is checked first
// (format, sizes, that it stores exactly Raw's clusters, a sample
// compressed again) and ignored if it does not fit; but it must be Raw's
// own conversion, since a qcow2 image of a disk that differs from Raw only
// in a few clusters, in place, can pass those checks.
type Reuse struct {
	Raw   string // the base raw disk
	Image string // its conversion
}

// ReuseStats says how a conversion used its reuse image: clusters (or
// grains) copied and compressed, and why the image was ignored, if it was.
type ReuseStats = reuse.Stats

// VM is the virtual machine a package format describes around its disk.
type VM struct {
	CPUs      int
	MemoryMiB int
	Network   string
}

// IsZero says whether v leaves every default alone.
func (v VM) IsZero() bool { return v == VM{} }

// Format is one output format.
type Format struct {
	Name        string // as the CLI spells it
	Description string
	Extension   string // of the output file, without the dot
	// QemuFormat is qemu-img's name for the format ("" when qemu-img
	// cannot read it).
	QemuFormat string
	// HasVM says the format describes a virtual machine around the disk,
	// which Options.VM shapes.
	HasVM bool
	// VirtualSize is the disk size the format gives a raw disk of size
	// bytes (formats round up to their unit).
	VirtualSize func(size int64) int64
	// NoReuse says why the format ignores Options.Reuse; "" when its
	// writer copies what it can from the reuse image.
	NoReuse string
	// write converts src into dst; name is the output's file name, base
	// the opened reuse image (nil if none, or NoReuse).
	write func(ctx context.Context, dst *os.File, src *rawdisk.Disk, o Options, name string, base *reuse.Base) (int64, error)
}

// All lists the formats, in the order the CLI shows them.
var All = []Format{
	{
		Name:        "raw",
		Description: "raw disk image, all-zero blocks left as holes",
		Extension:   "raw", QemuFormat: "raw",
		VirtualSize: func(size int64) int64 { return size },
		NoReuse:     "a raw copy compresses nothing",
		write: func(ctx context.Context, dst *os.File, src *rawdisk.Disk, _ Options, _ string, _ *reuse.Base) (int64, error) {
			return src.CopySparse(ctx, dst)
		},
	},
	{
		Name:        "qcow2",
		Description: "qcow2 v3 (QEMU, OpenStack), data clusters stored as they are",
		Extension:   "qcow2", QemuFormat: "qcow2",
		VirtualSize: func(size int64) int64 { return (size + 511) &^ 511 },
		NoReuse:     "plain qcow2 compresses nothing",
		write: func(ctx context.Context, dst *os.File, src *rawdisk.Disk, o Options, _ string, _ *reuse.Base) (int64, error) {
			return qcow2.Write(ctx, dst, src, qcow2.Options{Workers: o.Workers})
		},
	},
	{
		Name:        "qcow2-compressed",
		Description: "qcow2 v3 with deflate-compressed clusters",
		Extension:   "qcow2", QemuFormat: "qcow2",
		VirtualSize: func(size int64) int64 { return (size + 511) &^ 511 },
		write: func(ctx context.Context, dst *os.File, src *rawdisk.Disk, o Options, _ string, base *reuse.Base) (int64, error) {
			return qcow2.Write(ctx, dst, src, qcow2.Options{Compress: true, Workers: o.Workers, Reuse: base})
		},
	},
	{
		Name:        "vhd",
		Description: "fixed VHD (Azure): the disk rounded up to a whole MiB, then a footer",
		Extension:   "vhd", QemuFormat: "vpc",
		VirtualSize: vhd.VirtualSize,
		NoReuse:     "VHD compresses nothing",
		write: func(ctx context.Context, dst *os.File, src *rawdisk.Disk, o Options, _ string, _ *reuse.Base) (int64, error) {
			return vhd.WriteFixed(ctx, dst, src, vhd.Options{Seed: o.Seed, Time: o.Time})
		},
	},
	{
		Name:        "vhd-dynamic",
		Description: "dynamic VHD: only the 2 MiB blocks that hold data",
		Extension:   "vhd", QemuFormat: "vpc",
		VirtualSize: vhd.VirtualSize,
		NoReuse:     "VHD compresses nothing",
		write: func(ctx context.Context, dst *os.File, src *rawdisk.Disk, o Options, _ string, _ *reuse.Base) (int64, error) {
			return vhd.WriteDynamic(ctx, dst, src, vhd.Options{Seed: o.Seed, Time: o.Time})
		},
	},
	{
		Name:        "vmdk",
		Description: "stream-optimized VMDK (vSphere, OVA, AWS import)",
		Extension:   "vmdk", QemuFormat: "vmdk",
		VirtualSize: vmdk.Capacity,
		write: func(ctx context.Context, dst *os.File, src *rawdisk.Disk, o Options, name string, base *reuse.Base) (int64, error) {
			return vmdk.Write(ctx, dst, src, vmdk.Options{Seed: o.Seed, FileName: name, Workers: o.Workers, Reuse: base})
		},
	},
	{
		Name:        "ova",
		Description: "OVA for vSphere: OVF descriptor (EFI, 2 vCPU, 4 GiB, pvscsi, vmxnet3), the VMDK, a SHA-256 manifest",
		Extension:   "ova", HasVM: true,
		VirtualSize: vmdk.Capacity,
		NoReuse:     "OVA does not reuse yet (its disk, a VMDK, would need finding inside the archive)",
		write: func(ctx context.Context, dst *os.File, src *rawdisk.Disk, o Options, name string, _ *reuse.Base) (int64, error) {
			return ova.Write(ctx, dst, filepath.Dir(dst.Name()), src, ova.Options{Name: ova.Stem(name), Seed: o.Seed, Time: o.Time, Workers: o.Workers,
				CPUs: o.VM.CPUs, MemoryMiB: o.VM.MemoryMiB, Network: o.VM.Network})
		},
	},
	{
		Name:        "gce",
		Description: "GCE image archive: disk.raw (whole GiB) in a sparse old-GNU tar, gzip'd",
		Extension:   "tar.gz",
		VirtualSize: gce.DiskSize,
		NoReuse:     "the GCE archive is one gzip stream, not independently compressed clusters",
		write: func(ctx context.Context, dst *os.File, src *rawdisk.Disk, o Options, _ string, _ *reuse.Base) (int64, error) {
			return gce.Write(ctx, dst, src, gce.Options{Time: o.Time, Workers: o.Workers})
		},
	},
}

// Names lists the format names.
func Names() []string {
	names := make([]string, len(All))
	for i, f := range All {
		names[i] = f.Name
	}
	return names
}

// Lookup finds a format by name.
func Lookup(name string) (Format, error) {
	for _, f := range All {
		if f.Name == name {
			return f, nil
		}
	}
	return Format{}, fmt.Errorf("unknown format %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// OutputName is the file name a conversion of src gets: its name without
// a .raw or .img extension, plus the format's.
func (f Format) OutputName(src string) string {
	base := filepath.Base(src)
	for _, ext := range []string{".raw", ".img"} {
		base = strings.TrimSuffix(base, ext)
	}
	return base + "." + f.Extension
}

// Result describes a converted image.
type Result struct {
	Path        string
	Size        int64 // the file's size
	VirtualSize int64 // the disk it holds
	// Reuse says how Options.Reuse served; nil when none was given.
	Reuse *ReuseStats
}

// Convert writes src, a raw disk image, to dst in format f. The image goes
// to a temporary file next to dst, renamed into place only when complete,
// so a failed or killed run leaves no partial output. Like qemu-img, it
// does not fsync: the rename already protects against a killed run, and
// forcing the data to disk would cost more than the conversion.
func Convert(ctx context.Context, src, dst string, f Format, o Options) (*Result, error) {
	p, err := ConvertPending(ctx, src, dst, f, o)
	if err != nil {
		return nil, err
	}
	if err := p.Commit(); err != nil {
		return nil, err
	}
	return p.Result, nil
}

// Pending is a conversion written under a temporary name beside its
// destination, not yet in place: what describes it (a manifest) can be
// written from it first.
type Pending struct {
	*Result
	file *atomicfile.File
}

// TempPath is where the image is until Commit.
func (p *Pending) TempPath() string { return p.file.Name() }

// Commit renames the image to its destination.
func (p *Pending) Commit() error { return p.file.Commit() }

// Discard removes the image; after Commit it does nothing.
func (p *Pending) Discard() { _ = p.file.Abort(nil) }

// ConvertPending is Convert without the rename: the image is complete at
// TempPath, and the caller commits or discards it.
func ConvertPending(ctx context.Context, src, dst string, f Format, o Options) (_ *Pending, err error) {
	if !o.VM.IsZero() && !f.HasVM {
		return nil, fmt.Errorf("CPUs, memory and network describe the virtual machine of an OVA; the %s format has none", f.Name)
	}
	disk, err := rawdisk.Open(src)
	if err != nil {
		return nil, err
	}
	defer disk.Close()
	base := disk
	if l := o.Layer; l != nil {
		if disk, err = rawdisk.Layered(base, l.Image, l.Shift, l.Changes); err != nil {
			return nil, err
		}
	}
	if in, err := os.Stat(src); err == nil {
		if out, err := os.Stat(dst); err == nil && os.SameFile(in, out) {
			return nil, fmt.Errorf("%s would overwrite its own input; write to another directory", dst)
		}
	}

	reused, err := openReuse(o.Reuse, f, src, base)
	if err != nil {
		return nil, err
	}
	defer reused.close()

	tmp, err := atomicfile.Create(dst, 0o600)
	if err != nil {
		return nil, err
	}
	defer tmp.AbortOnError(&err)
	size, err := f.write(ctx, tmp.File, disk, o, filepath.Base(dst), reused.writerBase())
	if err != nil {
		return nil, err
	}
	if end, err := tmp.Seek(0, io.SeekEnd); err != nil || end != size {
		return nil, fmt.Errorf("%s writer produced %d bytes, reported %d (%v)", f.Name, end, size, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("closing output: %w", err)
	}
	res := &Result{Path: dst, Size: size, VirtualSize: f.VirtualSize(disk.Size()), Reuse: reused.stats()}
	return &Pending{Result: res, file: tmp}, nil
}
