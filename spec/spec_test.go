package spec

import (
	"encoding/json"
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

// Every kubernetes section must pin the release and its four companions.
// k8sPins is that minimum in flow style (inside "kubernetes: {...}");
// k8sPinsBlock pins only the companions, as four block lines, for
// documents that set or omit version themselves.
const (
	k8sPins      = "version: v1.31.2, containerd: 1.7.22, runc: 1.1.14, crictl: 1.31.1, cni: 1.5.1"
	k8sPinsBlock = "  containerd: 1.7.22\n  runc: 1.1.14\n  crictl: 1.31.1\n  cni: 1.5.1\n"
)

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

// validateJSON is the validate: list of each test spec, as the digest
// encodes it.
var validateJSON = map[string]string{
	"full.yaml":     "[]",
	"full-k8s.yaml": `[{"contains":"node","file":"/etc/hostname"},{"service":"kubelet"}]`,
	"minimal.yaml":  "[]",
	"block.yaml":    "[]",
}

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
			OS: func() OS { o := fullOS; o.PackageSecret = "apt-mirror"; return o }(),
			Kubernetes: &Kubernetes{
				Version: "v1.36.3", Containerd: "2.3.2", Runc: "1.4.3", Crictl: "1.36.0",
				CNI: "1.9.1", Source: "https://dl.k8s.io", SourceSecret: "k8s-mirror", Install: "sysext", Bootstrap: "cloud-init",
				SandboxImage: "registry.example.com/k8s/pause:3.10",
				Sysext:       &Sysext{Format: "erofs", Updates: "https://updates.example.com/sysext/kubernetes/"},
				Artifacts: &Artifacts{
					Kubelet: Artifact{
						URL:    "https://mirror.example.com/k8s/v1.36.3/kubelet",
						SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
					},
					Containerd: Artifact{SHA256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"},
					CNI:        Artifact{URL: "https://mirror.example.com/cni/cni-plugins-linux-amd64-v1.9.1.tgz"},
				},
				Images: []Image{{Name: "kube-proxy"}, {Name: "pause", URL: "https://mirror.example.com/images/pause-3.10.tar",
					SHA256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}},
			},
			Disk: fullDisk, Outputs: allOutputs,
			Providers: Providers{
				Raw: &ProviderOptions{Format: "raw"}, Qemu: &ProviderOptions{Format: "qcow2"}, AWS: &ProviderOptions{Format: "vmdk"},
				Azure: &ProviderOptions{Format: "vhd"}, GCP: &ProviderOptions{Format: "gce"},
				VSphere:   &ProviderOptions{Format: "ova", CPUs: "4", Memory: 8 * GiB, Network: "VM Network"},
				OpenStack: &ProviderOptions{Format: "qcow2-compressed"},
			},
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
			// The validate: entries are YAML nodes; compare what they say.
			checks, err := json.Marshal(s.Image.Validate)
			if err != nil {
				t.Fatal(err)
			}
			if want := validateJSON[tt.file]; string(checks) != want {
				t.Errorf("validate: %s, want %s", checks, want)
			}
			s.Image.Validate = CheckList{}
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
			in:     NodeImage{OS: OS{Files: []File{{Path: "/a"}}}, Kubernetes: &Kubernetes{Version: "v1.35.1"}},
			distro: Distro{Name: "ubuntu", Kernel: "linux-image-virtual", Bootloader: "grub", Cmdline: "quiet"},
			want: NodeImage{
				OS: OS{Distro: "ubuntu", Kernel: "linux-image-virtual", Files: []File{{Path: "/a", Mode: "0644"}}},
				Kubernetes: &Kubernetes{Version: "v1.35.1", Install: "rootfs", Bootstrap: "cloud-init",
					SandboxImage: "registry.k8s.io/pause:3.10.1"},
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
				Kubernetes: &Kubernetes{Install: "sysext", Bootstrap: "none", SandboxImage: "mirror.example/pause:3.9"},
				Disk: Disk{Size: 2 * GiB, Boot: "bios", Bootloader: "grub",
					Root: RootFS{Filesystem: "xfs", Label: "sys"}, Cmdline: "ro"},
			},
			distro: Distro{Name: "debian", Kernel: "linux-image-amd64", Bootloader: "systemd-boot", Cmdline: "console=ttyS0"},
			want: NodeImage{
				OS:         OS{Distro: "mine", Kernel: "k", Files: []File{{Path: "/a", Mode: "0600"}}},
				Kubernetes: &Kubernetes{Install: "sysext", Bootstrap: "none", SandboxImage: "mirror.example/pause:3.9"},
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
	k8s, err := Parse("full-k8s.yaml", readTestdata(t, "full-k8s.yaml"))
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
		{k8s, "kubernetes", Pos{16, 1}, true},
		{k8s, "kubernetes.sandboxImage", Pos{25, 3}, true},
		{k8s, "kubernetes.artifacts", Pos{26, 3}, true},
		{k8s, "kubernetes.artifacts.kubelet", Pos{27, 5}, true},
		{k8s, "kubernetes.artifacts.kubelet.url", Pos{28, 7}, true},
		{k8s, "kubernetes.artifacts.kubelet.sha256", Pos{29, 7}, true},
		// "    containerd: {sha256: ...}"
		{k8s, "kubernetes.artifacts.containerd.sha256", Pos{30, 18}, true},
		{k8s, "kubernetes.artifacts.containerd.url", Pos{}, false},
		{k8s, "kubernetes.artifacts.cni.url", Pos{31, 11}, true},
		{k8s, "kubernetes.artifacts.runc", Pos{}, false},
		// "  images: [kube-proxy, {name: pause, url: ...}]"
		{k8s, "kubernetes.images[0]", Pos{32, 12}, true},
		{k8s, "kubernetes.images[0].name", Pos{}, false},
		{k8s, "kubernetes.images[1].url", Pos{32, 38}, true},
		{k8s, "disk", Pos{35, 1}, true},
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

// TestArtifactsDecoding covers kubernetes.artifacts in block and flow
// style, with x- fields, a null entry and an aliased checksum.
func TestArtifactsDecoding(t *testing.T) {
	const sum = testSum
	doc := header +
		"kubernetes:\n" + // line 4
		"  artifacts:\n" +
		"    x-note: the mirror has its own layout\n" +
		"    kubeadm:\n" +
		"      url: http://10.0.0.1:8080/k8s/kubeadm\n" + // line 8
		"      x-by: ops\n" +
		"    kubectl: {sha256: &sum " + sum + "}\n" + // line 10
		"    runc: ~\n" +
		"    crictl: {sha256: *sum}\n" + // line 12
		"  version: v1.31.2\n" + k8sPinsBlock
	s := mustLoad(t, "node.yaml", []byte(doc), nil)
	want := &Artifacts{
		Kubeadm: Artifact{URL: "http://10.0.0.1:8080/k8s/kubeadm"},
		Kubectl: Artifact{SHA256: sum},
		Crictl:  Artifact{SHA256: sum},
	}
	if got := s.Image.Kubernetes.Artifacts; !reflect.DeepEqual(got, want) {
		t.Errorf("artifacts %#v, want %#v", got, want)
	}
	positions := []struct {
		field string
		want  Pos
		ok    bool
	}{
		{"kubernetes.artifacts", Pos{5, 3}, true},
		{"kubernetes.artifacts.kubeadm", Pos{7, 5}, true},
		{"kubernetes.artifacts.kubeadm.url", Pos{8, 7}, true},
		{"kubernetes.artifacts.kubectl.sha256", Pos{10, 15}, true},
		// A null entry is unset, but its key is still where it was written.
		{"kubernetes.artifacts.runc", Pos{11, 5}, true},
		{"kubernetes.artifacts.crictl.sha256", Pos{12, 14}, true},
		{"kubernetes.artifacts.x-note", Pos{}, false},
		{"kubernetes.artifacts.kubeadm.x-by", Pos{}, false},
		{"kubernetes.artifacts.kubelet", Pos{}, false},
	}
	for _, tt := range positions {
		if got, ok := s.Position(tt.field); got != tt.want || ok != tt.ok {
			t.Errorf("Position(%q) = %v, %v; want %v, %v", tt.field, got, ok, tt.want, tt.ok)
		}
	}
}

func TestArtifactsNullIsUnset(t *testing.T) {
	s, err := Parse("node.yaml", []byte(header+"kubernetes:\n  artifacts:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Image.Kubernetes.Artifacts != nil {
		t.Errorf("artifacts %#v, want nil", s.Image.Kubernetes.Artifacts)
	}
}

func TestSandboxImage(t *testing.T) {
	// kubeadm v1.31's pause image, for pinArgs' release; full-k8s.yaml
	// pins v1.36.3, whose kubeadm asks for 3.10.2.
	const def = "registry.k8s.io/pause:3.10"
	const def136 = "registry.k8s.io/pause:3.10.2"
	pinArgs := map[string]string{
		"KUBERNETES_VERSION": "v1.31.2", "KUBERNETES_CONTAINERD": "1.7.22",
		"KUBERNETES_RUNC": "1.1.14", "KUBERNETES_CRICTL": "1.31.1", "KUBERNETES_CNI": "1.5.1",
	}
	with := func(extra map[string]string) map[string]string {
		args := map[string]string{}
		for k, v := range pinArgs {
			args[k] = v
		}
		for k, v := range extra {
			args[k] = v
		}
		return args
	}
	tests := []struct {
		name    string
		file    string
		data    []byte
		args    map[string]string
		want    string
		wantArg string // the build arg blamed for kubernetes.sandboxImage
	}{
		{name: "default when the section leaves it out", file: "node.yaml", data: []byte(header + "kubernetes: {" + k8sPins + "}\n"), want: def},
		{name: "empty value is unset", file: "node.yaml", data: []byte(header + "kubernetes: {" + k8sPins + ", sandboxImage: \"\"}\n"), want: def},
		{name: "from the file", file: "full-k8s.yaml", want: "registry.example.com/k8s/pause:3.10"},
		{
			name: "build arg wins over the file", file: "full-k8s.yaml",
			args: map[string]string{"KUBERNETES_SANDBOX_IMAGE": "localhost:5000/pause:3.9"},
			want: "localhost:5000/pause:3.9", wantArg: "KUBERNETES_SANDBOX_IMAGE",
		},
		{
			name: "empty build arg falls back to the default", file: "full-k8s.yaml",
			args: map[string]string{"KUBERNETES_SANDBOX_IMAGE": ""},
			want: def136, wantArg: "KUBERNETES_SANDBOX_IMAGE",
		},
		{name: "default in a section created by build args", file: "full.yaml", args: pinArgs, want: def},
		{
			name: "build arg in a section created by build args", file: "full.yaml",
			args: with(map[string]string{"KUBERNETES_SANDBOX_IMAGE": "mirror.example/pause:3.10"}),
			want: "mirror.example/pause:3.10", wantArg: "KUBERNETES_SANDBOX_IMAGE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if data == nil {
				data = readTestdata(t, tt.file)
			}
			s := mustLoad(t, tt.file, data, tt.args)
			if got := s.Image.Kubernetes.SandboxImage; got != tt.want {
				t.Errorf("sandboxImage %q, want %q", got, tt.want)
			}
			if arg, _ := s.overriddenBy("kubernetes.sandboxImage"); arg != tt.wantArg {
				t.Errorf("sandboxImage set by build arg %q, want %q", arg, tt.wantArg)
			}
		})
	}

	// Without a kubernetes section there is nothing to default.
	if s := mustLoad(t, "full.yaml", readTestdata(t, "full.yaml"), nil); s.Image.Kubernetes != nil {
		t.Errorf("full.yaml gained a kubernetes section: %#v", s.Image.Kubernetes)
	}
	// A default has no position of its own.
	s := mustLoad(t, "node.yaml", []byte(header+"kubernetes: {"+k8sPins+"}\n"), nil)
	if p, ok := s.Position("kubernetes.sandboxImage"); ok {
		t.Errorf("defaulted sandboxImage has position %v", p)
	}
}
