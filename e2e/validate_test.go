package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestValidateTarget: the validate target checks the example's disk as a
// build step and leaves its JUnit report, the checks of the layers and the
// spec included; and the image carries those checks, so strata inspect
// runs them offline with no spec at hand.
func TestValidateTarget(t *testing.T) {
	requireE2E(t)
	disk, err := exampleDisk()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	log, err := strataBuild("examples/debian.yaml", "validate", out)
	if err != nil {
		t.Fatalf("strata build --target validate: %v\n%s", err, tail(log, 60))
	}
	report, err := os.ReadFile(filepath.Join(out, "checks.junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`failures="0"`, "debian overlay", "package ca-certificates", "hygiene"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("the validation report lacks %q:\n%s", want, report)
		}
	}
	inspected, err := run(time.Minute, env.repo, env.strata, "inspect", disk)
	if err != nil {
		t.Fatalf("strata inspect: %v\n%s", err, inspected)
	}
	for _, want := range []string{"package ca-certificates", "spec", "debian overlay", "PASS"} {
		if !strings.Contains(inspected, want) {
			t.Errorf("strata inspect runs no %q check from the image's own list:\n%s", want, inspected)
		}
	}
}

// TestValidateFailsTheBuild: a check the image does not pass, from the
// spec's validate: list, fails the validate target and every provider
// target with its name, what it expected, what it found and where, and
// nothing is exported. There is no mode that lets it through.
func TestValidateFailsTheBuild(t *testing.T) {
	requireE2E(t)
	data, err := os.ReadFile(filepath.Join(env.repo, "examples/debian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data) + "validate:\n  - file: /etc/hostname\n    contains: no-such-host\n    name: hostname names the fleet\n"
	specPath := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(specPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"validate", "raw"} {
		t.Run(target, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			log, err := strataBuild(specPath, target, out)
			if err == nil {
				t.Fatalf("a build whose image fails a check succeeded:\n%s", tail(log, 40))
			}
			for _, want := range []string{"hostname names the fleet", "node.yaml:", "/etc/hostname", "no-such-host", "1 check(s) failed"} {
				if !strings.Contains(log, want) {
					t.Errorf("output lacks %q:\n%s", want, tail(log, 60))
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed build exported %s", out)
			}
		})
	}
}
