package spec

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestOverridableNames(t *testing.T) {
	want := []string{
		"NAME", "OS_BASE", "OS_DISTRO", "OS_KERNEL", "OS_PACKAGES", "OS_PACKAGE_SECRET",
		"DISK_SIZE", "DISK_BOOT", "DISK_BOOTLOADER", "DISK_CMDLINE", "DISK_ROOT_LABEL",
		"KUBERNETES_VERSION", "KUBERNETES_CONTAINERD", "KUBERNETES_RUNC", "KUBERNETES_CRICTL",
		"KUBERNETES_CNI", "KUBERNETES_SOURCE", "KUBERNETES_SOURCE_SECRET", "KUBERNETES_INSTALL", "KUBERNETES_BOOTSTRAP",
		"KUBERNETES_SANDBOX_IMAGE", "KUBERNETES_IMAGES",
		"KUBERNETES_SYSEXT_FORMAT",
	}
	var got []string
	for _, a := range Overridable() {
		got = append(got, a.Name)
		// The name is the field path in upper snake case.
		if snake := upperSnake(a.Field); snake != a.Name {
			t.Errorf("%s: field %q would be named %s", a.Name, a.Field, snake)
		}
		if a.Description == "" {
			t.Errorf("%s: no description", a.Name)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// upperSnake turns a field path into a build-arg name: dots and the word
// breaks of camelCase keys become underscores (kubernetes.sandboxImage is
// KUBERNETES_SANDBOX_IMAGE).
func upperSnake(field string) string {
	var b strings.Builder
	for _, r := range field {
		switch {
		case r == '.':
			b.WriteByte('_')
		case unicode.IsUpper(r):
			b.WriteByte('_')
			b.WriteRune(r)
		default:
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// TestOverridableFields checks that every arg names a real field and sets
// exactly that field.
func TestOverridableFields(t *testing.T) {
	data := readTestdata(t, "full-k8s.yaml")
	base, err := Parse("full-k8s.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Overridable() {
		if _, ok := base.Position(a.Field); !ok {
			t.Errorf("%s: field %q is not in full-k8s.yaml, which sets every overridable field", a.Name, a.Field)
		}
		s, err := Parse("full-k8s.yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		value := "x1"
		if a.Name == "DISK_SIZE" {
			value = "16GiB"
		}
		if err := s.ApplyOverrides(map[string]string{a.Name: value}); err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		if s.Digest() == base.Digest() {
			t.Errorf("%s changed nothing", a.Name)
		}
		if arg, ok := s.overriddenBy(a.Field); !ok || arg != a.Name {
			t.Errorf("%s: %q recorded as set by %q", a.Name, a.Field, arg)
		}
	}
}

func TestApplyOverrides(t *testing.T) {
	s, err := Parse("full.yaml", readTestdata(t, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	err = s.ApplyOverrides(map[string]string{
		"NAME":                  "custom",
		"OS_PACKAGES":           " curl, jq,,",
		"DISK_SIZE":             "16GiB",
		"DISK_CMDLINE":          "console=ttyS0 quiet",
		"KUBERNETES_VERSION":    "v1.31.2",
		"KUBERNETES_CONTAINERD": "1.7.22",
		"KUBERNETES_RUNC":       "1.1.14",
		"KUBERNETES_CRICTL":     "1.31.1",
		"KUBERNETES_CNI":        "1.5.1",
		// Predefined by BuildKit: ignored.
		"BUILDKIT_SYNTAX":               "ghcr.io/strata-dev/strata:v0",
		"BUILDKIT_CACHE_MOUNT_NS":       "ns",
		"BUILDKIT_MULTI_PLATFORM":       "1",
		"SOURCE_DATE_EPOCH":             "0",
		"HTTP_PROXY":                    "http://proxy:3128",
		"https_proxy":                   "http://proxy:3128",
		"NO_PROXY":                      "localhost",
		"ftp_proxy":                     "x",
		"ALL_PROXY":                     "x",
		"BUILDKIT_SANDBOX_HOSTNAME":     "h",
		"BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	s.ApplyDefaults(testDistros["debian"])
	if err := s.Validate(testDistros); err != nil {
		t.Fatal(err)
	}
	img := s.Image
	if img.Name != "custom" || img.Disk.Size != 16*GiB || img.Disk.Cmdline != "console=ttyS0 quiet" {
		t.Errorf("scalars not overridden: %q %v %q", img.Name, img.Disk.Size, img.Disk.Cmdline)
	}
	if want := []string{"curl", "jq"}; !reflect.DeepEqual(img.OS.Packages, want) {
		t.Errorf("packages %q, want %q", img.OS.Packages, want)
	}
	want := &Kubernetes{
		Version: "v1.31.2", Containerd: "1.7.22", Runc: "1.1.14", Crictl: "1.31.1", CNI: "1.5.1",
		Install: "rootfs", Bootstrap: "cloud-init", SandboxImage: "registry.k8s.io/pause:3.10",
	}
	if !reflect.DeepEqual(img.Kubernetes, want) {
		t.Errorf("kubernetes %#v, want %#v", img.Kubernetes, want)
	}
	// Element positions of the replaced list are gone; the key stays.
	if p, ok := s.Position("os.packages[0]"); ok {
		t.Errorf("stale position %v for replaced os.packages[0]", p)
	}
	if p, ok := s.Position("os.packages"); !ok || p != (Pos{9, 3}) {
		t.Errorf("os.packages at %v, %v; want 9:3", p, ok)
	}
}

func TestApplyOverridesEmptyPackagesClears(t *testing.T) {
	s, err := Parse("full.yaml", readTestdata(t, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyOverrides(map[string]string{"OS_PACKAGES": ""}); err != nil {
		t.Fatal(err)
	}
	if s.Image.OS.Packages != nil {
		t.Errorf("packages %q, want none", s.Image.OS.Packages)
	}
}

func TestApplyOverridesErrors(t *testing.T) {
	const allArgs = "DISK_BOOT, DISK_BOOTLOADER, DISK_CMDLINE, DISK_ROOT_LABEL, DISK_SIZE, " +
		"KUBERNETES_BOOTSTRAP, KUBERNETES_CNI, KUBERNETES_CONTAINERD, KUBERNETES_CRICTL, KUBERNETES_IMAGES, KUBERNETES_INSTALL, KUBERNETES_RUNC, " +
		"KUBERNETES_SANDBOX_IMAGE, KUBERNETES_SOURCE, KUBERNETES_SOURCE_SECRET, KUBERNETES_SYSEXT_FORMAT, KUBERNETES_VERSION, NAME, OS_BASE, OS_DISTRO, OS_KERNEL, OS_PACKAGES, OS_PACKAGE_SECRET"
	tests := []struct {
		name string
		args map[string]string
		want string
	}{
		{
			name: "unknown arg",
			args: map[string]string{"FOO": "1"},
			want: `build arg "FOO" is not declared by node.yaml; overridable args: ` + allArgs,
		},
		{
			name: "args are case-sensitive; all unknown ones are reported",
			args: map[string]string{"disk_size": "8GiB", "DISK_SIZE": "8GiB", "OS_PACKAGE": "a"},
			want: `build arg "OS_PACKAGE" is not declared by node.yaml; overridable args: ` + allArgs + "\n" +
				`build arg "disk_size" is not declared by node.yaml; overridable args: ` + allArgs,
		},
		{
			name: "bad size",
			args: map[string]string{"DISK_SIZE": "abc"},
			want: `build arg DISK_SIZE: invalid size "abc"; use a whole number with a unit KiB, MiB, GiB or TiB (e.g. 8GiB), or a plain number of bytes`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("node.yaml", []byte(header), tt.args, testDistros)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestOverrideValidation checks that overridden values are validated and
// blamed on the arg.
func TestOverrideValidation(t *testing.T) {
	tests := []struct {
		name string
		file string
		args map[string]string
		want string
	}{
		{
			name: "field written in the file keeps its position",
			file: "full.yaml",
			args: map[string]string{"DISK_BOOT": "bios"},
			want: `full.yaml:17:3: disk.boot: boot mode "bios" is not supported yet; use uefi (set by build arg DISK_BOOT)`,
		},
		{
			name: "size",
			file: "full.yaml",
			args: map[string]string{"DISK_SIZE": "100MiB"},
			want: `full.yaml:16:3: disk.size: 100MiB is too small; use at least 1GiB (set by build arg DISK_SIZE)`,
		},
		{
			name: "replaced list points at its key",
			file: "full.yaml",
			args: map[string]string{"OS_PACKAGES": "curl,curl"},
			want: `full.yaml:9:3: os.packages[1]: duplicate package "curl", already listed as os.packages[0]; list each package once (set by build arg OS_PACKAGES)`,
		},
		{
			name: "section created by an arg points at the document",
			file: "full.yaml",
			args: map[string]string{
				"KUBERNETES_VERSION": "1.31", "KUBERNETES_CONTAINERD": "1.7.22",
				"KUBERNETES_RUNC": "1.1.14", "KUBERNETES_CRICTL": "1.31.1", "KUBERNETES_CNI": "1.5.1",
			},
			want: `full.yaml:2:1: kubernetes.version: invalid version "1.31"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2 (set by build arg KUBERNETES_VERSION)`,
		},
		{
			// The missing companions were set by nobody, so no arg is blamed.
			name: "section created by an arg must pin every companion",
			file: "full.yaml",
			args: map[string]string{"KUBERNETES_VERSION": "v1.31.2", "KUBERNETES_SANDBOX_IMAGE": "mirror.example/pause:3.10"},
			want: "full.yaml:2:1: kubernetes.containerd: required; pin the containerd release, e.g. 1.7.22\n" +
				"full.yaml:2:1: kubernetes.runc: required; pin the runc release, e.g. 1.1.14\n" +
				"full.yaml:2:1: kubernetes.crictl: required; pin the crictl release, e.g. 1.31.1\n" +
				"full.yaml:2:1: kubernetes.cni: required; pin the cni release, e.g. 1.5.1",
		},
		{
			name: "an empty arg unsets a companion",
			file: "full-k8s.yaml",
			args: map[string]string{"KUBERNETES_RUNC": ""},
			want: `full-k8s.yaml:19:3: kubernetes.runc: required; pin the runc release, e.g. 1.1.14 (set by build arg KUBERNETES_RUNC)`,
		},
		{
			name: "containerd major from an arg",
			file: "full-k8s.yaml",
			args: map[string]string{"KUBERNETES_CONTAINERD": "3.0.0"},
			want: `full-k8s.yaml:18:3: kubernetes.containerd: containerd 3.0.0: strata knows the config schema of containerd 1.x (version 2) and 2.x (version 3) only; use a 1.x or 2.x release (set by build arg KUBERNETES_CONTAINERD)`,
		},
		{
			name: "distro",
			file: "minimal.yaml",
			args: map[string]string{"OS_DISTRO": "arch"},
			want: `minimal.yaml:1:1: os.distro: unknown distro "arch"; known: debian, ubuntu (set by build arg OS_DISTRO)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.file, readTestdata(t, tt.file), tt.args, testDistros)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestOverrideDistroPicksDefaults(t *testing.T) {
	s := mustLoad(t, "minimal.yaml", readTestdata(t, "minimal.yaml"), map[string]string{"OS_DISTRO": "ubuntu"})
	if s.Image.OS.Kernel != "linux-image-virtual" || s.Image.Disk.Cmdline != "console=tty1" {
		t.Errorf("ubuntu defaults not applied: kernel %q, cmdline %q", s.Image.OS.Kernel, s.Image.Disk.Cmdline)
	}
}

// TestValueReadsEveryOverridableField: --call outline shows each build
// arg's current value through Value, so every arg's field must resolve.
func TestValueReadsEveryOverridableField(t *testing.T) {
	s := mustLoad(t, "full-k8s.yaml", readTestdata(t, "full-k8s.yaml"), nil)
	for _, a := range Overridable() {
		v, ok := s.Value(a.Field)
		if !ok && a.Name == "KUBERNETES_IMAGES" {
			continue // full-k8s.yaml lists an image by URL, which the arg cannot spell
		}
		if !ok {
			t.Errorf("%s: Value(%q) found no field", a.Name, a.Field)
			continue
		}
		// Setting the value as a build arg must change nothing.
		again := mustLoad(t, "full-k8s.yaml", readTestdata(t, "full-k8s.yaml"), map[string]string{a.Name: v})
		if again.Digest() != s.Digest() {
			t.Errorf("%s: Value gives %q, which as a build arg changes the spec", a.Name, v)
		}
	}
	if _, ok := s.Value("kubernetes.nope"); ok {
		t.Error("Value found a field that does not exist")
	}
	if v, _ := s.Value("disk.size"); v != "8GiB" {
		t.Errorf("disk.size = %q", v)
	}
}
