package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func baseInputs() inputs {
	return inputs{
		Suite:             "bookworm",
		Variant:           "minbase",
		MmdebstrapVersion: "mmdebstrap 1.3.5",
		SourcesDigest:     "aaaa",
	}
}

func TestKeyCoversEveryInput(t *testing.T) {
	base := baseInputs()
	key := base.key()
	if len(key) != 16 {
		t.Errorf("key %q is not 16 hex digits", key)
	}
	if again := baseInputs(); again.key() != key {
		t.Error("key is not stable")
	}
	changes := map[string]func(*inputs){
		"suite":   func(in *inputs) { in.Suite = "trixie" },
		"variant": func(in *inputs) { in.Variant = "apt" },
		"include": func(in *inputs) { in.Include = []string{"e2fsprogs"} },
		"version": func(in *inputs) { in.MmdebstrapVersion = "mmdebstrap 1.4.0" },
		"epoch":   func(in *inputs) { in.SourceDateEpoch = "1700000000" },
		"mirror":  func(in *inputs) { in.SourcesDigest = "bbbb" },
		"sources": func(in *inputs) { in.Sources = []string{"/etc/apt/sources.list"} },
	}
	for name, change := range changes {
		in := baseInputs()
		change(&in)
		if in.key() == key {
			t.Errorf("changing %s keeps the key", name)
		}
	}
}

func TestSplitList(t *testing.T) {
	a := splitList("zstd, e2fsprogs,,e2fsprogs ")
	b := splitList("e2fsprogs,zstd")
	if want := []string{"e2fsprogs", "zstd"}; !reflect.DeepEqual(a, want) || !reflect.DeepEqual(b, want) {
		t.Errorf("splitList = %q, %q; want %q", a, b, want)
	}
	if got := splitList(""); got != nil {
		t.Errorf("splitList(\"\") = %q", got)
	}
}

func TestSourceSuites(t *testing.T) {
	deb822 := `Types: deb
# comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example/debian-security
suites: bookworm-security # trailing comment
Components: main
`
	if got, want := sourceSuites("x.sources", []byte(deb822)), []string{"bookworm", "bookworm-updates", "bookworm-security"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deb822 suites = %q, want %q", got, want)
	}
	oneLine := `# deb http://old.example/debian buster main
deb http://mirror.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://vendor.example/apt stable main
deb-src [trusted=yes] http://mirror.example/debian trixie main
`
	if got, want := sourceSuites("sources.list", []byte(oneLine)), []string{"bookworm", "stable", "trixie"}; !reflect.DeepEqual(got, want) {
		t.Errorf("one-line suites = %q, want %q", got, want)
	}
}

func TestReadSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	debian := write("debian.sources", "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n")
	security := write("security.list", "deb http://m.example/debian-security bookworm-security main\n")
	vendor := write("vendor.list", "deb https://vendor.example/apt cloud-sdk main\n")
	missing := filepath.Join(dir, "sources.list")

	in := baseInputs()
	if err := in.readSources([]string{missing, debian, security, vendor}, ""); err != nil {
		t.Fatal(err)
	}
	if want := []string{debian, security}; !reflect.DeepEqual(in.Sources, want) {
		t.Errorf("Sources = %q, want %q", in.Sources, want)
	}
	digest := in.SourcesDigest

	// Any mirror edit, even in a file not handed to mmdebstrap, changes
	// the digest.
	write("vendor.list", "deb https://other.example/apt cloud-sdk main\n")
	if err := in.readSources([]string{missing, debian, security, vendor}, ""); err != nil {
		t.Fatal(err)
	}
	if in.SourcesDigest == digest {
		t.Error("sources digest ignores a changed file")
	}
	if strings.Contains(in.describe(), "example") {
		t.Errorf("inputs record leaks mirror names:\n%s", in.describe())
	}

	other := baseInputs()
	other.Suite = "trixie"
	if err := other.readSources([]string{debian, security, vendor}, ""); err != nil {
		t.Fatal(err)
	}
	if len(other.Sources) != 0 {
		t.Errorf("host sources %q used for another suite", other.Sources)
	}

	// On a bookworm host, a trixie base gets the bookworm sources, renamed.
	if err := other.readSources([]string{debian, security, vendor}, "bookworm"); err != nil {
		t.Fatal(err)
	}
	if want := []string{debian, security}; !reflect.DeepEqual(other.Sources, want) || other.SuiteFrom != "bookworm" {
		t.Errorf("Sources = %q from %q, want %q from bookworm", other.Sources, other.SuiteFrom, want)
	}
	if in.key() == other.key() {
		t.Error("renamed sources share the host suite's key")
	}
	renamed, err := other.sourcesFor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{
		"Types: deb\nURIs: http://m.example/debian\nSuites: trixie trixie-updates\nComponents: main\n",
		"deb http://m.example/debian-security trixie-security main\n",
	}
	for i, p := range renamed {
		if got, _ := os.ReadFile(p); string(got) != wants[i] {
			t.Errorf("renamed %s:\n%s\nwant:\n%s", p, got, wants[i])
		}
		if !strings.HasSuffix(p, filepath.Ext(other.Sources[i])) {
			t.Errorf("renamed %s lost the format suffix of %s", p, other.Sources[i])
		}
	}
}

func TestRenameSuite(t *testing.T) {
	for _, tc := range []struct{ path, in, want string }{
		{"a.list", "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main # main\n",
			"deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian trixie main # main\n"},
		{"a.list", "deb http://m.example/bookworm-mirror bookworm-backports main\n# bookworm stays in comments\n",
			"deb http://m.example/bookworm-mirror trixie-backports main\n# bookworm stays in comments\n"},
		{"a.list", "deb http://m.example/debian sid main\n", "deb http://m.example/debian sid main\n"},
		{"a.sources", "# http://snapshot.example/bookworm\nURIs: http://m.example/debian\nSuites: bookworm-security\n",
			"# http://snapshot.example/bookworm\nURIs: http://m.example/debian\nSuites: trixie-security\n"},
	} {
		if got := string(renameSuite(tc.path, []byte(tc.in), "bookworm", "trixie")); got != tc.want {
			t.Errorf("renameSuite(%s, %q) =\n%q\nwant\n%q", tc.path, tc.in, got, tc.want)
		}
	}
}

func TestMmdebstrapArgs(t *testing.T) {
	in := baseInputs()
	in.Include = []string{"e2fsprogs", "zstd"}
	in.Sources = []string{"/etc/apt/sources.list.d/debian.sources"}
	got := in.mmdebstrapArgs("/c/rootfs.tar", in.Sources)
	want := []string{"--variant=minbase", "--include=e2fsprogs,zstd", "bookworm", "/c/rootfs.tar", "/etc/apt/sources.list.d/debian.sources"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
	in = baseInputs()
	if got, want := in.mmdebstrapArgs("out.tar", nil), []string{"--variant=minbase", "bookworm", "out.tar"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
}

func TestBuildContextRef(t *testing.T) {
	got := buildContextRef("/var/cache/strata-e2e/0123456789abcdef/oci", "sha256:abc")
	if want := "oci-layout:///var/cache/strata-e2e/0123456789abcdef/oci@sha256:abc"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
