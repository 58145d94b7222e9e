package checks

import (
	"testing"
	"testing/fstest"
)

func TestModuleChecks(t *testing.T) {
	tree := merged(fstest.MapFS{
		"etc/modules-load.d/k8s.conf":        file("# for Kubernetes\noverlay\nbr_netfilter\n"),
		"usr/lib/modules-load.d/k8s.conf":    file("ip_vs\n"), // hidden by /etc's k8s.conf
		"usr/lib/modules-load.d/fuse.conf":   file("; fuse for rootless\nfuse\n"),
		"etc/modules-load.d/masked.conf":     link("/dev/null"),
		"usr/lib/modules-load.d/masked.conf": file("nbd\n"),
		"etc/modules-load.d/modules.conf":    link("../modules"),
		"etc/modules":                        file("loop max_loop=64\n"),
	})
	cmdline := "root=PARTUUID=x rw modules-load=vfio-pci,wireguard"
	for _, tc := range []struct {
		m     Module
		st    Status
		words string
	}{
		{Module{Name: "br_netfilter"}, Pass, "/etc/modules-load.d/k8s.conf:3"},
		{Module{Name: "br-netfilter"}, Pass, ""},
		{Module{Name: "fuse"}, Pass, "/usr/lib/modules-load.d/fuse.conf:2"},
		{Module{Name: "loop"}, Pass, "/etc/modules-load.d/modules.conf:1"},
		{Module{Name: "ip_vs"}, Fail, "not listed (3 modules-load files read)"},
		{Module{Name: "nbd", Absent: true}, Pass, ""},
		{Module{Name: "overlay", Absent: true}, Fail, "listed in /etc/modules-load.d/k8s.conf:2"},
		{Module{Name: "vfio_pci"}, Pass, "/loader/entries/test.conf (modules-load=)"},
	} {
		wantStatus(t, evaluate(t, tree, cmdline, tc.m)[0], tc.st, tc.words)
	}
}

func TestCmdlineChecks(t *testing.T) {
	cmdline := `root=PARTUUID=abc rw console=tty0 console=ttyS0,115200 quiet dyndbg="file x +p"`
	for _, tc := range []struct {
		c     Cmdline
		st    Status
		words string
	}{
		{Cmdline{Arg: "console=ttyS0,115200"}, Pass, ""},
		{Cmdline{Arg: "console=ttyS0"}, Fail, "want console=ttyS0, found options"},
		{Cmdline{Arg: "console="}, Pass, "console=tty0 console=ttyS0,115200"},
		{Cmdline{Arg: "quiet"}, Pass, ""},
		{Cmdline{Arg: "rw"}, Pass, ""},
		{Cmdline{Arg: "ro"}, Fail, ""},
		{Cmdline{Arg: "splash", Absent: true}, Pass, ""},
		{Cmdline{Arg: "quiet", Absent: true}, Fail, "want no quiet, found quiet"},
		{Cmdline{Arg: "dyndbg=file x +p"}, Pass, ""},
		{Cmdline{Arg: " "}, Error, "is empty"},
		{Cmdline{Arg: "dyndbg="}, Pass, "dyndbg=file x +p"},
	} {
		wantStatus(t, evaluate(t, fstest.MapFS{}, cmdline, tc.c)[0], tc.st, tc.words)
	}
	r := evaluate(t, fstest.MapFS{}, "", Cmdline{Arg: "quiet"})[0]
	wantStatus(t, r, Error, "no default boot entry")
}
