package checks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/strata-dev/strata/spec"
)

// APIVersion and Kind may head a check file; both are optional, but a file
// that names another kind (a NodeImage spec passed by mistake) is refused.
const (
	APIVersion = "strata.dev/v1alpha1"
	Kind       = "Checks"
)

// Suite is a parsed check file.
type Suite struct {
	// Checks are the file's checks, each with Source "FILE:LINE" (the
	// line of its entry), or what its source: field says.
	Checks []Check
	// Hygiene is the file's hygiene: section (Secrets stays empty: secret
	// values are never written in a check file).
	Hygiene HygieneOptions
}

// Load reads and parses a check file.
func Load(p string) (*Suite, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return Parse(p, data)
}

// Parse reads a check file strictly: unknown kinds and fields, wrong
// types and malformed values are errors, every one reported with its
// file:line:column, as a *spec.Error or a spec.ErrorList.
func Parse(file string, data []byte) (*Suite, error) {
	p := &parser{file: file, lines: spec.LineCount(data)}
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	out := &Suite{}
	p.topLevel(root, out)
	if err := p.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseList reads a list of checks written in the form of a check file's
// checks: list, held in another YAML document: a spec's validate: list.
// file names that document and field the list in it ("validate"), so that
// errors read "node.yaml:40:7: validate[2].file: ...", with every problem
// reported at once as a *spec.Error or a spec.ErrorList. Each check's
// Source is "FILE:LINE", or its source: field. A nil list holds no checks.
func ParseList(file string, list *yaml.Node, field string) ([]Check, error) {
	if list = resolve(list); list == nil || (list.Kind == yaml.ScalarNode && list.Tag == "!!null") {
		return nil, nil
	}
	p := &parser{file: file}
	out := p.checkList(list, field)
	if err := p.err(); err != nil {
		return nil, err
	}
	return out, nil
}

type parser struct {
	file string
	errs spec.ErrorList
	// lines is the file's line count, or 0 when unknown (a list read
	// from a spec's nodes); see add.
	lines int
}

// err returns the problems found, in document order: nil, one *spec.Error
// or a spec.ErrorList.
func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i].Pos, p.errs[j].Pos
		return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
	})
	if len(p.errs) == 1 {
		return p.errs[0]
	}
	return p.errs
}

// add records a problem at n. yaml.v3 puts the empty content of a
// document that ends the file without a line break ("---") on the line
// after the last, which no editor can jump to; that is kept on the last.
func (p *parser) add(n *yaml.Node, field, format string, args ...any) {
	at := pos(n)
	if p.lines > 0 && at.Line > p.lines {
		at = spec.Pos{Line: p.lines}
	}
	p.errs = append(p.errs, &spec.Error{File: p.file, Pos: at, Field: field, Message: fmt.Sprintf(format, args...)})
}

func pos(n *yaml.Node) spec.Pos { return spec.Pos{Line: n.Line, Column: n.Column} }

// document decodes the one YAML document of a file.
func (p *parser) document(data []byte) (*yaml.Node, error) {
	if err := spec.RequireUTF8(p.file, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &spec.Error{File: p.file, Pos: spec.Pos{Line: 1, Column: 1}, Message: "the file holds no YAML document; start it with checks:"}
		}
		return nil, spec.SyntaxError(p.file, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, spec.SyntaxError(p.file, data, err)
	case len(extra.Content) > 0:
		return nil, &spec.Error{File: p.file, Pos: pos(&extra), Message: "the file holds more than one YAML document; keep one"}
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	return root, nil
}

// topLevel reads apiVersion, kind, hygiene and checks.
func (p *parser) topLevel(root *yaml.Node, out *Suite) {
	m, ok := p.mapping(root, "", []string{"apiVersion", "kind", "hygiene", "checks"})
	if !ok {
		return
	}
	if n := m["apiVersion"]; n != nil {
		if v, ok := p.scalar(n, "apiVersion"); ok && v != APIVersion {
			p.add(n, "apiVersion", "must be %s, got %q", APIVersion, v)
		}
	}
	if n := m["kind"]; n != nil {
		if v, ok := p.scalar(n, "kind"); ok && v != Kind {
			p.add(n, "kind", "must be %s: this is a %s, not a check file", Kind, v)
		}
	}
	if n := m["hygiene"]; n != nil {
		p.hygiene(n, &out.Hygiene)
	}
	n := m["checks"]
	if n == nil {
		if m["hygiene"] == nil {
			p.add(root, "", "no checks: list them under checks:")
		}
		return
	}
	out.Checks = p.checkList(n, "checks")
}

// checkList reads a list of check entries, the list itself at field.
func (p *parser) checkList(n *yaml.Node, field string) []Check {
	if n = resolve(n); n.Kind != yaml.SequenceNode {
		p.add(n, field, "must be a list of checks, got %s", describe(n))
		return nil
	}
	var out []Check
	for i, entry := range n.Content {
		if c, ok := p.check(entry, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, c)
		}
	}
	return out
}

