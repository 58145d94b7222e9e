package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds the loader documents and build args (KEY=VALUE lines).
// Every problem must point inside the file, and a spec that loads must
// load again, to the same digest, from what it encodes to: the digest is
// the cache key, so a spec that hashed differently after a round trip
// through its own encoding would rebuild, or worse, share a cache entry.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"minimal.yaml", "full.yaml", "full-k8s.yaml", "block.yaml", "many-errors.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "")
		f.Add(data, "NAME=other\nDISK_SIZE=2GiB\nOS_PACKAGES=a,b,,c\nKUBERNETES_IMAGES=pause")
	}
	f.Add([]byte(header+"os: {packages: [x, x]}\n"), "KUBERNETES_VERSION=1.2\nBOGUS=1")
	f.Add([]byte("apiVersion: [\n"), "")
	f.Add([]byte(header+"---\nkind: other\n"), "")
	f.Add([]byte(header+"validate:\n  - {file: /etc/hostname, contains: node}\n  - null\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, argText string) {
		args := parseArgs(argText)
		s, err := Load("node.yaml", data, args, testDistros)
		if err != nil {
			checkPositions(t, data, err, len(args) > 0)
			return
		}
		if err := s.Validate(testDistros); err != nil {
			t.Fatalf("a loaded spec does not validate again: %v", err)
		}
		for field, p := range s.pos {
			if !p.Within(data) {
				t.Errorf("%s recorded at %s, outside the file", field, p)
			}
		}
		if v, ok := args["NAME"]; ok && s.Image.Name != v {
			t.Errorf("NAME=%q loaded as name %q", v, s.Image.Name)
		}
		// JSON is YAML: the encoding the digest hashes must read back as
		// the same image.
		enc, err := json.Marshal(s.Image)
		if err != nil {
			t.Fatal(err)
		}
		// Escaping makes JSON up to six times longer ("<" is \u003c).
		if limit := 6*(len(data)+maxAliasGrowth) + 4096; len(enc) > limit {
			t.Fatalf("a %d-byte file encodes to %d bytes: aliases grew it past the budget", len(data), len(enc))
		}
		again, err := Load("node.json", enc, nil, testDistros)
		if err != nil {
			t.Fatalf("the spec's own encoding does not load: %v\n%s", err, enc)
		}
		if again.Digest() != s.Digest() {
			t.Errorf("digest changed in a round trip through\n%s", enc)
		}
	})
}

// parseArgs reads KEY=VALUE lines; a line without "=" sets an empty value.
func parseArgs(text string) map[string]string {
	if text == "" {
		return nil
	}
	args := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(line, "=")
		args[k] = v
	}
	return args
}

// checkPositions fails unless every problem is an *Error inside the file.
// Build-arg problems are the exception: they have no place in the file.
func checkPositions(t *testing.T, data []byte, err error, haveArgs bool) {
	t.Helper()
	var list ErrorList
	var one *Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = ErrorList{one}
	case haveArgs && strings.Contains(err.Error(), "build arg"):
		return
	default:
		t.Fatalf("%T without a position: %v", err, err)
	}
	for _, e := range list {
		if e.File != "node.yaml" || !e.Pos.Within(data) {
			t.Errorf("problem outside the file: %v", e)
		}
	}
}

// TestLoadAliasGrowth: aliases may not make a small file's values huge.
// The first document is what made the fuzzer stall: the digest encodes
// validate: with its aliases expanded, here a billion values.
func TestLoadAliasGrowth(t *testing.T) {
	nested := header + "validate:\n  - {file: /x, a0: &a0 [x, x, x, x, x, x, x, x, x, x]"
	for i := 1; i < 10; i++ {
		use := fmt.Sprintf("*a%d", i-1)
		nested += fmt.Sprintf(", a%d: &a%d [%s%s]", i, i, strings.Repeat(use+", ", 9), use)
	}
	nested += "}\n"
	long := header + "x-long: &long " + strings.Repeat("y", 300<<10) + "\nos: {run: [" + strings.Repeat("*long, ", 9) + "*long]}\n"
	for name, doc := range map[string]string{"nested": nested, "long": long} {
		_, err := Load("node.yaml", []byte(doc), nil, testDistros)
		if err == nil || !strings.Contains(err.Error(), "use fewer aliases") {
			t.Errorf("%s: %.200v", name, err)
		}
	}
}
