package checks

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Marshal writes list as a check file (docs/validation.md) that Parse reads
// back to the same checks. Each entry starts with its kind key, then name:
// when the check has a Name, source: when it has a Source, and the kind's
// fields in the schema's order, zero values left out. A check read back
// keeps its source: from the file, so checks embedded in an image still say
// who asked for them ("spec", "kubernetes layer", "node.yaml:40").
//
// Only the declarative kinds have an entry form: a hygiene check is
// refused, and so is a check that fails Validate or holds text that is not
// UTF-8 (YAML has no string for it).
func Marshal(list []Check) ([]byte, error) {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	var errs []error
	for i, c := range list {
		entry, err := encodeCheck(c)
		if err != nil {
			name := c.Name
			if name == "" && c.Assert != nil {
				name = c.Assert.Describe()
			}
			errs = append(errs, fmt.Errorf("check %d (%s from %s): %w", i, name, c.Source, err))
			continue
		}
		seq.Content = append(seq.Content, entry)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content, str("apiVersion"), str(APIVersion), str("kind"), str(Kind), str("checks"), seq)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encodeCheck is one entry of a check file's checks: list.
func encodeCheck(c Check) (*yaml.Node, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	for _, k := range kinds {
		subject, fields, ok := k.encode(c.Assert)
		if !ok {
			continue
		}
		m := &yaml.Node{Kind: yaml.MappingNode}
		add := func(key string, value *yaml.Node) { m.Content = append(m.Content, str(key), value) }
		add(k.name, str(subject))
		if c.Name != "" {
			add("name", str(c.Name))
		}
		if c.Source != "" {
			add("source", str(c.Source))
		}
		for _, f := range k.fields {
			switch v := fields[f.name].(type) {
			case bool:
				if v {
					add(f.name, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
				}
			case string:
				if v != "" {
					add(f.name, str(v))
				}
			case *string:
				if v != nil {
					add(f.name, str(*v))
				}
			case []string:
				if len(v) > 0 {
					list := &yaml.Node{Kind: yaml.SequenceNode}
					for _, s := range v {
						list.Content = append(list.Content, str(s))
					}
					add(f.name, list)
				}
			case nil:
			default:
				panic(fmt.Sprintf("checks: kind %s encodes field %s as %T", k.name, f.name, v))
			}
		}
		if err := checkUTF8(m); err != nil {
			return nil, err
		}
		return m, nil
	}
	if c.Assert == nil {
		return nil, errors.New("no assertion")
	}
	return nil, fmt.Errorf("%s has no entry form in a check file (only %s do)", c.Assert.Describe(), kindList())
}

// str is a string scalar in the style yaml.v3 picks (a literal block for
// text of several lines), unless that does not read back as s: yaml.v3
// loses a leading line break in a literal block, for one. Then it is
// double-quoted, which escapes everything.
func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if !readsBack(n) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// readsBack reports whether the scalar n, written as a mapping's value,
// decodes to its own value.
func readsBack(n *yaml.Node) bool {
	data, err := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "k"}, n}})
	if err != nil {
		return false
	}
	var got map[string]string
	return yaml.Unmarshal(data, &got) == nil && got["k"] == n.Value
}

func checkUTF8(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && !utf8.ValidString(n.Value) {
		return fmt.Errorf("%q is not UTF-8 text, which a YAML string cannot hold", n.Value)
	}
	for _, c := range n.Content {
		if err := checkUTF8(c); err != nil {
			return err
		}
	}
	return nil
}

func kindList() string {
	var b bytes.Buffer
	for i, k := range kinds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k.name)
	}
	return b.String()
}
