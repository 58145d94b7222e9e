package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/exporters/disk"
	"github.com/strata-dev/strata/exporters/formats"
)

// secretValue is what the build was "given" as a secret; the dirty image
// leaks it into a file.
const secretValue = "s3cr3t-registry-token-42"

const nodeChecks = `checks:
  - file: /etc/hostname
    contains: node-1
    mode: "0644"
    owner: root
  - package: containerd
    versionPrefix: "1.6."
  - service: kubelet
  - sysctl: net.ipv4.ip_forward
    value: 1
  - module: br_netfilter
  - cmdline: console=ttyS0
`

// nodeTree writes a small root filesystem that passes nodeChecks: stand-in
// boot files (so the assembler makes a bootable layout), a merged /usr, a
// dpkg database, an enabled kubelet, a sysctl and a module. With dirty,
// it also carries the defects hygiene exists for.
func nodeTree(t *testing.T, root string, dirty bool) {
	t.Helper()
	files := map[string]string{
		"boot/vmlinuz-6.1.0-test":                      "fake-kernel for tests (not a real vmlinuz)\n",
		"boot/initrd.img-6.1.0-test":                   "fake-initrd for tests (not a real initramfs)\n",
		"usr/lib/systemd/boot/efi/systemd-bootx64.efi": "fake-systemd-boot for tests\n",
		"etc/hostname":                                 "node-1\n",
		"etc/passwd":                                   "root:x:0:0:root:/root:/bin/bash\n",
		"etc/group":                                    "root:x:0:\n",
		"etc/machine-id":                               "",
		"var/lib/dpkg/status":                          "Package: containerd\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.6.20~ds1-1+b1\n",
		"usr/lib/systemd/system/kubelet.service":       "[Service]\nExecStart=/usr/bin/kubelet\n[Install]\nWantedBy=multi-user.target\n",
		"etc/sysctl.d/99-kubernetes.conf":              "net.ipv4.ip_forward = 1\n",
		"etc/modules-load.d/kubernetes.conf":           "overlay\nbr_netfilter\n",
		"var/log/dpkg.log":                             "installed containerd\n",
	}
	links := map[string]string{
		"lib": "usr/lib", "bin": "usr/bin", "sbin": "usr/sbin",
		"etc/systemd/system/multi-user.target.wants/kubelet.service": "/lib/systemd/system/kubelet.service",
		"etc/resolv.conf": "../run/systemd/resolve/stub-resolv.conf",
	}
	if dirty {
		files["etc/ssh/ssh_host_ed25519_key"] = "-----BEGIN OPENSSH PRIVATE KEY-----\n"
		files["root/.bash_history"] = "docker login -p " + secretValue + "\n"
		files["etc/app/registry.env"] = "TOKEN=" + secretValue + "\n"
		files["etc/resolv.conf"] = "# copied from the build machine\nnameserver 192.0.2.53\n"
		delete(links, "etc/resolv.conf")
	}
	for _, d := range []string{"usr/bin", "usr/sbin", "run", "root", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for p, content := range files {
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, p), []byte(content), 0o644))
	}
	for p, target := range links {
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		must(t, os.Symlink(target, filepath.Join(root, p)))
	}
}

