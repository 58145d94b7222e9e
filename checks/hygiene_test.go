package checks

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// cleanTree is an image that passes every hygiene check, with the
// near misses each check must let through.
func cleanTree() fstest.MapFS {
	return merged(fstest.MapFS{
		"etc/machine-id":                        file(""),
		"var/lib/dbus/machine-id":               link("/etc/machine-id"),
		"etc/ssh/sshd_config":                   file("PermitRootLogin no\n"),
		"etc/ssh/ssh_host_rsa_key.pub":          file("ssh-rsa AAAA"), // a public key alone is harmless
		"etc/resolv.conf":                       link("../run/systemd/resolve/stub-resolv.conf"),
		"var/lib/apt/lists/lock":                file(""),
		"var/lib/apt/lists/partial/x_InRelease": file("in progress"),
		"var/lib/apt/lists/auxfiles":            dir(),
		"var/lib/cloud/scripts/per-boot":        dir(),
		"var/log/dpkg.log":                      file(strings.Repeat("x", 1000)),
		"var/log/journal":                       dir(),
		"root/.bashrc":                          file("PS1=x\n"),
		"home/user/.profile":                    file("x\n"),
		"tmp/core-utils.txt":                    file("not a core dump"),
		"tmp/cores":                             dir(),
		"var/crash":                             dir(),
		"usr/share/doc/README":                  file("hello"),
	})
}

func TestHygienePassesACleanImage(t *testing.T) {
	results := Run(t.Context(), Image{Root: cleanTree()}, Hygiene(HygieneOptions{
		Secrets: []Secret{{Name: "token.txt", Value: []byte("s3cr3t-t0ken-value")}},
	}))
	if len(results) != len(HygieneNames()) {
		t.Fatalf("%d results for %d hygiene checks", len(results), len(HygieneNames()))
	}
	for _, r := range results {
		if r.Status != Pass || r.Source != HygieneSource {
			t.Errorf("%s (%s): %s %s", r.Name, r.Source, r.Status, r.Detail)
		}
	}
}

// TestHygieneFindsEachDefect plants one defect per check and expects
// exactly that check to fail, naming the path.
func TestHygieneFindsEachDefect(t *testing.T) {
	secret := Secret{Name: "token.txt", Value: []byte("s3cr3t-t0ken-value")}
	for _, tc := range []struct {
		check string
		plant fstest.MapFS
		words string
	}{
		{"ssh-host-keys", fstest.MapFS{"etc/ssh/ssh_host_ed25519_key": file("KEY")}, "/etc/ssh/ssh_host_ed25519_key"},
		{"machine-id", fstest.MapFS{"etc/machine-id": file("4c4c4544004e3510804bb4c04f564433\n")}, "/etc/machine-id"},
		{"machine-id", fstest.MapFS{"var/lib/dbus/machine-id": file("4c4c4544004e3510804bb4c04f564433\n")}, "/var/lib/dbus/machine-id"},
		{"cloud-init-instance", fstest.MapFS{"var/lib/cloud/instance": link("/var/lib/cloud/instances/i-123")}, "/var/lib/cloud/instance"},
		{"cloud-init-instance", fstest.MapFS{"var/lib/cloud/data/instance-id": file("i-123\n")}, "instance-id"},
		{"shell-history", fstest.MapFS{"root/.bash_history": file("curl -H token\n")}, "/root/.bash_history"},
		{"shell-history", fstest.MapFS{"home/user/.zsh_history": file("ls\n")}, "/home/user/.zsh_history"},
		{"core-dumps", fstest.MapFS{"var/lib/systemd/coredump/core.kubelet.0.abc.123.zst": file("x")}, "/var/lib/systemd/coredump/core.kubelet"},
		{"core-dumps", fstest.MapFS{"tmp/cores/core": file("x")}, "/tmp/cores/core"},
		{"core-dumps", fstest.MapFS{"var/tmp/kubelet.core": file("x")}, "/var/tmp/kubelet.core"},
		{"core-dumps", fstest.MapFS{"var/crash/_usr_bin_x.0.crash": file("x")}, "/var/crash/_usr_bin_x.0.crash"},
		{"apt-lists", fstest.MapFS{"var/lib/apt/lists/mirror_dists_bookworm_InRelease": file("x")}, "found 1: /var/lib/apt/lists/mirror_dists_bookworm_InRelease"},
		{"apt-lists", fstest.MapFS{"var/lib/apt/lists/auxfiles/x_Packages": file("x")}, "auxfiles/x_Packages"},
		{"var-log-size", fstest.MapFS{"var/log/big/syslog": file(strings.Repeat("x", 2<<20))}, "largest file is /var/log/big/syslog"},
		{"resolv-conf", fstest.MapFS{"etc/resolv.conf": file("# from the build host\nnameserver 10.0.0.2\nsearch corp\n")}, "nameserver 10.0.0.2"},
		{"secrets", fstest.MapFS{"etc/app/env": file("TOKEN=s3cr3t-t0ken-value\n")}, "/etc/app/env holds token.txt"},
	} {
		t.Run(tc.check, func(t *testing.T) {
			tree := cleanTree()
			for k, v := range tc.plant {
				tree[k] = v
			}
			results := Run(t.Context(), Image{Root: tree}, Hygiene(HygieneOptions{VarLogLimit: 1 << 20, Secrets: []Secret{secret}}))
			for _, r := range results {
				if r.Name == tc.check {
					wantStatus(t, r, Fail, tc.words)
				} else if r.Status != Pass {
					t.Errorf("%s also: %s %s", r.Name, r.Status, r.Detail)
				}
			}
		})
	}
}

