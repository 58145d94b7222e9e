package checks

import (
	"testing"
	"testing/fstest"
)

// TestSysctlPrecedence: a name in /etc/sysctl.d hides the same name in
// /usr/lib/sysctl.d; files apply in lexical order of their names across
// directories; later assignments win; /etc/sysctl.conf comes last unless
// 99-sysctl.conf links to it; explicit keys beat globs; /dev/null masks.
func TestSysctlPrecedence(t *testing.T) {
	tree := merged(fstest.MapFS{
		"usr/lib/sysctl.d/10-vendor.conf":  file("net.ipv4.ip_forward = 0\nvm.swappiness=60\n"),
		"etc/sysctl.d/10-vendor.conf":      file("# the admin's copy hides the vendor's\nvm.swappiness = 10\n"),
		"usr/lib/sysctl.d/50-default.conf": file("net.ipv4.conf.*.rp_filter = 2\n-net.ipv4.conf.all.accept_source_route = 0\nkernel.pid_max = 4194304\n"),
		"etc/sysctl.d/30-early.conf":       file("kernel.pid_max = 32768\nnet.ipv4.conf.default.rp_filter=1\n"),
		"etc/sysctl.d/90-k8s.conf":         file("net.ipv4.ip_forward=1\nnet.bridge.bridge-nf-call-iptables = 1\nnet/ipv4/tcp_keepalive_time = 600\n"),
		"etc/sysctl.d/95-masked.conf":      link("/dev/null"),
		"usr/lib/sysctl.d/95-masked.conf":  file("net.ipv4.ip_forward = 0\n"),
		"etc/sysctl.d/99-sysctl.conf":      link("../sysctl.conf"),
		"etc/sysctl.conf":                  file("kernel.panic = 10\nnet.ipv4.ip_local_port_range = 1024\t 65000\n"),
		"etc/sysctl.d/README":              file("net.ipv4.ip_forward = 0\n"),
		"usr/lib/sysctl.d/60-glob.conf":    file("net.ipv4.conf.*.accept_source_route = 1\n"),
	})
	for _, tc := range []struct {
		key, value string
		st         Status
		by         string
	}{
		{"net.ipv4.ip_forward", "1", Pass, "/etc/sysctl.d/90-k8s.conf:1"},
		{"vm.swappiness", "10", Pass, "/etc/sysctl.d/10-vendor.conf:2"},
		{"vm.swappiness", "60", Fail, "/etc/sysctl.d/10-vendor.conf:2"},
		// 50-default.conf comes after 30-early.conf whatever their dirs.
		{"kernel.pid_max", "4194304", Pass, "/usr/lib/sysctl.d/50-default.conf:3"},
		// An explicit setting wins over a glob that comes later.
		{"net.ipv4.conf.default.rp_filter", "1", Pass, "/etc/sysctl.d/30-early.conf:2"},
		{"net.ipv4.conf.eth0.rp_filter", "2", Pass, "50-default.conf:1 via net.ipv4.conf.*.rp_filter"},
		{"net.ipv4.conf.all.accept_source_route", "0", Pass, "50-default.conf:2"},
		{"net.ipv4.conf.eth1.accept_source_route", "1", Pass, "60-glob.conf:1"},
		{"net.ipv4.tcp_keepalive_time", "600", Pass, "90-k8s.conf:3"},
		{"net/ipv4/ip_forward", "1", Pass, "90-k8s.conf:1"},
		{"kernel.panic", "10", Pass, "/etc/sysctl.d/99-sysctl.conf:1"},
		{"net.ipv4.ip_local_port_range", "1024 65000", Pass, "99-sysctl.conf:2"},
		{"kernel.unset", "1", Fail, "not set (6 sysctl files read)"},
	} {
		r := evaluateOne(t, tree, Sysctl{Key: tc.key, Value: tc.value})
		wantStatus(t, r, tc.st, tc.by)
	}
}

// TestSysctlConfWithoutLink: without the 99-sysctl.conf link,
// /etc/sysctl.conf is still read, after every directory.
func TestSysctlConfWithoutLink(t *testing.T) {
	tree := merged(fstest.MapFS{
		"usr/lib/sysctl.d/99-z.conf": file("vm.overcommit_memory = 0\n"),
		"etc/sysctl.conf":            file("vm.overcommit_memory = 1\n"),
	})
	wantStatus(t, evaluateOne(t, tree, Sysctl{Key: "vm.overcommit_memory", Value: "1"}), Pass, "/etc/sysctl.conf:1")
}

func TestNormalizeSysctl(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.ip_forward":          "net/ipv4/ip_forward",
		"net/ipv4/ip_forward":          "net/ipv4/ip_forward",
		"net.ipv4.conf.eth0/1.forward": "net/ipv4/conf/eth0.1/forward",
		"net/ipv4/conf/eth0.1/forward": "net/ipv4/conf/eth0.1/forward",
		" kernel.panic ":               "kernel/panic",
		"net/../../etc/passwd":         "etc/passwd", // never out of /proc/sys
	} {
		if got := normalizeSysctl(in); got != want {
			t.Errorf("normalizeSysctl(%q) = %q, want %q", in, got, want)
		}
		if got := SysctlPath(in); got != "/proc/sys/"+want {
			t.Errorf("SysctlPath(%q) = %q", in, got)
		}
	}
}
