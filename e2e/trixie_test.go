package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Debian 13 (trixie) tier: the same node spec as the Debian 12 one,
// built on a trixie base, boots as a node does. trixie brings systemd 257,
// which later boot features (ukify, systemd-repart, sysupdate) need.

// trixieBase is the Debian 13 base fixture: mkbase with -suite trixie, from
// the host's apt sources with the suite renamed, or STRATA_OS_BASE_TRIXIE.
var trixieBase = sync.OnceValues(func() (string, error) {
	if ref := os.Getenv("STRATA_OS_BASE_TRIXIE"); ref != "" {
		return ref, nil
	}
	out, err := run(20*time.Minute, env.repo, "go", "run", "./e2e/cmd/mkbase", "-cache", filepath.Join(env.cacheDir, "base"), "-suite", "trixie")
	if err != nil {
		return "", fmt.Errorf("making the trixie base: %w", err)
	}
	return lastLine(out), nil
})

// trixieDisk builds e2e/testdata/k8s-node.yaml on the trixie base once.
var trixieDisk = sync.OnceValues(func() (string, error) {
	base, err := trixieBase()
	if err != nil {
		return "", err
	}
	return buildK8sDiskOn(base, "k8s-node-trixie")
})

// TestTrixieNodeLayout: the disk holds Debian 13's root filesystem with
// the node's layers, and its build passed the image's own validation (the
// disk target fails otherwise).
func TestTrixieNodeLayout(t *testing.T) {
	r, _ := requireRelease(t)
	disk, err := trixieDisk()
	if err != nil {
		t.Fatal(err)
	}
	table := sfdisk(t, disk)
	root := extract(t, disk, table.Partitions[1].Start, table.Partitions[1].Size)
	checkDebugfs(t, root, map[string]string{
		"cat /usr/lib/os-release":     "VERSION_CODENAME=trixie",
		"cat /etc/debian_version":     "13.",
		"cat /etc/kubernetes-version": r.Kubernetes,
		"stat /etc/systemd/system/multi-user.target.wants/kubelet.service": "Type: symlink",
		"stat /usr/lib/systemd/boot/efi/systemd-bootx64.efi":               "Type: regular",
	})
	if got := dpkgStanza(debugfs(t, root, "cat /var/lib/dpkg/status"), "systemd"); !strings.Contains(got, "\nVersion: 257") {
		t.Errorf("the root filesystem lacks trixie's systemd 257; its dpkg record:\n%s", got)
	}
}

// dpkgStanza is package name's record in a dpkg status file.
func dpkgStanza(status, name string) string {
	for _, st := range strings.Split(status, "\n\n") {
		if strings.HasPrefix(strings.TrimLeft(st, "\n"), "Package: "+name+"\n") {
			return st
		}
	}
	return ""
}

// TestTrixieNodeBoots boots the trixie node under QEMU: every check the
// Debian 12 node passes, on systemd 257.
func TestTrixieNodeBoots(t *testing.T) {
	r, _ := requireRelease(t)
	disk, err := trixieDisk()
	if err != nil {
		t.Fatal(err)
	}
	bootAndExpect(t, disk, "k8s-trixie-console.log", append(nodeCheckLines(r), "node-check os: debian trixie systemd 257"),
		[]string{"node-check FAILED"})
}
