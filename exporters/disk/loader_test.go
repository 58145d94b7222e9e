package disk

import (
	"testing"
)

func TestLoaderEntryText(t *testing.T) {
	e := newLoaderEntry("Debian 12", "6.1.0-18-amd64", "4FB60510-0773-8CCD-8921-163590646E3D", "  console=ttyS0,115200   quiet ")
	want := "title Debian 12\n" +
		"version 6.1.0-18-amd64\n" +
		"linux /strata/6.1.0-18-amd64/vmlinuz\n" +
		"initrd /strata/6.1.0-18-amd64/initrd.img\n" +
		"options root=PARTUUID=4fb60510-0773-8ccd-8921-163590646e3d rw console=ttyS0,115200 quiet\n"
	if got := e.Conf(); got != want {
		t.Errorf("entry:\n%s\nwant:\n%s", got, want)
	}
	if got := e.Path(); got != "/loader/entries/strata-6.1.0-18-amd64.conf" {
		t.Errorf("path %s", got)
	}
	if got, want := loaderConf(e), "timeout 0\ndefault strata-6.1.0-18-amd64.conf\nconsole-mode keep\n"; got != want {
		t.Errorf("loader.conf:\n%s\nwant:\n%s", got, want)
	}
}

func TestLoaderEntryEdgeCases(t *testing.T) {
	e := newLoaderEntry("Linux", "", "abc", "")
	if e.Options != "root=PARTUUID=abc rw" || e.Linux != "/strata/vmlinuz" || e.ID != "strata" {
		t.Errorf("unversioned entry: %+v", e)
	}
	if got := newLoaderEntry("L", "6.1.0-RT/x y", "g", "").ID; got != "strata-6.1.0-rt_x_y" {
		t.Errorf("sanitised ID %q", got)
	}
}

func TestParseLoaderConf(t *testing.T) {
	m := parseLoaderConf("# comment\ntitle  My  OS \n\tlinux\t/a/vmlinuz\ninitrd /a/ucode.img\ninitrd /a/initrd.img\ntitle second\n\n")
	if m["title"] != "My  OS" || m["linux"] != "/a/vmlinuz" || m["initrd"] != "/a/ucode.img /a/initrd.img" {
		t.Errorf("parsed %q", m)
	}
	// Round trip with what we write.
	e := newLoaderEntry("T", "1.0", "g", "x=1")
	m = parseLoaderConf(e.Conf())
	if m["options"] != e.Options || m["linux"] != e.Linux || m["initrd"] != e.Initrd || m["version"] != "1.0" {
		t.Errorf("round trip %q", m)
	}
}
