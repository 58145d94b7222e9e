package ova

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/exporters/formats/vmdk"
)

func write(t *testing.T, raw string, o Options) []byte {
	t.Helper()
	src, err := rawdisk.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	dir := t.TempDir()
	n, err := Write(context.Background(), &out, dir, src, o)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(out.Len()) {
		t.Fatalf("Write reported %d bytes, wrote %d", n, out.Len())
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	return out.Bytes()
}

func TestPackageLayoutAndDigests(t *testing.T) {
	testdisk.NeedQemuImg(t)
	dir := t.TempDir()
	raw := testdisk.Synthetic(t, dir, 30<<20+5*512, 1)
	data := write(t, raw, Options{Name: "node", Seed: "s", Time: time.Unix(1700000000, 0)})

	vmdkPath := filepath.Join(dir, "extracted.vmdk")
	p, err := Read(bytes.NewReader(data), func(name string, r io.Reader) error {
		if !strings.HasSuffix(name, ".vmdk") {
			return nil
		}
		f, err := os.Create(vmdkPath)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(f, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range p.Files {
		names = append(names, f.Name)
	}
	if want := []string{"node.ovf", "node-disk1.vmdk", "node.mf"}; !slices.Equal(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
	st, _ := os.Stat(raw)
	if len(p.Disks) != 1 || p.Disks[0].File != "node-disk1.vmdk" || p.Disks[0].Capacity != vmdk.Capacity(st.Size()) ||
		!strings.HasSuffix(p.Disks[0].Format, "#streamOptimized") {
		t.Errorf("disks %+v", p.Disks)
	}
	// The VMDK inside is the one the vmdk package writes: qemu-img agrees.
	info := testdisk.QemuInfo(t, vmdkPath, "")
	if info.Format != "vmdk" || info.FormatSpecific.Data.CreateType != "streamOptimized" {
		t.Errorf("qemu-img: %+v", info)
	}
	testdisk.QemuCompare(t, raw, vmdkPath, "vmdk")
}

// TestDescriptor checks the defaults, overrides, and that every hardware
// item lists its elements in the CIM schema's (alphabetical) order.
func TestDescriptor(t *testing.T) {
	d, err := descriptor(Options{CPUs: 4, Firmware: "bios", SCSIController: "lsilogic"}.withDefaults(), "x-disk1.vmdk", 12345, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	s := string(d)
	for _, want := range []string{
		`<File ovf:href="x-disk1.vmdk" ovf:id="file1" ovf:size="12345"></File>`,
		`ovf:capacity="1073741824"`, "<vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>",
		"<rasd:VirtualQuantity>4</rasd:VirtualQuantity>", "<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>",
		`vmw:key="firmware" vmw:value="bios"`, "<rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>",
		"<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>", `vmw:osType="otherLinux64Guest"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("descriptor lacks %s", want)
		}
	}
	dec := xml.NewDecoder(bytes.NewReader(d))
	var inItem bool
	var last string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch {
			case el.Name.Local == "Item":
				inItem, last = true, ""
			case inItem && el.Name.Space == nsRASD:
				if el.Name.Local < last {
					t.Errorf("rasd:%s after rasd:%s", el.Name.Local, last)
				}
				last = el.Name.Local
			}
		case xml.EndElement:
			if el.Name.Local == "Item" {
				inItem = false
			}
		}
	}
}

func TestReadCatchesTampering(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), 4<<20, 2)
	data := write(t, raw, Options{})
	if _, err := Read(bytes.NewReader(data), nil); err != nil {
		t.Fatalf("untouched package: %v", err)
	}
	// Flip a byte inside the VMDK's grain data (past the OVF and headers).
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0xff
	if _, err := Read(bytes.NewReader(bad), nil); err == nil || !strings.Contains(err.Error(), "SHA256") {
		t.Fatalf("tampered package: %v, want a digest mismatch", err)
	}
}

func TestDeterministic(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), 4<<20, 3)
	a := write(t, raw, Options{Seed: "x", Time: time.Unix(1, 0)})
	b := write(t, raw, Options{Seed: "x", Time: time.Unix(1, 0), Workers: 1})
	if !bytes.Equal(a, b) {
		t.Error("same disk, seed and time gave different packages")
	}
}

func TestRejectsBadOptions(t *testing.T) {
	src := rawdisk.New(bytes.NewReader(make([]byte, 1<<20)), 1<<20)
	for _, o := range []Options{{Firmware: "uefi"}, {Name: "a/b"}} {
		if _, err := Write(context.Background(), io.Discard, t.TempDir(), src, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
