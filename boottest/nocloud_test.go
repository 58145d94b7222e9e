package boottest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

func TestNoCloudSeed(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.img")
	s := NoCloudSeed{UserData: "#cloud-config\nruncmd: [echo hi]\n", MetaData: "instance-id: test-1\n"}
	if err := s.Write(seed); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(seed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := fat32.Read(file.New(f, true), info.Size(), 0, 512)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"/user-data": s.UserData, "/meta-data": s.MetaData} {
		r, err := fs.OpenFile(name, os.O_RDONLY)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != want {
			t.Errorf("%s holds %q (%v), want %q", name, got, err, want)
		}
	}
	if _, err := fs.OpenFile("/network-config", os.O_RDONLY); err == nil {
		t.Error("network-config written without being asked for")
	}
	// cloud-init finds the seed by the label blkid reports.
	if _, err := exec.LookPath("blkid"); err != nil {
		t.Log("no blkid here: the label is not checked as cloud-init's lookup reads it")
	} else {
		out, err := exec.Command("blkid", "-p", "-o", "value", "-s", "LABEL", seed).Output()
		if err != nil {
			t.Fatalf("blkid: %v", err)
		}
		if label := strings.TrimSpace(string(out)); label != "cidata" && label != "CIDATA" {
			t.Errorf("blkid reads the label %q, want cidata", label)
		}
	}
}

func TestArgsReadOnlyDrives(t *testing.T) {
	o, _ := Options{Disk: "/d.raw", ReadOnlyDrives: []string{"/seed,1.img"}}.withDefaults()
	line := strings.Join(o.args("/c", "/v"), " ")
	want := "-drive file=/d.raw,if=virtio,format=raw,snapshot=on -drive file=/seed,,1.img,if=virtio,format=raw,readonly=on"
	if !strings.Contains(line, want) {
		t.Errorf("args %q lack %q", line, want)
	}
}
