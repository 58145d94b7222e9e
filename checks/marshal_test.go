package checks

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-dev/strata/spec"
)

// everyField is a list with every kind, and every field of each kind set at
// least once, with text YAML would misread if it were written carelessly.
func everyField() []Check {
	return []Check{
		{Source: "spec", Assert: File{Path: "/etc/hostname", Type: "file", Mode: "0644", Owner: "root", Group: "0",
			Contains: []string{"node", "key: value", "- item"}, NotContains: []string{"#comment", "*"}, Equals: strp("node\n\n  indented\n")}},
		{Name: "the kubelet", Source: "kubernetes layer", Assert: File{Path: "/usr/bin/kubelet", Mode: "4755",
			SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		{Source: "debian overlay", Assert: File{Path: "/etc/resolv.conf", Target: strp("../run/systemd/resolve/stub-resolv.conf")}},
		{Source: "node.yaml:40", Assert: File{Path: "/etc/machine-id", Equals: strp("")}},
		{Source: "spec", Assert: File{Path: "/etc/ssh/ssh_host_*_key", Absent: true}},
		{Source: "spec", Assert: File{Path: `/etc/a\*b`, Type: "directory"}},
		{Source: "spec", Assert: Package{Name: "containerd", VersionPrefix: "1.6."}},
		{Source: "spec", Assert: Package{Name: "libc6:amd64", Version: "2.36-9+deb12u4"}},
		{Source: "spec", Assert: Package{Name: "openssh-server", VersionMatches: `^1:9\.`}},
		{Source: "spec", Assert: Package{Name: "telnet", Absent: true}},
		{Source: "spec", Assert: Service{Unit: "kubelet"}},
		{Source: "spec", Assert: Service{Unit: "apt-daily.timer", State: []string{"disabled", "masked"}}},
		{Source: "spec", Assert: Sysctl{Key: "net.ipv4.ip_forward", Value: "1"}},
		{Source: "spec", Assert: Sysctl{Key: "net.ipv4.ip_local_port_range", Value: "1024 65000"}},
		{Source: "spec", Assert: Sysctl{Key: "kernel.core_pattern", Value: ""}},
		{Source: "spec", Assert: Module{Name: "br_netfilter"}},
		{Source: "spec", Assert: Module{Name: "floppy", Absent: true}},
		{Source: "spec", Assert: Cmdline{Arg: "console=ttyS0"}},
		{Name: "no quiet boot", Source: "spec", Assert: Cmdline{Arg: "quiet", Absent: true}},
	}
}

// TestMarshalRoundTrip: what Marshal writes, Parse reads back to the same
// checks, sources included, for every kind and field.
func TestMarshalRoundTrip(t *testing.T) {
	list := everyField()
	data, err := Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("embedded.yaml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(s.Checks, list) {
		for i := range list {
			if i < len(s.Checks) && !reflect.DeepEqual(s.Checks[i], list[i]) {
				t.Errorf("check %d:\n got %#v\nwant %#v", i, s.Checks[i], list[i])
			}
		}
		t.Fatalf("%d checks read back, want %d:\n%s", len(s.Checks), len(list), data)
	}
	// Every field of every kind was written at least once.
	for _, k := range kinds {
		for _, f := range k.fields {
			if !strings.Contains(string(data), "    "+f.name+":") {
				t.Errorf("no %s check wrote %s:\n%s", k.name, f.name, data)
			}
		}
	}
	for _, want := range []string{"apiVersion: " + APIVersion + "\n", "kind: " + Kind + "\n", "  - file: /etc/hostname\n    source: spec\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("output lacks %q:\n%s", want, data)
		}
	}
}

// TestMarshalSourceless: a check without a source is written without one,
// and read back with the line of its entry, as any check file's.
func TestMarshalSourceless(t *testing.T) {
	data, err := Marshal([]Check{{Assert: Module{Name: "overlay"}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("c.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Checks[0].Source; got != "c.yaml:4" {
		t.Errorf("source %q, want c.yaml:4:\n%s", got, data)
	}
	if empty, err := Marshal(nil); err != nil {
		t.Error(err)
	} else if s, err := Parse("c.yaml", empty); err != nil || len(s.Checks) != 0 {
		t.Errorf("an empty list: %v, %+v\n%s", err, s, empty)
	}
}

// TestMarshalStrings: text of every shape survives the trip, in every
// string field: random runs of characters YAML treats specially.
func TestMarshalStrings(t *testing.T) {
	pieces := []string{"a", "Z", "0", "0755", "1e3", " ", "  ", "\t", "\n", "\r\n", "\r", ":", ": ", "- ", "#", " #", "'", `"`,
		`\`, "*", "&", "!", "|", ">", "%", "@", "`", "{", "}", "[", "]", ",", "?", "~", "null", "true", "no", "é", "✓",
		"\u0085", "\u2028", "\u00a0", "\x00", "\x1b", "\x7f", "\ufeff", "---", "..."}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		var b strings.Builder
		for n := r.Intn(8); n >= 0; n-- {
			b.WriteString(pieces[r.Intn(len(pieces))])
		}
		s := b.String()
		list := []Check{
			{Name: s, Source: s, Assert: File{Path: "/etc/x", Equals: strp(s), Contains: []string{s}, Target: nil}},
			{Source: "spec", Assert: Sysctl{Key: "k.x", Value: s}},
			{Source: "spec", Assert: Package{Name: "p", Version: s}},
		}
		if strings.TrimSpace(s) == "" {
			list[0].Source = "spec" // an empty source is refused
		}
		data, err := Marshal(list)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		got, err := Parse("c.yaml", data)
		if err != nil {
			t.Fatalf("%q: %v\n%s", s, err, data)
		}
		if !reflect.DeepEqual(got.Checks, list) {
			t.Fatalf("%q read back as %#v\n%s", s, got.Checks, data)
		}
	}
}

func TestMarshalRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check Check
		want  string
	}{
		{"hygiene", Hygiene(HygieneOptions{})[0], "has no entry form"},
		{"invalid", Check{Source: "spec", Assert: File{Path: "etc/x"}}, `path "etc/x" must be absolute`},
		{"no assertion", Check{Source: "spec"}, "no assertion"},
		{"not UTF-8", Check{Source: "spec", Assert: File{Path: "/etc/x", Equals: strp("\xff\xfe")}}, "not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Marshal([]Check{{Source: "spec", Assert: Module{Name: "overlay"}}, tc.check})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "check 1 (") {
				t.Errorf("error %v, want one about check 1 saying %q", err, tc.want)
			}
		})
	}
}

// TestSpecSchemaNamesEveryKind: the spec's schema describes a validate:
// entry by this package's kinds, which spec cannot import.
func TestSpecSchemaNamesEveryKind(t *testing.T) {
	v := spec.Schema()["properties"].(map[string]any)["validate"].(map[string]any)
	d, _ := v["items"].(map[string]any)["description"].(string)
	for _, k := range kinds {
		if !strings.Contains(d, k.name) {
			t.Errorf("the schema's validate entries (%q) do not name the kind %s", d, k.name)
		}
	}
}
