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

// TestValidateFindsALeakedSecret: a provider build mounts the secrets its
// spec names into its validation, so a secret's value written into the
// image fails the build, naming the secret and the file; the same image
// with another value passes.
func TestValidateFindsALeakedSecret(t *testing.T) {
	requireE2E(t)
	data, err := os.ReadFile(filepath.Join(env.repo, "examples/debian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// An auth.conf line apt accepts for a host it never asks.
	const leaked = "machine mirror.invalid login strata password leaked-9f3c1a7e"
	doc := strings.Replace(string(data), "  files:\n", "  files:\n    - path: /etc/strata-leak\n      content: \""+leaked+"\\n\"\n", 1)
	if doc == string(data) {
		t.Fatal("examples/debian.yaml has no os.files list to add to")
	}
	dir := t.TempDir()
	specPath := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(specPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(value string) (string, error) {
		secret := filepath.Join(t.TempDir(), "apt-auth")
		if err := os.WriteFile(secret, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return strataBuild(specPath, "raw", filepath.Join(t.TempDir(), "out"),
			"--build-arg", "OS_PACKAGE_SECRET=leak-check", "--secret", "id=leak-check,src="+secret)
	}
	log, err := build(leaked)
	if err == nil {
		t.Fatalf("a build whose image holds its secret's value succeeded:\n%s", tail(log, 40))
	}
	for _, want := range []string{"leak-check", "/etc/strata-leak"} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, tail(log, 60))
		}
	}
	if strings.Contains(log, "leaked-9f3c1a7e") {
		t.Error("the build's output prints the secret's value")
	}
	if log, err := build(strings.Replace(leaked, "leaked-9f3c1a7e", "another-52d08b11", 1)); err != nil {
		t.Fatalf("the same image with a secret it does not hold failed: %v\n%s", err, tail(log, 40))
	}
}