// nodeDisk assembles a raw disk from nodeTree.
func nodeDisk(t *testing.T, dir string, dirty bool) string {
	t.Helper()
	for _, tool := range []string{"mke2fs", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: %v", tool, err)
		}
	}
	tree := filepath.Join(dir, "tree")
	nodeTree(t, tree, dirty)
	out := filepath.Join(dir, "disk.raw")
	_, err := disk.Assemble(context.Background(), tree, out, disk.Options{
		Size: 160 << 20, ESPSize: 64 << 20, Seed: "inspect-checks", Cmdline: "console=ttyS0",
		Epoch: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
	})
	must(t, err)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, content string) string {
	t.Helper()
	must(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestInspectChecksCleanImagePasses(t *testing.T) {
	dir := t.TempDir()
	raw := nodeDisk(t, dir, false)
	checksFile := writeFile(t, filepath.Join(dir, "node-checks.yaml"), nodeChecks)
	secret := writeFile(t, filepath.Join(dir, "token"), secretValue+"\n")
	out, err := strata(t, "inspect", "--checks", checksFile, "--secret-value-file", secret, raw)
	if err != nil {
		t.Fatalf("strata inspect: %v\n%s", err, out)
	}
	for _, want := range []string{
		"systemd-boot: default", // the partition and boot report is still there
		"\nchecks:\nSTATUS",
		"ESP:/loader/entries/",
		"15 checks: 15 passed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, r := range [][]string{
		{"PASS", "ssh-host-keys", "hygiene", "none found"},
		{"PASS", "secrets", "hygiene", "scanned for 1 secret(s)"},
		{"PASS", "service kubelet.service", "node-checks.yaml:8", "enabled (/etc/systemd/system/multi-user.target.wants/kubelet.service)"},
		{"PASS", "sysctl net.ipv4.ip_forward", "node-checks.yaml:9", "1 (set by /etc/sysctl.d/99-kubernetes.conf:1)"},
	} {
		wantRow(t, out, r[0], r[1], r[2:]...)
	}
}

// TestInspectChecksFindPlantedDefects runs the CLI on the dirty image as
// raw, qcow2, OVA and GCE tar.gz: each must fail the same four hygiene
// checks, name the paths, pass the node's own checks, and write JUnit.
func TestInspectChecksFindPlantedDefects(t *testing.T) {
	dir := t.TempDir()
	raw := nodeDisk(t, dir, true)
	checksFile := writeFile(t, filepath.Join(dir, "node-checks.yaml"), nodeChecks)
	secret := writeFile(t, filepath.Join(dir, "registry-token"), secretValue+"\n")
	images := map[string]string{"raw": raw}
	for _, name := range []string{"qcow2", "ova", "gce"} {
		f, err := formats.Lookup(name)
		must(t, err)
		dst := filepath.Join(dir, "disk-"+name+"."+f.Extension)
		_, err = formats.Convert(context.Background(), raw, dst, f, formats.Options{Seed: "inspect"})
		must(t, err)
		images[name] = dst
	}
	for format, img := range images {
		t.Run(format, func(t *testing.T) {
			junit := filepath.Join(t.TempDir(), "checks.xml")
			out, err := strata(t, "inspect", "--checks", checksFile, "--secret-value-file", secret, "--junit", junit, img)
			if err == nil || !strings.Contains(err.Error(), "4 check(s) failed") {
				t.Fatalf("strata inspect: err %v, want 4 failed checks\n%s", err, out)
			}
			for _, r := range [][]string{
				{"FAIL", "ssh-host-keys", "hygiene", "found /etc/ssh/ssh_host_ed25519_key"},
				{"FAIL", "resolv-conf", "hygiene", "/etc/resolv.conf: want a symlink", "nameserver 192.0.2.53"},
				{"FAIL", "shell-history", "hygiene", "found /root/.bash_history"},
				{"FAIL", "secrets", "hygiene", "/etc/app/registry.env holds registry-token", "/root/.bash_history holds registry-token"},
				{"PASS", "machine-id", "hygiene"},
				{"PASS", "package containerd", "node-checks.yaml:6", "1.6.20~ds1-1+b1"},
				{"PASS", "cmdline console=ttyS0", "node-checks.yaml:12"},
			} {
				wantRow(t, out, r[0], r[1], r[2:]...)
			}
			if !strings.Contains(out, "15 checks: 11 passed, 4 failed") {
				t.Errorf("no count line:\n%s", out)
			}
			if strings.Contains(out, secretValue) {
				t.Errorf("the report prints the secret value:\n%s", out)
			}
			checkJUnit(t, junit, map[string]bool{"ssh-host-keys": true, "resolv-conf": true, "shell-history": true, "secrets": true})
		})
	}
}

// wantRow finds the table row of a check (STATUS, then CHECK) and wants
// the other words in it.
func wantRow(t *testing.T, out string, status, check string, words ...string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != status || !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(line, status)), check+"  ") {
			continue
		}
		for _, w := range words {
			if !strings.Contains(line, w) {
				t.Errorf("row %q lacks %q", line, w)
			}
		}
		return
	}
	t.Errorf("no %s row for %s in:\n%s", status, check, out)
}

