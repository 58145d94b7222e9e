package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// sysextFile is the image name the kubernetes-sysext target and install:
// sysext use for a release.
func sysextFile(version string) string { return "kubernetes-" + version + "-x86-64.raw" }

// TestKubernetesSysextTarget builds the kubernetes-sysext target in both
// formats: the image opens with its format's own tool, carries the payload
// and a valid extension-release, and SHA256SUMS names its digest.
func TestKubernetesSysextTarget(t *testing.T) {
	r, srv := requireRelease(t)
	for _, format := range []string{"squashfs", "erofs"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(env.workDir, "sysext-"+format)
			log, err := strataBuild(k8sSpec, "kubernetes-sysext", out,
				append(versionArgs(r, srv.URL()), "--build-arg", "KUBERNETES_SYSEXT_FORMAT="+format)...)
			if err != nil {
				t.Fatalf("strata build: %v\n%s", err, tail(log, 80))
			}
			image := filepath.Join(out, sysextFile(r.Kubernetes))
			checkSums(t, image)
			tree := unpackSysext(t, format, image)
			for _, p := range []string{"usr/bin/kubelet", "usr/bin/kubeadm", "usr/bin/kubectl", "usr/local/bin/containerd",
				"usr/local/sbin/runc", "usr/local/bin/crictl", "opt/cni/bin/bridge", "usr/lib/systemd/system/kubelet.service"} {
				if fi, err := os.Stat(filepath.Join(tree, p)); err != nil || fi.Mode()&0o111 == 0 && strings.Contains(p, "bin/") {
					t.Errorf("%s in the image: %v", p, err)
				}
			}
			release, err := os.ReadFile(filepath.Join(tree, "usr/lib/extension-release.d/extension-release.kubernetes"))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range []string{"ID=_any", "ARCHITECTURE=x86-64", "SYSEXT_VERSION_ID=" + r.Kubernetes} {
				if !strings.Contains(string(release), line+"\n") {
					t.Errorf("extension-release lacks %s:\n%s", line, release)
				}
			}
			entries, err := os.ReadDir(tree)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != "usr" && e.Name() != "opt" {
					t.Errorf("the image has /%s, which systemd-sysext does not merge", e.Name())
				}
			}
		})
	}
}

