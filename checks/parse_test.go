package checks

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-dev/strata/spec"
)

func strp(s string) *string { return &s }

func TestParseEveryKind(t *testing.T) {
	s, err := Load("testdata/every-kind.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line   int
		name   string
		assert Assertion
	}{
		{9, "", File{Path: "/etc/hostname", Type: "file", Mode: "0644", Owner: "root", Group: "0", Contains: []string{"node"}, NotContains: []string{"localhost"}}},
		{16, "", File{Path: "/etc/resolv.conf", Target: strp("../run/systemd/resolve/stub-resolv.conf")}},
		{18, "", File{Path: "/etc/ssh/ssh_host_*_key", Absent: true}},
		{20, "", File{Path: "/etc/machine-id", Equals: strp("")}},
		{22, "", File{Path: "/usr/bin/kubelet", SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Mode: "0755"}},
		{25, "", Package{Name: "containerd", VersionPrefix: "1.6."}},
		{27, "", Package{Name: "telnet", Absent: true}},
		{29, "", Service{Unit: "kubelet"}},
		{30, "", Service{Unit: "apt-daily.timer", State: []string{"disabled", "masked"}}},
		{32, "", Sysctl{Key: "net.ipv4.ip_forward", Value: "1"}},
		{34, "", Module{Name: "br_netfilter"}},
		{35, "serial console", Cmdline{Arg: "console=ttyS0"}},
		{37, "", Cmdline{Arg: "quiet", Absent: true}},
		{39, "", Module{Name: "overlay"}},
	}
	if len(s.Checks) != len(want) {
		t.Fatalf("%d checks, want %d", len(s.Checks), len(want))
	}
	for i, w := range want {
		c := s.Checks[i]
		if !reflect.DeepEqual(c.Assert, w.assert) {
			t.Errorf("check %d: %#v\nwant %#v", i, c.Assert, w.assert)
		}
		if src := "testdata/every-kind.yaml:" + itoa(w.line); c.Source != src {
			t.Errorf("check %d: source %q, want %q", i, c.Source, src)
		}
		if c.Name != w.name {
			t.Errorf("check %d: name %q, want %q", i, c.Name, w.name)
		}
	}
	h := HygieneOptions{Skip: []string{"apt-lists"}, VarLogLimit: 300 << 20, SecretScanMaxFile: 64 << 20}
	if !reflect.DeepEqual(s.Hygiene, h) {
		t.Errorf("hygiene %+v, want %+v", s.Hygiene, h)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseAnchors(t *testing.T) {
	s, err := Parse("c.yaml", []byte("checks:\n  - file: /etc/a\n    mode: &m \"0600\"\n    contains: &words [x, y]\n  - file: /etc/b\n    mode: *m\n    contains: *words\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Checks[1].Assert.(File)
	if b.Mode != "0600" || len(b.Contains) != 2 {
		t.Errorf("aliases: %+v", b)
	}
}

// TestParseErrors: each bad file is refused with the position of what is
// wrong and words that say what.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // "line:col: words", one per expected error
	}{
		{"unknown kind", "checks:\n  - fiel: /etc/x\n", []string{"2:5: checks[0]: no kind: an entry starts with one of file:, package:"}},
		{"unknown field", "checks:\n  - file: /etc/x\n    mod: \"0644\"\n", []string{`3:5: checks[0].mod: unknown field "mod"; allowed here: file, name, source, absent, type, mode`}},
		{"two kinds", "checks:\n  - file: /etc/x\n    package: curl\n", []string{"3:5: checks[0]: one check per entry: file: and package: are both here"}},
		{"bad mode", "checks:\n  - file: /etc/x\n    mode: \"0999\"\n", []string{`3:11: checks[0].mode: mode "0999" is not an octal mode`}},
		{"bad type", "checks:\n  - file: /etc/x\n    type: dir\n", []string{`3:11: checks[0].type: type "dir" is not one of file, directory`}},
		{"relative path", "checks:\n  - file: etc/x\n", []string{`2:5: checks[0]: path "etc/x" must be absolute`}},
		{"absent and mode", "checks:\n  - file: /etc/x\n    absent: true\n    mode: \"0644\"\n", []string{"2:5: checks[0]: absent cannot be combined"}},
		{"absent not a bool", "checks:\n  - package: curl\n    absent: yes\n", []string{`3:13: checks[0].absent: must be true or false, got "yes"`}},
		{"bad state", "checks:\n  - service: kubelet\n    state: [enabled, running]\n", []string{`3:22: checks[0].state: state "running" is not one of enabled`}},
		{"bad regexp", "checks:\n  - package: curl\n    versionMatches: \"7.(\"\n", []string{"3:21: checks[0].versionMatches: versionMatches \"7.(\": error parsing regexp"}},
		{"two versions", "checks:\n  - package: curl\n    version: \"1\"\n    versionPrefix: \"1.\"\n", []string{"2:5: checks[0]: use one of version, versionPrefix and versionMatches"}},
		{"sysctl without value", "checks:\n  - sysctl: net.ipv4.ip_forward\n", []string{"2:5: checks[0]: sysctl: needs value:"}},
		{"bad sha256", "checks:\n  - file: /etc/x\n    sha256: abc\n", []string{`3:13: checks[0].sha256: sha256 "abc" is not 64 hex digits`}},
		{"list for a string", "checks:\n  - file: /etc/x\n    mode: [\"0644\"]\n", []string{"3:11: checks[0].mode: must be a string, got a list"}},
		{"null subject", "checks:\n  - file:\n", []string{"2:10: checks[0].file: must be a string, got nothing (null)"}},
		{"duplicate field", "checks:\n  - file: /etc/x\n    mode: \"0644\"\n    mode: \"0600\"\n", []string{`4:5: checks[0].mode: duplicate field "mode"`}},
		{"entry not a mapping", "checks:\n  - /etc/x\n", []string{"2:5: checks[0]: must be a mapping such as {file: /etc/hostname}"}},
		{"checks not a list", "checks:\n  file: /etc/x\n", []string{"2:3: checks: must be a list of checks, got a mapping"}},
		{"a node spec", "apiVersion: strata.dev/v1alpha1\nkind: NodeImage\nchecks: []\n", []string{"2:7: kind: must be Checks: this is a NodeImage, not a check file"}},
		{"unknown hygiene check", "hygiene:\n  skip: [ssh-keys]\n", []string{`2:10: hygiene.skip: "ssh-keys" is no hygiene check; they are ssh-host-keys`}},
		{"bad size", "hygiene:\n  varLogLimit: 200MB\n", []string{"2:16: hygiene.varLogLimit: "}},
		{"unknown top-level", "check:\n  - file: /etc/x\n", []string{`1:1: check: unknown field "check"; allowed here: apiVersion, kind, hygiene, checks`, "1:1: no checks"}},
		{"every error at once", "checks:\n  - file: /etc/x\n    mode: \"9\"\n  - service: x\n    state: on\n", []string{"3:11: checks[0].mode", "5:12: checks[1].state"}},
		{"empty file", "", []string{"1:1: the file holds no YAML document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			var list spec.ErrorList
			if !errors.As(err, &list) {
				var one *spec.Error
				if !errors.As(err, &one) {
					t.Fatalf("error %T %v is no spec.Error", err, err)
				}
				list = spec.ErrorList{one}
			}
			if len(list) != len(tc.want) {
				t.Errorf("%d errors, want %d:\n%v", len(list), len(tc.want), err)
			}
			for i, w := range tc.want {
				if i < len(list) && !strings.HasPrefix(list[i].Error(), "c.yaml:"+w) {
					t.Errorf("error %d:\n got %s\nwant c.yaml:%s...", i, list[i].Error(), w)
				}
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	s, err := Parse("c.yaml", []byte("checks:\n  - module: overlay\n    source: kubernetes layer\n  - module: br_netfilter\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Checks[0].Source != "kubernetes layer" || s.Checks[1].Source != "c.yaml:4" {
		t.Errorf("sources %q, %q", s.Checks[0].Source, s.Checks[1].Source)
	}
	for doc, want := range map[string]string{
		"checks:\n  - module: overlay\n    source: \"\"\n":   `c.yaml:3:13: checks[0].source: must say where the check comes from`,
		"checks:\n  - module: overlay\n    source: [a, b]\n": `c.yaml:3:13: checks[0].source: must be a string, got a list`,
	} {
		if _, err := Parse("c.yaml", []byte(doc)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: error %v, want %s...", doc, err, want)
		}
	}
}

// TestParseList reads a spec's validate: list: its checks with the spec's
// lines as their sources, and its errors at the spec's positions under the
// field validate.
func TestParseList(t *testing.T) {
	const head = "apiVersion: strata.dev/v1alpha1\nkind: NodeImage\nname: n\n"
	s, err := spec.Parse("node.yaml", []byte(head+"validate:\n  - file: /etc/hostname\n    contains: node\n  - service: kubelet\n    source: my team\n"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := ParseList(s.File, s.Image.Validate.Node(), "validate")
	if err != nil {
		t.Fatal(err)
	}
	want := []Check{
		{Source: "node.yaml:5", Assert: File{Path: "/etc/hostname", Contains: []string{"node"}}},
		{Source: "my team", Assert: Service{Unit: "kubelet"}},
	}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("checks %#v\nwant %#v", list, want)
	}
	if list, err := ParseList("node.yaml", nil, "validate"); list != nil || err != nil {
		t.Errorf("no list: %v, %v", list, err)
	}

	s, err = spec.Parse("node.yaml", []byte(head+"validate:\n  - file: /etc/hostname\n  - file:\n  - {module: overlay, absent: maybe}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseList(s.File, s.Image.Validate.Node(), "validate")
	var errs spec.ErrorList
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("error %v, want two", err)
	}
	for i, w := range []string{
		"node.yaml:6:10: validate[1].file: must be a string, got nothing (null)",
		`node.yaml:7:31: validate[2].absent: must be true or false, got "maybe"`,
	} {
		if errs[i].Error() != w {
			t.Errorf("error %d: %s\nwant %s", i, errs[i], w)
		}
	}
}

// TestParseCapitalisedBooleans: YAML's True and TRUE are true. Read as
// false, "absent: True" would turn a check around.
func TestParseCapitalisedBooleans(t *testing.T) {
	for _, spelling := range []string{"true", "True", "TRUE"} {
		s, err := Parse("c.yaml", []byte("checks:\n  - file: /etc/x\n    absent: "+spelling+"\n  - module: foo\n    absent: "+spelling+"\n"))
		if err != nil {
			t.Fatalf("absent: %s: %v", spelling, err)
		}
		if f, ok := s.Checks[0].Assert.(File); !ok || !f.Absent {
			t.Errorf("file with absent: %s reads as %#v", spelling, s.Checks[0].Assert)
		}
		if m, ok := s.Checks[1].Assert.(Module); !ok || !m.Absent {
			t.Errorf("module with absent: %s reads as %#v", spelling, s.Checks[1].Assert)
		}
	}
}
