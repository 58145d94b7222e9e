// Package diskimage opens a disk image in any format strata writes (raw,
// qcow2, VHD, VMDK, and the OVA and GCE archives that hold one) for offline
// inspection: the partition and boot report of exporters/disk.Inspect, and
// the root filesystem, read with debugfs.
package diskimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/checks/debugfs"
	"github.com/strata-dev/strata/exporters/disk"
	"github.com/strata-dev/strata/exporters/formats"
	"github.com/strata-dev/strata/exporters/formats/gce"
	"github.com/strata-dev/strata/exporters/formats/ova"
)

// Image is an opened disk image.
type Image struct {
	// Path is the file as given.
	Path string
	// Report is what disk.Inspect found, with Path and Format describing
	// the file as given ("ova" and "gce" for the archives).
	Report *disk.Report

	disk       string // the disk file Inspect read: Path, or one unpacked from it
	diskFormat string // its format, as exporters/formats names it
	work       string // scratch directory, or ""
}

// Open reads the partition table and boot configuration of the disk in
// the file at p. An archive is unpacked into a scratch directory first;
// Close removes it.
func Open(ctx context.Context, p string) (_ *Image, err error) {
	head, err := readHead(p)
	if err != nil {
		return nil, err
	}
	img := &Image{Path: p, disk: p}
	defer func() {
		if err != nil {
			img.Close()
		}
	}()
	k, what := sniff(head)
	switch k {
	case kindOther:
		return nil, fmt.Errorf("%s: %s, not a disk image: %s", p, what, Readable)
	case kindGzip:
		err = img.unpackGCE(ctx)
	case kindTar:
		err = img.unpackOVA(ctx)
	}
	if err != nil {
		return nil, err
	}
	rep, err := disk.Inspect(img.disk)
	if err != nil {
		if k == kindDisk && !hasGPT(head) && isRaw(p) {
			return nil, fmt.Errorf("%s: no GPT partition table, so not a disk image strata can read: %s", p, Readable)
		}
		return nil, err
	}
	img.diskFormat = rep.Format
	if img.disk != p {
		rep.Path = p
		rep.Format = map[kind]string{kindGzip: "gce", kindTar: "ova"}[k]
		rep.Allocated = allocated(p)
	}
	img.Report = rep
	return img, nil
}

// Disk is the disk image file itself and its format (raw, qcow2, vhd or
// vmdk): Path, or for an archive the disk unpacked from it, which lives
// until Close. It is what a VM boots.
func (img *Image) Disk() (path, format string) { return img.disk, img.diskFormat }

// Close removes what Open and RootFS unpacked.
func (img *Image) Close() error {
	if img.work == "" {
		return nil
	}
	return os.RemoveAll(img.work)
}

func readHead(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: a directory, not a disk image: %s", p, Readable)
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return head[:n], nil
}

func isRaw(p string) bool {
	f, err := formats.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Format == "raw"
}

func allocated(p string) int64 {
	var st unix.Stat_t
	if unix.Stat(p, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}

func (img *Image) scratch() (string, error) {
	if img.work == "" {
		dir, err := os.MkdirTemp("", "strata-inspect-")
		if err != nil {
			return "", err
		}
		img.work = dir
	}
	return img.work, nil
}

// unpackGCE extracts a GCE archive's disk.raw, sparse, into the scratch
// directory.
func (img *Image) unpackGCE(ctx context.Context) error {
	dir, err := img.scratch()
	if err != nil {
		return err
	}
	src, err := os.Open(img.Path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, gce.FileName))
	if err != nil {
		return err
	}
	defer dst.Close()
	e, err := gce.Extract(ctxReader{ctx, src}, dst)
	if err != nil {
		return fmt.Errorf("%s: a gzip'd file, but not a GCE image (%w): %s", img.Path, err, Readable)
	}
	if err := dst.Truncate(e.Size); err != nil {
		return err
	}
	img.disk = dst.Name()
	return nil
}

