package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpecErrorShowsLine checks the path a user sees: a typo in the spec
// fails the build with file:line:column, the field, a hint, and the YAML
// line itself, before anything is built or exported.
func TestSpecErrorShowsLine(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(spec, []byte(`apiVersion: strata.dev/v1alpha1
kind: NodeImage
name: typo
os:
  distro: debian
  pakages: [curl]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	log, err := strataBuild(spec, "disk", out)
	if err == nil {
		t.Fatalf("build of a spec with an unknown field succeeded:\n%s", log)
	}
	for _, want := range []string{
		`node.yaml:6:3: os.pakages: unknown field "pakages" in os`,
		`did you mean "packages"?`,
		`>>>   pakages: [curl]`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed build exported %s", out)
	}
}

// TestRunStepFailurePointsAtSpec: a failing run: step names its YAML line.
func TestRunStepFailurePointsAtSpec(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(spec, []byte(`apiVersion: strata.dev/v1alpha1
kind: NodeImage
name: failing-run
os:
  distro: debian
  run:
    - "true"
    - exit 3
`), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := strataBuild(spec, "rootfs", "")
	if err == nil {
		t.Fatalf("build with a failing run step succeeded:\n%s", log)
	}
	for _, want := range []string{"node.yaml:8", ">>>     - exit 3", "exit code: 3"} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
}
