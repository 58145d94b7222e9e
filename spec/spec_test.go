package spec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
)

// testDistros stands in for the overlays, which live in another package.
var testDistros = map[string]Distro{
	"debian": {Name: "debian", Kernel: "linux-image-amd64", Cmdline: "console=ttyS0"},
	"ubuntu": {Name: "ubuntu", Kernel: "linux-image-virtual", Bootloader: "systemd-boot", Cmdline: "console=tty1"},
}

// header starts inline test documents; the lines that follow it are
// line 4 onwards.
const header = "apiVersion: strata.dev/v1alpha1\nkind: NodeImage\nname: t\n"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustLoad(t *testing.T, name string, data []byte, args map[string]string) *Spec {
	t.Helper()
	s, err := Load(name, data, args, testDistros)
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return s
}

// fullOS is the os section of testdata/full*.yaml.
var fullOS = OS{
	Base:     "docker.io/library/debian:bookworm@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	Distro:   "debian",
	Kernel:   "linux-image-cloud-amd64",
	Packages: []string{"openssh-server", "chrony", "cloud-init"},
	Files:    []File{{Path: "/etc/motd", Content: "hi\n", Mode: "0644"}},
	Sysctl:   map[string]string{"net.ipv4.ip_forward": "1"},
	Modules:  []string{"overlay", "br_netfilter"},
	Services: Services{Enable: []string{"chrony"}, Disable: []string{"apt-daily.timer"}},
	Run:      []string{"echo escape hatch for anything not covered"},
}

var fullDisk = Disk{
	Size:       8 * GiB,
	Boot:       "uefi",
	Bootloader: "systemd-boot",
	Root:       RootFS{Filesystem: "ext4", Label: "root"},
	Cmdline:    "console=ttyS0",
}

var allOutputs = []string{"qemu", "aws", "azure", "gcp", "vsphere", "openstack"}

