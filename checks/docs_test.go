package checks

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// yamlBlock is a fenced YAML example in the docs.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocsExamplesParse keeps docs/validation.md honest: every YAML example
// parses (a fragment of check entries as the list of a check file), and
// the hygiene table names every built-in check.
func TestDocsExamplesParse(t *testing.T) {
	doc, err := os.ReadFile("../docs/validation.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlock.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 7 {
		t.Fatalf("only %d YAML examples", len(blocks))
	}
	for _, b := range blocks {
		text := b[1]
		if strings.HasPrefix(text, "validate:\n") {
			// A spec's validate: list, as layers/node reads it.
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
				t.Fatal(err)
			}
			if list, err := ParseList("docs/validation.md", doc.Content[0].Content[1], "validate"); err != nil || len(list) == 0 {
				t.Errorf("validate: example does not parse (%d checks): %v\n%s", len(list), err, text)
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(text), "- ") {
			text = "checks:\n" + indent(text)
		}
		if _, err := Parse("docs/validation.md", []byte(text)); err != nil {
			t.Errorf("example does not parse: %v\n%s", err, b[1])
		}
	}
	for _, name := range HygieneNames() {
		if !strings.Contains(string(doc), "| `"+name+"` |") {
			t.Errorf("docs/validation.md lacks a row for hygiene check %s", name)
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