func (p *parser) hygiene(n *yaml.Node, h *HygieneOptions) {
	m, ok := p.mapping(n, "hygiene", []string{"skip", "varLogLimit", "secretScanMaxFile"})
	if !ok {
		return
	}
	if v := m["skip"]; v != nil {
		names, _ := p.list(v, "hygiene.skip")
		for i, name := range names {
			if !slices.Contains(HygieneNames(), name) {
				p.add(itemNode(v, i), "hygiene.skip", "%q is no hygiene check; they are %s", name, strings.Join(HygieneNames(), ", "))
			}
		}
		h.Skip = names
	}
	for key, dst := range map[string]*int64{"varLogLimit": &h.VarLogLimit, "secretScanMaxFile": &h.SecretScanMaxFile} {
		if v := m[key]; v != nil {
			if s, ok := p.scalar(v, "hygiene."+key); ok {
				size, err := spec.ParseByteSize(s)
				if err != nil {
					p.add(v, "hygiene."+key, "%v", err)
				}
				*dst = int64(size)
			}
		}
	}
}

// itemNode is a list's i-th element, or the node itself for a scalar
// written in place of a one-element list.
func itemNode(n *yaml.Node, i int) *yaml.Node {
	if n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

// check reads one entry: a mapping whose kind key (file:, package:, ...)
// names the kind and its subject, with that kind's fields beside it.
func (p *parser) check(n *yaml.Node, where string) (Check, bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.add(n, where, "must be a mapping such as {file: /etc/hostname}, got %s", describe(n))
		return Check{}, false
	}
	var kind *kindSpec
	var kindKey *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if ks := lookupKind(k.Value); ks != nil {
			if kind != nil {
				p.add(k, where, "one check per entry: %s: and %s: are both here", kind.name, ks.name)
				return Check{}, false
			}
			kind, kindKey = ks, k
		}
	}
	if kind == nil {
		p.add(n, where, "no kind: an entry starts with one of %s", strings.Join(kindNames(), ", "))
		return Check{}, false
	}
	allowed := append([]string{kind.name, "name", "source"}, fieldNames(kind.fields)...)
	m, ok := p.mapping(n, where, allowed)
	if !ok {
		return Check{}, false
	}
	before := len(p.errs)
	subject, _ := p.scalar(m[kind.name], where+"."+kind.name)
	f := &fieldValues{p: p, m: m, where: where, kindKey: kindKey}
	f.validate(kind.fields)
	a := kind.build(subject, f)
	name := ""
	if v := m["name"]; v != nil {
		name, _ = p.scalar(v, where+".name")
	}
	source := fmt.Sprintf("%s:%d", p.file, n.Line)
	if v := m["source"]; v != nil {
		if s, ok := p.scalar(v, where+".source"); ok && strings.TrimSpace(s) == "" {
			p.add(v, where+".source", "must say where the check comes from, got an empty string")
		} else if ok {
			source = s
		}
	}
	if len(p.errs) == before {
		// Field by field all is well; what is left is how they combine.
		if err := a.validate(); err != nil {
			p.add(kindKey, where, "%v", err)
		}
	}
	return Check{Name: name, Source: source, Assert: a}, len(p.errs) == before
}

// mapping checks that n is a mapping of allowed keys, without duplicates,
// and returns the values by key. Keys starting with "x-" are skipped, as
// in specs.
func (p *parser) mapping(n *yaml.Node, where string, allowed []string) (map[string]*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.add(n, where, "must be a mapping, got %s", describe(n))
		return nil, false
	}
	m := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		field := joinField(where, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			p.add(k, where, "keys must be plain strings, got %s", describe(k))
		case strings.HasPrefix(k.Value, "x-"):
		case !slices.Contains(allowed, k.Value):
			p.add(k, field, "unknown field %q; allowed here: %s", k.Value, strings.Join(allowed, ", "))
		case m[k.Value] != nil:
			p.add(k, field, "duplicate field %q; keep one", k.Value)
		default:
			m[k.Value] = v
		}
	}
	return m, true
}

// scalar reads a string; numbers and booleans are taken as written, so
// "mode: 0644" and "value: 1" mean what they say.
func (p *parser) scalar(n *yaml.Node, field string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.add(n, field, "must be a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// list reads a list of strings, or one string standing for a list of one.
func (p *parser) list(n *yaml.Node, field string) ([]string, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		s, ok := p.scalar(n, field)
		return []string{s}, ok
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "must be a string or a list of strings, got %s", describe(n))
		return nil, false
	}
	var out []string
	ok := true
	for _, item := range n.Content {
		s, itemOK := p.scalar(item, field)
		ok = ok && itemOK
		out = append(out, s)
	}
	return out, ok
}

func (p *parser) boolean(n *yaml.Node, field string) (bool, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.add(n, field, "must be true or false, got %s", describe(n))
		return false, false
	}
	return yamlTrue(n), true
}

// resolve follows aliases, so anchors can share values; a chain ends
// after a bound, as yaml.v3 rejects cycles itself.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 32; i++ {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing (null)"
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	}
	return fmt.Sprintf("%q", n.Value)
}

func joinField(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}