func TestLoadGood(t *testing.T) {
	tests := []struct {
		file string
		want NodeImage
	}{
		{"full.yaml", NodeImage{
			APIVersion: APIVersion, Kind: Kind, Name: "debian-12",
			OS: fullOS, Disk: fullDisk, Outputs: allOutputs,
		}},
		{"full-k8s.yaml", NodeImage{
			APIVersion: APIVersion, Kind: Kind, Name: "debian-12-k8s",
			OS: fullOS,
			Kubernetes: &Kubernetes{
				Version: "v1.36.3", Containerd: "2.3.2", Runc: "1.4.3", Crictl: "1.36.0",
				CNI: "1.9.1", Source: "https://dl.k8s.io", Install: "rootfs",
			},
			Disk: fullDisk, Outputs: allOutputs,
		}},
		{"minimal.yaml", NodeImage{
			APIVersion: APIVersion, Kind: Kind, Name: "minimal",
			OS: OS{Distro: "debian", Kernel: "linux-image-amd64"},
			Disk: Disk{
				Size: 8 * GiB, Boot: "uefi", Bootloader: "systemd-boot",
				Root: RootFS{Filesystem: "ext4", Label: "root"}, Cmdline: "console=ttyS0",
			},
		}},
		{"block.yaml", NodeImage{
			APIVersion: APIVersion, Kind: Kind, Name: "block-style",
			OS: OS{
				Distro:   "debian",
				Kernel:   "linux-image-amd64",
				Packages: []string{"openssh-server", "cloud-init"},
				Files: []File{
					{Path: "/etc/motd", Content: "welcome\n", Mode: "0600"},
					{Path: "/etc/issue", Mode: "0644"},
				},
				Sysctl:   map[string]string{"net.ipv4.ip_forward": "1", "vm.swappiness": "10"},
				Services: Services{Enable: []string{"chrony"}},
			},
			Disk: Disk{
				Size: 4 * GiB, Boot: "uefi", Bootloader: "systemd-boot",
				Root: RootFS{Filesystem: "ext4", Label: "root"}, Cmdline: "console=ttyS0",
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s := mustLoad(t, tt.file, readTestdata(t, tt.file), nil)
			if !reflect.DeepEqual(s.Image, tt.want) {
				t.Errorf("image mismatch\n got: %#v\nwant: %#v", s.Image, tt.want)
				if !reflect.DeepEqual(s.Image.Kubernetes, tt.want.Kubernetes) {
					t.Errorf("kubernetes: got %#v, want %#v", s.Image.Kubernetes, tt.want.Kubernetes)
				}
			}
		})
	}
}

func TestParseAppliesNoDefaults(t *testing.T) {
	s, err := Parse("minimal.yaml", readTestdata(t, "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := NodeImage{APIVersion: APIVersion, Kind: Kind, Name: "minimal"}
	if !reflect.DeepEqual(s.Image, want) {
		t.Errorf("got %#v, want %#v", s.Image, want)
	}
}

func TestApplyDefaults(t *testing.T) {
	tests := []struct {
		name   string
		in     NodeImage
		distro Distro
		want   NodeImage
	}{
		{
			name:   "distro values fill empty fields",
			in:     NodeImage{OS: OS{Files: []File{{Path: "/a"}}}, Kubernetes: &Kubernetes{}},
			distro: Distro{Name: "ubuntu", Kernel: "linux-image-virtual", Bootloader: "grub", Cmdline: "quiet"},
			want: NodeImage{
				OS:         OS{Distro: "ubuntu", Kernel: "linux-image-virtual", Files: []File{{Path: "/a", Mode: "0644"}}},
				Kubernetes: &Kubernetes{Install: "rootfs"},
				Disk: Disk{Size: 8 * GiB, Boot: "uefi", Bootloader: "grub",
					Root: RootFS{Filesystem: "ext4", Label: "root"}, Cmdline: "quiet"},
			},
		},
		{
			name: "built-ins when the distro has nothing",
			in:   NodeImage{},
			want: NodeImage{
				OS: OS{Distro: "debian"},
				Disk: Disk{Size: 8 * GiB, Boot: "uefi", Bootloader: "systemd-boot",
					Root: RootFS{Filesystem: "ext4", Label: "root"}},
			},
		},
		{
			name: "values already set are kept",
			in: NodeImage{
				OS:         OS{Distro: "mine", Kernel: "k", Files: []File{{Path: "/a", Mode: "0600"}}},
				Kubernetes: &Kubernetes{Install: "sysext"},
				Disk: Disk{Size: 2 * GiB, Boot: "bios", Bootloader: "grub",
					Root: RootFS{Filesystem: "xfs", Label: "sys"}, Cmdline: "ro"},
			},
			distro: Distro{Name: "debian", Kernel: "linux-image-amd64", Bootloader: "systemd-boot", Cmdline: "console=ttyS0"},
			want: NodeImage{
				OS:         OS{Distro: "mine", Kernel: "k", Files: []File{{Path: "/a", Mode: "0600"}}},
				Kubernetes: &Kubernetes{Install: "sysext"},
				Disk: Disk{Size: 2 * GiB, Boot: "bios", Bootloader: "grub",
					Root: RootFS{Filesystem: "xfs", Label: "sys"}, Cmdline: "ro"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Spec{Image: tt.in}
			s.ApplyDefaults(tt.distro)
			if !reflect.DeepEqual(s.Image, tt.want) {
				t.Errorf("got  %#v\nwant %#v", s.Image, tt.want)
			}
		})
	}
}

func TestPosition(t *testing.T) {
	full, err := Parse("full.yaml", readTestdata(t, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := Parse("block.yaml", readTestdata(t, "block.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec  *Spec
		field string
		want  Pos
		ok    bool
	}{
		{full, "", Pos{2, 1}, true}, // after the "# syntax=" comment
		{full, "name", Pos{4, 1}, true},
		{full, "os", Pos{5, 1}, true},
		{full, "os.packages", Pos{9, 3}, true},
		// "  packages: [openssh-server, chrony, cloud-init]"
		{full, "os.packages[0]", Pos{9, 14}, true},
		{full, "os.packages[2]", Pos{9, 38}, true},
		{full, "os.packages[3]", Pos{}, false},
		// "  files: [{path: /etc/motd, content: "hi\n", mode: "0644"}]"
		{full, "os.files[0]", Pos{10, 11}, true},
		{full, "os.files[0].path", Pos{10, 12}, true},
		{full, "os.files[0].mode", Pos{10, 46}, true},
		{full, "os.sysctl.net.ipv4.ip_forward", Pos{11, 12}, true},
		{full, "os.services.disable[0]", Pos{13, 42}, true},
		{full, "disk.size", Pos{16, 3}, true},
		{full, "disk.root.label", Pos{19, 28}, true},
		{full, "outputs[5]", Pos{21, 43}, true},
		{full, "kubernetes", Pos{}, false},
		{block, "os.packages[1]", Pos{12, 7}, true},
		{block, "os.files[1]", Pos{19, 7}, true},
		{block, "os.files[0].mode", Pos{17, 7}, true},
		{block, "os.sysctl.vm.swappiness", Pos{22, 5}, true},
		{block, "os.services.enable", Pos{24, 5}, true},
		// An alias element points at where the alias is used.
		{block, "os.services.enable[0]", Pos{7, 5}, true},
		{block, "x-owner", Pos{}, false},
		{block, "os.x-note", Pos{}, false},
		{block, "disk.size", Pos{26, 3}, true},
	}
	for _, tt := range tests {
		got, ok := tt.spec.Position(tt.field)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: Position(%q) = %v, %v; want %v, %v", tt.spec.File, tt.field, got, ok, tt.want, tt.ok)
		}
	}
}

func TestErrorTypes(t *testing.T) {
	_, err := Load("node.yaml", []byte(header+"disk: {size: 8GB}\n"), nil, testDistros)
	var one *Error
	if !errors.As(err, &one) {
		t.Fatalf("single problem: got %T, want *Error", err)
	}
	want := Error{File: "node.yaml", Pos: Pos{4, 8}, Field: "disk.size",
		Message: `invalid size "8GB"; use a whole number with a unit KiB, MiB, GiB or TiB (e.g. 8GiB), or a plain number of bytes`}
	if *one != want {
		t.Errorf("got %#v, want %#v", *one, want)
	}

	_, err = Load("node.yaml", []byte(header+"outputs: [ami, qemu, iso]\n"), nil, testDistros)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("two problems: got %T %v, want ErrorList of 2", err, err)
	}
	if list[0].Field != "outputs[0]" || list[1].Field != "outputs[2]" {
		t.Errorf("fields %q, %q; want outputs[0], outputs[2]", list[0].Field, list[1].Field)
	}
	// errors.As also finds the first *Error inside a list.
	if !errors.As(err, &one) || one != list[0] {
		t.Errorf("errors.As through ErrorList: got %v", one)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "node.yaml", Pos: Pos{12, 5}, Field: "os.packages[1]", Message: "bad"}, "node.yaml:12:5: os.packages[1]: bad"},
		{&Error{File: "node.yaml", Pos: Pos{3, 0}, Message: "invalid YAML: x"}, "node.yaml:3: invalid YAML: x"},
		{&Error{Field: "name", Message: "required"}, "name: required"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