func checkJUnit(t *testing.T, p string, failing map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit: %v\n%s", err, b)
	}
	if doc.Tests != 16 || doc.Failures != len(failing) || len(doc.Suites) != 1 {
		t.Fatalf("JUnit counts: %d tests, %d failures\n%s", doc.Tests, doc.Failures, b)
	}
	for _, c := range doc.Suites[0].Cases {
		if (c.Failure != nil) != failing[c.Name] {
			t.Errorf("JUnit case %s (%s): failure %+v", c.Name, c.Classname, c.Failure)
		}
		if c.Failure != nil && c.Failure.Message == "" {
			t.Errorf("JUnit case %s: a failure without a message", c.Name)
		}
	}
	if strings.Contains(string(b), secretValue) {
		t.Error("the JUnit report holds the secret value")
	}
}

func TestInspectChecksJSONAndNoContent(t *testing.T) {
	dir := t.TempDir()
	raw := nodeDisk(t, dir, true)
	out, err := strata(t, "inspect", "--json", raw)
	if err == nil {
		t.Fatal("a dirty image passed")
	}
	var rep struct {
		Partitions []json.RawMessage `json:"partitions"`
		Checks     []struct {
			Name, Source, Status, Path string
		} `json:"checks"`
	}
	must(t, json.Unmarshal([]byte(out), &rep))
	failed := map[string]string{}
	for _, c := range rep.Checks {
		if c.Status != "pass" {
			failed[c.Name] = c.Status + " " + c.Path
		}
	}
	if len(rep.Partitions) != 2 || failed["ssh-host-keys"] != "fail /etc/ssh/ssh_host_ed25519_key" ||
		failed["resolv-conf"] != "fail /etc/resolv.conf" || failed["secrets"] != "skip " {
		t.Errorf("JSON report: %d partitions, failing %v", len(rep.Partitions), failed)
	}

	// --no-content: the partition report alone, which has no problems;
	// the JUnit file says so in one test case.
	junit := filepath.Join(dir, "junit.xml")
	out, err = strata(t, "inspect", "--no-content", "--junit", junit, raw)
	if err != nil || strings.Contains(out, "checks:") {
		t.Errorf("--no-content: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `<testcase name="partitions and boot entry" classname="inspect">`) ||
		!strings.Contains(string(b), `tests="1" failures="0"`) {
		t.Errorf("--no-content JUnit (%v):\n%s", err, b)
	}
	// --no-hygiene: only the file's checks, which pass.
	checksFile := writeFile(t, filepath.Join(dir, "c.yaml"), nodeChecks)
	out, err = strata(t, "inspect", "--no-hygiene", "--checks", checksFile, raw)
	if err != nil || !strings.Contains(out, "6 checks: 6 passed") {
		t.Errorf("--no-hygiene: %v\n%s", err, out)
	}
}

func TestInspectRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "x.zip")
	f, err := os.Create(zipPath)
	must(t, err)
	zw := zip.NewWriter(f)
	w, err := zw.Create("disk.raw")
	must(t, err)
	_, err = w.Write([]byte("not a disk"))
	must(t, err)
	must(t, zw.Close())
	must(t, f.Close())
	_, err = strata(t, "inspect", zipPath)
	if err == nil || err.Error() != zipPath+": a zip archive, not a disk image: strata inspect reads raw, qcow2, VHD, VMDK, OVA and GCE tar.gz" {
		t.Errorf("a zip: %v", err)
	}

	bad := writeFile(t, filepath.Join(dir, "bad.yaml"), "checks:\n  - file: /etc/x\n    mode: \"0999\"\n  - servce: kubelet\n")
	_, err = strata(t, "inspect", "--checks", bad, zipPath)
	if err == nil || !strings.Contains(err.Error(), bad+":3:11: checks[0].mode: mode \"0999\"") ||
		!strings.Contains(err.Error(), bad+":4:5: checks[1]: no kind") {
		t.Errorf("a bad check file: %v", err)
	}
	short := writeFile(t, filepath.Join(dir, "short"), "abc\n")
	if _, err := strata(t, "inspect", "--secret-value-file", short, zipPath); err == nil || !strings.Contains(err.Error(), "match by chance") {
		t.Errorf("a short secret: %v", err)
	}
}