func TestHygieneOptions(t *testing.T) {
	results := Run(t.Context(), Image{Root: cleanTree()}, Hygiene(HygieneOptions{Skip: []string{"apt-lists", "secrets"}}))
	for _, r := range results {
		if r.Name == "apt-lists" || r.Name == "secrets" {
			t.Errorf("%s ran though skipped", r.Name)
		}
	}
	if len(results) != len(HygieneNames())-2 {
		t.Errorf("%d results", len(results))
	}
	r := Run(t.Context(), Image{Root: cleanTree()}, Hygiene(HygieneOptions{}))
	last := r[len(r)-1]
	if last.Name != "secrets" || last.Status != Skip || !strings.Contains(last.Detail, "--secret-value-file") {
		t.Errorf("secrets without values: %+v", last)
	}
}

// TestSecretScanAcrossChunks: a value straddling the scan's chunk seam is
// found, a file over the size limit is skipped and listed, and a PEM-like
// value is found line by line.
func TestSecretScanAcrossChunks(t *testing.T) {
	value := []byte("straddling-secret")
	big := bytes.Repeat([]byte("a"), scanChunk-5)
	big = append(append(big, value...), bytes.Repeat([]byte("b"), 100)...)
	pem := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END KEY-----"
	tree := fstest.MapFS{
		"data/seam":  file(string(big)),
		"data/huge":  file(strings.Repeat("z", 3000) + "straddling-secret"),
		"data/crlf":  file(strings.ReplaceAll(pem, "\n", "\r\n")),
		"data/clean": file("nothing here"),
	}
	secrets := []Secret{{Name: "seam", Value: value}, {Name: "key.pem", Value: []byte(pem)}}
	r := Run(t.Context(), Image{Root: tree}, []Check{{Source: "test", Assert: secretScan{secrets: secrets, maxFile: 2 << 20}}})[0]
	wantStatus(t, r, Fail, "/data/seam holds seam", "/data/huge holds seam", "/data/crlf holds key.pem")
	r = Run(t.Context(), Image{Root: tree}, []Check{{Source: "test", Assert: secretScan{secrets: secrets, maxFile: 2000}}})[0]
	if !strings.Contains(r.Detail, "skipped: /data/huge") || strings.Contains(r.Detail, "/data/huge holds") {
		t.Errorf("size limit: %s", r.Detail)
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "token")
	must(t, os.WriteFile(p, []byte("abcdefghij\n"), 0o600))
	s, err := ReadSecretFile(p)
	if err != nil || string(s.Value) != "abcdefghij" || s.Name != "token" {
		t.Errorf("%+v %v", s, err)
	}
	must(t, os.WriteFile(p, []byte("abc\n"), 0o600))
	if _, err := ReadSecretFile(p); err == nil || !strings.Contains(err.Error(), "match by chance") {
		t.Errorf("short secret: %v", err)
	}
}

var _ fs.FS = cleanTree()
