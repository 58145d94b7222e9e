package checks

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

var sampleResults = []Result{
	{Name: "ssh-host-keys", Source: "hygiene", Status: Pass, Detail: "none found"},
	{Name: "resolv-conf", Source: "hygiene", Status: Fail, Path: "/etc/resolv.conf", Expected: "a symlink", Found: "nameserver 10.0.0.2", Detail: "/etc/resolv.conf: want a symlink, found nameserver 10.0.0.2"},
	{Name: "package curl", Source: "checks.yaml:4", Status: Error, Path: "/var/lib/dpkg/status", Detail: "no dpkg database"},
	{Name: "secrets", Source: "hygiene", Status: Skip, Detail: "no secret values given"},
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	must(t, WriteTable(&b, sampleResults))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range [][]string{
		{"STATUS", "CHECK", "SOURCE", "DETAIL"},
		{"PASS", "ssh-host-keys", "hygiene", "none found"},
		{"FAIL", "resolv-conf", "hygiene", "/etc/resolv.conf: want a symlink"},
		{"ERROR", "package curl", "checks.yaml:4", "no dpkg database"},
		{"SKIP", "secrets"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	// The columns line up: DETAIL starts at the same place on every row.
	col := strings.Index(lines[0], "DETAIL")
	if strings.Index(lines[1], "none found") != col {
		t.Errorf("columns do not line up:\n%s", b.String())
	}
	if lines[5] != "4 checks: 1 passed, 1 failed, 1 could not be evaluated, 1 skipped" {
		t.Errorf("count line %q", lines[5])
	}
}

func TestWriteJUnit(t *testing.T) {
	var b bytes.Buffer
	must(t, WriteJUnit(&b, "out/disk.raw", sampleResults))
	var doc junitSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if doc.Name != "strata inspect" || doc.Tests != 4 || doc.Failures != 1 || doc.Errors != 1 || doc.Skipped != 1 || len(doc.Suites) != 1 {
		t.Fatalf("counts %+v", doc)
	}
	s := doc.Suites[0]
	if s.Name != "out/disk.raw" || len(s.Cases) != 4 {
		t.Fatalf("suite %+v", s)
	}
	fail := s.Cases[1]
	if fail.Name != "resolv-conf" || fail.Classname != "hygiene" || fail.Failure == nil ||
		!strings.Contains(fail.Failure.Message, "want a symlink") || !strings.Contains(fail.Failure.Body, "path: /etc/resolv.conf") {
		t.Errorf("failure case %+v %+v", fail, fail.Failure)
	}
	if s.Cases[0].Failure != nil || s.Cases[2].Error == nil || s.Cases[3].Skipped == nil {
		t.Errorf("cases %+v", s.Cases)
	}
}

func TestWriteJUnitFor(t *testing.T) {
	var b bytes.Buffer
	must(t, WriteJUnitFor(&b, "strata boot-test", "out/disk.raw", sampleResults))
	var doc junitSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil || doc.Name != "strata boot-test" || doc.Suites[0].Name != "out/disk.raw" {
		t.Errorf("%v: %+v", err, doc)
	}
}
