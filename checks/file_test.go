package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"testing"
	"testing/fstest"
)

func fileTree() fstest.MapFS {
	return merged(fstest.MapFS{
		"etc/passwd":                   file("root:x:0:0:root:/root:/bin/bash\nkube:x:999:998::/var/lib/kube:/usr/sbin/nologin\n+nis\n"),
		"etc/group":                    file("root:x:0:\nkube:x:998:\n"),
		"etc/hostname":                 file("node-1\n"),
		"etc/kube/config":              owned("token: abc\n", 0o600, 999, 998),
		"usr/bin/kubelet":              owned("ELF...", 0o755|fs.ModeSetuid, 0, 0),
		"etc/resolv.conf":              link("../run/systemd/resolve/stub-resolv.conf"),
		"etc/localtime":                link("/usr/share/zoneinfo/UTC"),
		"usr/share/zoneinfo/UTC":       file("TZif2"),
		"etc/ssh/sshd_config":          file("PermitRootLogin no\n"),
		"etc/ssh/ssh_host_rsa_key":     file("KEY"),
		"etc/ssh/ssh_host_ed25519_key": file("KEY"),
		"tmp":                          &fstest.MapFile{Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	})
}

func TestFileChecks(t *testing.T) {
	tree := fileTree()
	for _, tc := range []struct {
		name  string
		f     File
		st    Status
		words string
	}{
		{"exists", File{Path: "/etc/hostname"}, Pass, "file"},
		{"missing", File{Path: "/etc/motd"}, Fail, "/etc/motd: want present, found absent"},
		{"absent", File{Path: "/etc/motd", Absent: true}, Pass, ""},
		{"not absent", File{Path: "/etc/hostname", Absent: true}, Fail, "want absent, found present"},
		{"glob absent", File{Path: "/etc/ssh/ssh_host_*_key", Absent: true}, Fail, "2 matches: /etc/ssh/ssh_host_ed25519_key, /etc/ssh/ssh_host_rsa_key"},
		{"glob present", File{Path: "/etc/ssh/ssh_host_*_key", Mode: "0644"}, Pass, "2 matches pass"},
		{"type", File{Path: "/etc/hostname", Type: "directory"}, Fail, "want a directory, found a file"},
		{"dir", File{Path: "/etc", Type: "directory"}, Pass, ""},
		{"sticky", File{Path: "/tmp", Mode: "1777"}, Pass, "mode 1777"},
		{"setuid", File{Path: "/usr/bin/kubelet", Mode: "4755", Owner: "root", Group: "root"}, Pass, "owner 0 (root)"},
		{"mode", File{Path: "/etc/kube/config", Mode: "0644"}, Fail, "want mode 0644, found mode 0600"},
		{"owner by name", File{Path: "/etc/kube/config", Owner: "kube", Group: "kube"}, Pass, "owner 999 (kube), group 998 (kube)"},
		{"owner by number", File{Path: "/etc/kube/config", Owner: "999"}, Pass, ""},
		{"wrong owner", File{Path: "/etc/kube/config", Owner: "root"}, Fail, "want owner 0 (root), found owner 999 (kube)"},
		{"unknown user", File{Path: "/etc/kube/config", Owner: "nobody"}, Error, `no "nobody" in the image's /etc/passwd`},
		{"symlink", File{Path: "/etc/resolv.conf", Type: "symlink", Target: strp("../run/systemd/resolve/stub-resolv.conf")}, Pass, ""},
		{"wrong target", File{Path: "/etc/resolv.conf", Target: strp("/run/x")}, Fail, "want target /run/x"},
		{"content through a link", File{Path: "/etc/localtime", Contains: []string{"TZif"}}, Pass, "content ok"},
		{"dangling link content", File{Path: "/etc/resolv.conf", Contains: []string{"x"}}, Fail, "resolves to nothing"},
		{"contains", File{Path: "/etc/ssh/sshd_config", Contains: []string{"PermitRootLogin no"}, NotContains: []string{"PasswordAuthentication yes"}}, Pass, ""},
		{"not contains", File{Path: "/etc/ssh/sshd_config", NotContains: []string{"PermitRootLogin"}}, Fail, "on line 1"},
		{"equals", File{Path: "/etc/hostname", Equals: strp("node-1\n")}, Pass, ""},
		{"not equal", File{Path: "/etc/hostname", Equals: strp("node-2\n")}, Fail, `want content "node-2\n"`},
		{"sha256", File{Path: "/etc/hostname", SHA256: "5c8d4cf8f4b1f7a5d56a0ba3a3a9be2e3d4b6f2ecfe6a0e3f06e0b56d9cfef3e"}, Fail, "found sha256 "},
		{"sha256 right", File{Path: "/etc/hostname", SHA256: sha256Hex("node-1\n")}, Pass, ""},
		{"content of a dir", File{Path: "/etc", Contains: []string{"x"}}, Fail, "found a directory"},
		{"relative path", File{Path: "etc/hostname"}, Error, "must be absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, evaluateOne(t, tree, tc.f), tc.st, tc.words)
		})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
