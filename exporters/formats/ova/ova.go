package ova

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/formats/internal/countw"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/exporters/formats/vmdk"
)

// Options describe the virtual machine in the OVF descriptor. The zero
// value of each field takes the default noted; providers override them.
type Options struct {
	Name            string // VM name and the package's file stem (default "strata")
	CPUs            int    // default 2
	MemoryMiB       int    // default 4096
	Firmware        string // "efi" (default) or "bios"
	HardwareVersion string // default "vmx-14" (ESXi 6.7 and later)
	// OSID and OSType: the CIM operating system ID and VMware's guest ID
	// (default 101 / "otherLinux64Guest": 64-bit Linux).
	OSID   int
	OSType string
	// SCSIController is the disk controller (default "VirtualSCSI", i.e.
	// pvscsi; "lsilogic" for kernels without vmw_pvscsi).
	SCSIController string
	NIC            string // default "VmxNet3"
	Network        string // the logical network (default "VM Network")

	// Seed, Time and Workers are passed on to the VMDK writer and the tar.
	Seed    string
	Time    time.Time
	Workers int
}

func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Name, "strata")
	def(&o.Firmware, "efi")
	def(&o.HardwareVersion, "vmx-14")
	def(&o.OSType, "otherLinux64Guest")
	def(&o.SCSIController, "VirtualSCSI")
	def(&o.NIC, "VmxNet3")
	def(&o.Network, "VM Network")
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = 4096
	}
	if o.OSID == 0 {
		o.OSID = 101
	}
	return o
}

// Write writes the OVA for src to dst. The VMDK goes to a temporary file
// in dir first (its size and digest head the archive), then the tar:
// NAME.ovf, NAME-disk1.vmdk, NAME.mf. It returns the package's size.
func Write(ctx context.Context, dst io.Writer, dir string, src *rawdisk.Disk, o Options) (int64, error) {
	o = o.withDefaults()
	if o.Firmware != "efi" && o.Firmware != "bios" {
		return 0, fmt.Errorf("ova: firmware %q is neither efi nor bios", o.Firmware)
	}
	if strings.ContainsAny(o.Name, "/\\") || len(o.Name) > 80 {
		return 0, fmt.Errorf("ova: name %q cannot name files in the package", o.Name)
	}
	vmdkName := o.Name + "-disk1.vmdk"
	tmp, err := os.CreateTemp(dir, atomicfile.Pattern(vmdkName))
	if err != nil {
		return 0, fmt.Errorf("ova: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	vmdkSum := sha256.New()
	vmdkSize, err := vmdk.Write(ctx, io.MultiWriter(tmp, vmdkSum), src, vmdk.Options{Seed: o.Seed, FileName: vmdkName, Workers: o.Workers})
	if err != nil {
		return 0, fmt.Errorf("ova: %w", err)
	}
	ovf, err := descriptor(o, vmdkName, vmdkSize, vmdk.Capacity(src.Size()))
	if err != nil {
		return 0, fmt.Errorf("ova: %w", err)
	}
	ovfName, mfName := o.Name+".ovf", o.Name+".mf"
	ovfSum := sha256.Sum256(ovf)
	mf := fmt.Sprintf("SHA256(%s)= %s\nSHA256(%s)= %s\n", ovfName, hex.EncodeToString(ovfSum[:]), vmdkName, hex.EncodeToString(vmdkSum.Sum(nil)))

	cw := &countw.Writer{W: dst}
	tw := tar.NewWriter(cw)
	entry := func(name string, size int64, body io.Reader) error {
		// OVA wants plain ustar: every name here is short and ASCII.
		h := &tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: o.Time.Truncate(time.Second), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if o.Time.IsZero() {
			h.ModTime = time.Unix(0, 0)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, body)
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("ova: %w", err)
	}
	for _, e := range []struct {
		name string
		size int64
		body io.Reader
	}{
		{ovfName, int64(len(ovf)), strings.NewReader(string(ovf))},
		{vmdkName, vmdkSize, tmp},
		{mfName, int64(len(mf)), strings.NewReader(mf)},
	} {
		if err := entry(e.name, e.size, e.body); err != nil {
			return cw.N, fmt.Errorf("ova: writing %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return cw.N, fmt.Errorf("ova: %w", err)
	}
	return cw.N, nil
}

// Stem is the file stem Write names the package's files after, for a
// package written to path: its base name without ".ova".
func Stem(path string) string { return strings.TrimSuffix(filepath.Base(path), ".ova") }