// checkSums: SHA256SUMS beside the image must name its digest, as
// systemd-sysupdate expects of an update source.
func checkSums(t *testing.T, image string) {
	t.Helper()
	data, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sums, err := os.ReadFile(filepath.Join(filepath.Dir(image), "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sum[:]) + "  " + filepath.Base(image) + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}
}

// unpackSysext extracts the image with its format's own tool, which also
// checks the filesystem.
func unpackSysext(t *testing.T, format, image string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	var cmd *exec.Cmd
	switch format {
	case "squashfs":
		cmd = exec.Command("unsquashfs", "-no-progress", "-d", dir, image)
	case "erofs":
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("fsck.erofs", "--extract="+dir, image)
	default:
		t.Fatalf("unknown format %s", format)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return dir
}

// sysextDisks builds the Kubernetes node with install: sysext once per
// image format.
var sysextDisks = map[string]func() (string, error){
	"squashfs": sync.OnceValues(func() (string, error) { return buildSysextDisk("squashfs") }),
	"erofs":    sync.OnceValues(func() (string, error) { return buildSysextDisk("erofs") }),
}

func buildSysextDisk(format string) (string, error) {
	return buildK8sDisk("k8s-sysext-node-"+format,
		"--build-arg", "KUBERNETES_INSTALL=sysext", "--build-arg", "KUBERNETES_SYSEXT_FORMAT="+format)
}

// TestKubernetesSysextNodeLayout: the payload is only in the image, the
// configuration is in the root filesystem, and the image is where
// systemd-sysext looks.
func TestKubernetesSysextNodeLayout(t *testing.T) {
	r, _ := requireRelease(t)
	disk, err := sysextDisks["squashfs"]()
	if err != nil {
		t.Fatal(err)
	}
	table := sfdisk(t, disk)
	root := extract(t, disk, table.Partitions[1].Start, table.Partitions[1].Size)
	store := "/var/lib/strata/extensions/" + sysextFile(r.Kubernetes)
	checks := map[string]string{
		"stat /var/lib/extensions/kubernetes.raw": "Fast link dest: \"" + store + "\"",
		"stat " + store: "Type: regular",
		"stat /etc/systemd/system/sysinit.target.wants/systemd-sysext.service":       "Type: symlink",
		"stat /etc/systemd/system/sysinit.target.wants/strata-sysext-reload.service": "Type: symlink",
		"stat /etc/systemd/system/multi-user.target.wants/kubelet.service":           "Type: symlink",
		"cat /etc/containerd/config.toml":                                            "SystemdCgroup = true",
		"cat /etc/sysctl.d/99-kubernetes.conf":                                       "net.ipv4.ip_forward = 1",
		"stat /usr/bin/kubelet":                                                      "File not found",
		"stat /usr/local/bin/containerd":                                             "File not found",
		"stat /usr/lib/systemd/system/kubelet.service":                               "File not found",
	}
	checkDebugfs(t, root, checks)
	// The image on the disk is the one the target builds: same bytes, same
	// checks.
	dumped := filepath.Join(t.TempDir(), sysextFile(r.Kubernetes))
	debugfs(t, root, "dump "+store+" "+dumped)
	tree := unpackSysext(t, "squashfs", dumped)
	if _, err := os.Stat(filepath.Join(tree, "usr/bin/kubelet")); err != nil {
		t.Errorf("the disk's image lacks kubelet: %v", err)
	}
}

// TestKubernetesSysextNodeBoots boots the install: sysext node in both
// formats: systemd merges the image, its units start, and the binaries are
// under /usr.
func TestKubernetesSysextNodeBoots(t *testing.T) {
	r, _ := requireRelease(t)
	for _, format := range []string{"squashfs", "erofs"} {
		t.Run(format, func(t *testing.T) {
			disk, err := sysextDisks[format]()
			if err != nil {
				t.Fatal(err)
			}
			bootSysextNode(t, r, disk, "k8s-sysext-"+format+"-console.log")
		})
	}
}

func bootSysextNode(t *testing.T, r *release, disk, logName string) {
	t.Helper()
	bootAndExpect(t, disk, logName, []string{
		"node-check sysext: kubernetes",
		"node-check ok: test -x /usr/bin/kubelet",
		"node-check ok: systemctl is-active containerd",
		"node-check ok: crictl info",
		"node-check ok: systemctl is-enabled kubelet",
		"node-check ok: test -x /opt/cni/bin/bridge",
		"node-check ok: sysctl_is net.ipv4.ip_forward 1",
		"node-check kubelet-version: Kubernetes " + r.Kubernetes,
		"node-check done",
	}, []string{"node-check FAILED"})
}

// TestKubernetesSysextUpdatesTransfer: with kubernetes.sysext.updates, the
// disk carries the systemd-sysupdate transfer that follows the image's
// patch releases from that source into the store and the merge link.
// Nothing here runs systemd-sysupdate: Debian 12 does not package it.
func TestKubernetesSysextUpdatesTransfer(t *testing.T) {
	r, srv := requireRelease(t)
	const updates = "https://updates.example/k8s/"
	data, err := os.ReadFile(filepath.Join(env.repo, k8sSpec))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(data), "\nkubernetes:\n", "\nkubernetes:\n  sysext: {updates: \""+updates+"\"}\n", 1)
	if doc == string(data) {
		t.Fatalf("%s has no top-level kubernetes: line", k8sSpec)
	}
	specPath := filepath.Join(t.TempDir(), "k8s-updates.yaml")
	if err := os.WriteFile(specPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	log, err := strataBuild(specPath, "disk", out, append(versionArgs(r, srv.URL()), "--build-arg", "KUBERNETES_INSTALL=sysext")...)
	if err != nil {
		t.Fatalf("strata build: %v\n%s", err, tail(log, 60))
	}
	disk := filepath.Join(out, "disk.raw")
	table := sfdisk(t, disk)
	root := extract(t, disk, table.Partitions[1].Start, table.Partitions[1].Size)
	minor := r.Kubernetes[:strings.LastIndex(r.Kubernetes, ".")+1]
	transfer := debugfs(t, root, "cat /etc/sysupdate.kubernetes.d/kubernetes.transfer")
	for _, want := range []string{
		"Verify=yes",
		"[Source]\nType=url-file\nPath=" + updates + "\nMatchPattern=kubernetes-" + minor + "@v-x86-64.raw",
		"[Target]\nType=regular-file\nPath=/var/lib/strata/extensions\n",
		"CurrentSymlink=/var/lib/extensions/kubernetes.raw",
	} {
		if !strings.Contains(transfer, want) {
			t.Errorf("the disk's transfer file lacks %q:\n%s", want, transfer)
		}
	}
}