// unpackOVA copies the OVA's (first) VMDK into the scratch directory; the
// VMDK stays compressed and is read through its format's reader.
func (img *Image) unpackOVA(ctx context.Context) error {
	dir, err := img.scratch()
	if err != nil {
		return err
	}
	src, err := os.Open(img.Path)
	if err != nil {
		return err
	}
	defer src.Close()
	var vmdks []string
	pkg, err := ova.Read(ctxReader{ctx, src}, func(name string, r io.Reader) error {
		if !strings.EqualFold(path.Ext(name), ".vmdk") {
			return nil
		}
		out := filepath.Join(dir, fmt.Sprintf("disk%d.vmdk", len(vmdks)+1))
		vmdks = append(vmdks, out)
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return fmt.Errorf("%s: a tar archive, but not an OVA strata can read (%w): %s", img.Path, err, Readable)
	}
	if len(vmdks) == 0 || len(pkg.Disks) == 0 {
		return fmt.Errorf("%s: the OVA holds no VMDK disk", img.Path)
	}
	img.disk = vmdks[0]
	return nil
}

// ctxReader makes a long copy stop when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// RootPartition is the partition the root filesystem is on: the one the
// default boot entry's root=PARTUUID= names, else the one typed as an
// x86-64 root (Discoverable Partitions), else the only ext4 one.
func (img *Image) RootPartition() (*disk.PartitionReport, error) {
	parts := img.Report.Partitions
	isExt4 := func(p *disk.PartitionReport) bool { return p.Filesystem != nil && p.Filesystem.Type == "ext4" }
	if e := img.Report.DefaultEntry(); e != nil {
		for _, arg := range strings.Fields(e.Cmdline) {
			id, ok := strings.CutPrefix(arg, "root=PARTUUID=")
			if !ok {
				continue
			}
			for i := range parts {
				if strings.EqualFold(parts[i].GUID, id) && isExt4(&parts[i]) {
					return &parts[i], nil
				}
			}
		}
	}
	var ext4 []*disk.PartitionReport
	for i := range parts {
		if !isExt4(&parts[i]) {
			continue
		}
		if parts[i].TypeGUID == disk.TypeRootX86_64 {
			return &parts[i], nil
		}
		ext4 = append(ext4, &parts[i])
	}
	switch len(ext4) {
	case 1:
		return ext4[0], nil
	case 0:
		return nil, fmt.Errorf("%s: no ext4 partition to check the content of", img.Path)
	}
	return nil, fmt.Errorf("%s: %d ext4 partitions and none is marked as the root (type %s or root=PARTUUID=)", img.Path, len(ext4), disk.TypeRootX86_64)
}

// RootFS opens the root filesystem with debugfs. A raw disk is read in
// place at the partition's offset; any other format has its root
// partition copied out first, as a sparse raw file in the scratch
// directory (all-zero blocks are not written), since debugfs reads raw
// files only.
func (img *Image) RootFS(ctx context.Context) (*debugfs.FS, error) {
	p, err := img.RootPartition()
	if err != nil {
		return nil, err
	}
	src, err := formats.Open(img.disk)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if src.Format == "raw" {
		return debugfs.Open(ctx, img.disk, p.Start)
	}
	dir, err := img.scratch()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, fmt.Sprintf("root-p%d.ext4", p.Number))
	if err := copyPartition(ctx, out, src, p.Start, p.End-p.Start); err != nil {
		return nil, fmt.Errorf("%s: copying the root partition out of the %s image: %w", img.Path, src.Format, err)
	}
	return debugfs.Open(ctx, out, 0)
}

// copyPartition writes n bytes of src from off to a new sparse file.
func copyPartition(ctx context.Context, out string, src io.ReaderAt, off, n int64) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(n); err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	for done := int64(0); done < n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf[:min(int64(len(buf)), n-done)]
		r, err := src.ReadAt(chunk, off+done)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		clear(chunk[r:]) // past the end of the virtual disk: zeros

		if err := disk.WriteAtSkippingZeros(f, chunk, done); err != nil {
			return err
		}
		done += int64(len(chunk))
	}
	return f.Close()
}
