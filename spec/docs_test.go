package spec

import (
	"os"
	"strings"
	"testing"
)

// TestBuildArgsDocumented keeps docs/spec.md's build-arg table in step with
// the overrides table.
func TestBuildArgsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Overridable() {
		row := "| `" + a.Name + "` | `" + a.Field + "` |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/spec.md lacks the row %q", row)
		}
	}
}
