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

// TestBadInputsFailCleanly: inputs that only fail once the build runs still
// name the field, show the spec line, exit non-zero and export nothing.
func TestBadInputsFailCleanly(t *testing.T) {
	requireE2E(t)
	tests := []struct {
		name     string
		spec     string
		withBase bool
		want     []string
	}{
		{
			name: "unresolvable base image",
			spec: "  base: 127.0.0.1:9/nothing/here:v1\n",
			want: []string{"node.yaml:5:3: os.base: cannot resolve the base image 127.0.0.1:9/nothing/here:v1", ">>>   base: 127.0.0.1:9/nothing/here:v1"},
		},
		{
			name:     "disk smaller than the content",
			spec:     "  run: [\"head -c 900M /dev/urandom > /var/tmp-big\"]\ndisk:\n  size: 1GiB\n",
			withBase: true,
			want:     []string{"the root filesystem does not fit in the 766 MiB root partition: raise disk.size", ">>> disk:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "node.yaml")
			doc := "apiVersion: strata.dev/v1alpha1\nkind: NodeImage\nname: bad-input\nos:\n" + tt.spec
			if err := os.WriteFile(spec, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			log, err := strataBuildWith(spec, "disk", out, tt.withBase)
			if err == nil {
				t.Fatalf("build succeeded:\n%s", tail(log, 40))
			}
			for _, w := range tt.want {
				if !strings.Contains(log, w) {
					t.Errorf("output lacks %q:\n%s", w, tail(log, 40))
				}
			}
			if _, err := os.Stat(filepath.Join(out, "disk.raw")); err == nil {
				t.Errorf("a failed build left %s/disk.raw", out)
			}
		})
	}
}
