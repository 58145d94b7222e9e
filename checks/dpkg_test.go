package checks

import (
	"testing"
	"testing/fstest"
)

const dpkgStatusFixture = `Package: containerd
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 1.6.20~ds1-1+b1
Description: daemon to control runC
 Containerd is a daemon with an API and a command line client, to manage
 containers on one machine.
 .
 It uses runC to run containers.

Package: telnet
Status: deinstall ok config-files
Architecture: amd64
Version: 0.17+2.4-2
Conffiles:
 /etc/telnet.conf 0123456789abcdef

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u10

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 2.36-9+deb12u9

Package: kubelet
Status: install ok triggers-pending
Architecture: amd64
Version: 1.36.3-1.1
`

func TestParseDpkgStatus(t *testing.T) {
	db, err := parseDpkgStatus(dpkgStatusFixture)
	if err != nil {
		t.Fatal(err)
	}
	if len(db) != 4 || len(db["libc6"]) != 2 {
		t.Fatalf("parsed %d packages: %+v", len(db), db)
	}
	c := db["containerd"][0]
	if c.Version != "1.6.20~ds1-1+b1" || c.Arch != "amd64" || !c.installed() || c.Line != 1 {
		t.Errorf("containerd %+v", c)
	}
	if db["telnet"][0].installed() || db["telnet"][0].State != "config-files" {
		t.Errorf("telnet %+v", db["telnet"][0])
	}
	if got := db.lookup("libc6:i386"); len(got) != 1 || got[0].Version != "2.36-9+deb12u9" {
		t.Errorf("libc6:i386 %+v", got)
	}
	for _, bad := range []string{"Package: x\nStatus: installed\n", "Package: x\nnot a field\n", "Version: 1\n"} {
		if _, err := parseDpkgStatus(bad); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestPackageChecks(t *testing.T) {
	tree := fstest.MapFS{"var/lib/dpkg/status": file(dpkgStatusFixture)}
	for _, tc := range []struct {
		p     Package
		st    Status
		words string
	}{
		{Package{Name: "containerd"}, Pass, "containerd 1.6.20~ds1-1+b1 (amd64) installed"},
		{Package{Name: "containerd", Version: "1.6.20~ds1-1+b1"}, Pass, ""},
		{Package{Name: "containerd", Version: "1.6.20"}, Fail, "want version 1.6.20, found version 1.6.20~ds1-1+b1"},
		{Package{Name: "containerd", VersionPrefix: "1.6."}, Pass, ""},
		{Package{Name: "containerd", VersionMatches: `^2\.`}, Fail, `matching ^2\.`},
		{Package{Name: "containerd", Absent: true}, Fail, "installed, version"},
		{Package{Name: "telnet"}, Fail, `status "config-files"`},
		{Package{Name: "telnet", Absent: true}, Pass, ""},
		{Package{Name: "curl"}, Fail, "not in the dpkg database"},
		{Package{Name: "curl", Absent: true}, Pass, ""},
		{Package{Name: "libc6", Version: "2.36-9+deb12u9"}, Pass, "(i386)"},
		{Package{Name: "libc6:amd64", Version: "2.36-9+deb12u9"}, Fail, ""},
		{Package{Name: "kubelet", VersionPrefix: "1.36."}, Pass, ""},
		{Package{Name: "x", Version: "1", VersionPrefix: "1"}, Error, "use one of"},
	} {
		wantStatus(t, evaluateOne(t, tree, tc.p), tc.st, tc.words)
	}
	r := evaluateOne(t, fstest.MapFS{}, Package{Name: "curl", Absent: true})
	wantStatus(t, r, Error, "no dpkg database")
}
