package spec

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

var sha512Hex = regexp.MustCompile(`^[0-9a-f]{128}$`)

// baseDiskFormats are the image formats a vendor's disk may come in, as
// strata's readers (exporters/formats) name them.
var baseDiskFormats = []choice{{"raw", true, ""}, {"qcow2", true, ""}, {"vmdk", true, ""}, {"vhd", true, ""}}

// notRebuilt are the fields that need the OS built from its packages: with
// os.baseDisk nothing runs inside the vendor's OS, so each is refused at
// its own line rather than silently ignored.
var notRebuilt = []struct{ field, what string }{
	{"os.packages", "no package manager runs in it"},
	{"os.packageSecret", "no package manager runs in it"},
	{"os.run", "no command runs in it"},
	{"os.services", "systemctl never runs in it to read the units' [Install] sections"},
	{"os.kernel", "the kernel is the vendor disk's own"},
}

// vendorLayout are the disk fields a vendor's disk already decided: strata
// keeps its partitions, boot loader and kernel arguments as they are.
var vendorLayout = []string{"disk.size", "disk.boot", "disk.bootloader", "disk.root", "disk.cmdline"}

// baseDisk checks os.baseDisk and what it rules out. It runs only when
// the field is set.
func (v *validator) baseDisk(o *OS) {
	d := o.BaseDisk
	const f = "os.baseDisk"
	if o.Base != "" {
		v.fail("os.base", "conflicts with os.baseDisk; keep one: os.base builds the OS from an OCI image, os.baseDisk adds to a vendor's disk image")
	}
	switch {
	case d.URL != "" && d.Path != "":
		v.fail(f+".path", "conflicts with os.baseDisk.url; give the disk by url or by path, not both")
	case d.URL != "":
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(f+".url", "invalid URL %q; use an http:// or https:// URL", d.URL)
		}
		if d.SHA256 == "" && d.SHA512 == "" {
			v.fail(f+".sha256", "required with os.baseDisk.url: a downloaded disk is checked before anything is added to it; set the image file's sha256 as the vendor publishes it (64 hex digits), or its sha512")
		}
	case d.Path != "":
		if path.IsAbs(d.Path) || path.Clean(d.Path) != d.Path || d.Path == ".." || strings.HasPrefix(d.Path, "../") {
			v.fail(f+".path", "invalid path %q; give a clean path relative to the build context, such as images/vendor.qcow2", d.Path)
		}
	}
	if h := d.SHA256; h != "" && !sha256Hex.MatchString(h) {
		v.fail(f+".sha256", "invalid sha256 %q; use the 64 lowercase hex digits (as sha256sum prints them)", h)
	}
	switch h := d.SHA512; {
	case h != "" && d.SHA256 != "":
		v.fail(f+".sha512", "conflicts with os.baseDisk.sha256; give one checksum")
	case h != "" && !sha512Hex.MatchString(h):
		v.fail(f+".sha512", "invalid sha512 %q; use the 128 lowercase hex digits (as sha512sum prints them)", h)
	}
	if d.Format != "" {
		v.choice(f+".format", "disk image format", d.Format, baseDiskFormats)
	}
	for _, n := range notRebuilt {
		if v.written(n.field) {
			v.fail(n.field, "not possible with os.baseDisk: a stock disk is not rebuilt, and %s; add files with os.files, or build the OS from an OCI image with os.base", n.what)
		}
	}
	for _, field := range vendorLayout {
		if v.written(field) {
			v.fail(field, "not possible with os.baseDisk: the vendor's disk keeps its own partitions, boot loader and kernel arguments; remove %s", field)
		}
	}
}

// written says whether the spec file or a build arg set field (or a field
// below it), as opposed to a default filling it in.
func (v *validator) written(field string) bool {
	if _, ok := v.spec.overriddenBy(field); ok {
		return true
	}
	prefix := field + "."
	for p := range v.spec.pos {
		if p == field || strings.HasPrefix(p, prefix) || strings.HasPrefix(p, field+"[") {
			return true
		}
	}
	return false
}
