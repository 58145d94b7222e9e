package disk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	ordered := []string{"5.10.0-28-amd64", "6.1.0-9-amd64", "6.1.0-18-amd64", "6.1.0-18-cloud-amd64", "6.9.0", "6.10.0", "6.10.0-1"}
	for i := range ordered {
		for j := range ordered {
			got := compareVersions(ordered[i], ordered[j])
			switch {
			case i < j && got >= 0, i > j && got <= 0, i == j && got != 0:
				t.Errorf("compare(%s, %s) = %d", ordered[i], ordered[j], got)
			}
		}
	}
}

// writeTree creates files (path -> content; content "->x" makes a symlink
// to x) under a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const sdBoot = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"

func TestFindBootFilesNewest(t *testing.T) {
	root := writeTree(t, map[string]string{
		"boot/vmlinuz-6.9.0-amd64":     "k69",
		"boot/initrd.img-6.9.0-amd64":  "i69",
		"boot/vmlinuz-6.10.0-amd64":    "k610",
		"boot/initrd.img-6.10.0-amd64": "i610",
		sdBoot:                         "sd",
		sdBoot + ".signed":             "sd-signed",
	})
	b, err := findBootFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if b.KernelVersion != "6.10.0-amd64" || b.Kernel != "/boot/vmlinuz-6.10.0-amd64" || b.Initrd != "/boot/initrd.img-6.10.0-amd64" {
		t.Errorf("picked %+v", b)
	}
	if b.Loader != "/"+sdBoot+".signed" {
		t.Errorf("loader %s, want the signed one", b.Loader)
	}
}

func TestFindBootFilesLinks(t *testing.T) {
	// Only unversioned links; absolute targets must resolve inside the
	// tree, never on the host (which has no /boot/kernel-strata-test).
	root := writeTree(t, map[string]string{
		"vmlinuz":                    "->/boot/kernel-strata-test",
		"initrd.img":                 "->boot/../boot/initrd-link",
		"boot/initrd-link":           "->/boot/initrd.img-9.9.9-test",
		"boot/kernel-strata-test":    "k",
		"boot/initrd.img-9.9.9-test": "i",
		sdBoot:                       "sd",
	})
	b, err := findBootFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if b.Kernel != "/boot/kernel-strata-test" || b.Initrd != "/boot/initrd.img-9.9.9-test" || b.KernelVersion != "" {
		t.Errorf("via links: %+v", b)
	}
}

func TestFindBootFilesMissing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no kernel", map[string]string{sdBoot: "sd"}, "linux-image-"},
		{"no initrd", map[string]string{"boot/vmlinuz-6.1.0": "k", sdBoot: "sd"}, "initramfs-tools"},
		{"no systemd-boot", map[string]string{"boot/vmlinuz-6.1.0": "k", "boot/initrd.img-6.1.0": "i"}, "systemd-boot-efi"},
		{"dangling kernel", map[string]string{"boot/vmlinuz-6.1.0": "->/nowhere", sdBoot: "sd"}, "linux-image-"},
	} {
		_, err := findBootFiles(writeTree(t, tc.files))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestResolveInRootStaysInside(t *testing.T) {
	root := writeTree(t, map[string]string{
		"etc/marker": "tree",
		"a/up":       "->../../../../etc",
		"a/abs":      "->/etc/marker",
		"a/loop":     "->loop",
	})
	for link, want := range map[string]string{"/a/up": "/etc", "/a/abs": "/etc/marker", "/a/up/marker": "/etc/marker"} {
		if got, err := resolveInRoot(root, link); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want %s", link, got, err, want)
		}
	}
	if _, err := resolveInRoot(root, "/a/loop"); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("loop: %v", err)
	}
}
