package guest

import "testing"

func TestCmdline(t *testing.T) {
	for _, tc := range []struct {
		base string
		add  []string
		want string
	}{
		{"console=ttyS0", []string{"console=ttyS0,115200n8"}, "console=ttyS0"},
		{"console=tty0", []string{"console=ttyS0,115200n8"}, "console=tty0 console=ttyS0,115200n8"},
		{"quiet  nvme_core.io_timeout=30", []string{"nvme_core.io_timeout=4294967295", "earlyprintk=ttyS0"}, "quiet nvme_core.io_timeout=30 earlyprintk=ttyS0"},
		{"", []string{"rootdelay=300"}, "rootdelay=300"},
		{"ro", nil, "ro"},
	} {
		if got := Cmdline(tc.base, tc.add); got != tc.want {
			t.Errorf("Cmdline(%q, %q) = %q, want %q", tc.base, tc.add, got, tc.want)
		}
	}
}
