package sysext

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	e := Extension{Name: "kubernetes", Version: "v1.36.3", Format: "squashfs"}
	for got, want := range map[string]string{
		e.FileName():    "kubernetes-v1.36.3-x86-64.raw",
		e.StorePath():   "/var/lib/strata/extensions/kubernetes-v1.36.3-x86-64.raw",
		e.MergedPath():  "/var/lib/extensions/kubernetes.raw",
		TransferPath(e): "/etc/sysupdate.kubernetes.d/kubernetes.transfer",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// TestReleaseMatchesAnyHost: systemd-sysext refuses an image whose ID does
// not match the host's, unless it is _any, and whose ARCHITECTURE differs
// from the kernel's.
func TestReleaseMatchesAnyHost(t *testing.T) {
	rel := Extension{Name: "kubernetes", Version: "v1.36.3"}.Release()
	for _, line := range []string{"ID=_any", "ARCHITECTURE=x86-64", "SYSEXT_VERSION_ID=v1.36.3"} {
		if !strings.Contains(rel, line+"\n") {
			t.Errorf("extension-release lacks %s:\n%s", line, rel)
		}
	}
}

// TestTransferFollowsPatchReleases: the transfer's patterns must match the
// installed file's name, or sysupdate would not see the running version,
// and must fix the minor version.
func TestTransferFollowsPatchReleases(t *testing.T) {
	e := Extension{Name: "kubernetes", Version: "v1.36.3"}
	tr := Transfer(e, "https://updates.example.com/k8s/")
	for _, line := range []string{
		"Verify=yes",
		"Path=https://updates.example.com/k8s/",
		"MatchPattern=kubernetes-v1.36.@v-x86-64.raw",
		"Path=" + StoreDir,
		"CurrentSymlink=" + e.MergedPath(),
	} {
		if !strings.Contains(tr, "\n"+line+"\n") {
			t.Errorf("transfer lacks %q:\n%s", line, tr)
		}
	}
	if n := strings.Count(tr, "MatchPattern="); n != 2 {
		t.Errorf("%d MatchPattern lines, want source and target", n)
	}
	pattern := strings.Replace(patchPattern(e), "@v", "3", 1)
	if pattern != e.FileName() {
		t.Errorf("pattern %s with the patch filled in is %s, not the installed %s", patchPattern(e), pattern, e.FileName())
	}
}
