package checks

import (
	"gopkg.in/yaml.v3"
)

// fieldType is how a field's value is written.
type fieldType int

const (
	stringField fieldType = iota
	boolField
	listField // a string, or a list of strings
)

// fieldSpec is one field of a kind in a check file, with the check of its
// value(s) that can be made on its own.
type fieldSpec struct {
	name  string
	typ   fieldType
	check func(string) error
}

// kindSpec is a kind of check as a check file writes it: the kind's key,
// whose value is the subject (a path, a package, a unit...), the other
// fields, and how they make an Assertion.
type kindSpec struct {
	name   string
	fields []fieldSpec
	build  func(subject string, f *fieldValues) Assertion
	// encode is build backwards, for Marshal: the subject and the fields
	// of an Assertion of this kind (ok false for another kind). A field's
	// value is a bool, a string, a *string or a []string; zero values
	// (false, "", nil, no strings) are left out, a non-nil *string is
	// written even when empty.
	encode func(a Assertion) (subject string, fields map[string]any, ok bool)
}

// kinds is the check file's vocabulary, one entry per kind.
var kinds = []kindSpec{
	{
		name: "file",
		fields: []fieldSpec{
			{"absent", boolField, nil}, {"type", stringField, checkFileType},
			{"mode", stringField, func(s string) error { _, err := parseMode(s); return err }},
			{"owner", stringField, nil}, {"group", stringField, nil},
			{"contains", listField, nil}, {"notContains", listField, nil},
			{"equals", stringField, nil}, {"sha256", stringField, checkSHA256}, {"target", stringField, nil},
		},
		build: func(subject string, f *fieldValues) Assertion {
			return File{Path: subject, Absent: f.bool("absent"), Type: f.str("type"), Mode: f.str("mode"),
				Owner: f.str("owner"), Group: f.str("group"), Contains: f.list("contains"), NotContains: f.list("notContains"),
				Equals: f.opt("equals"), SHA256: f.str("sha256"), Target: f.opt("target")}
		},
		encode: func(a Assertion) (string, map[string]any, bool) {
			f, ok := a.(File)
			return f.Path, map[string]any{"absent": f.Absent, "type": f.Type, "mode": f.Mode, "owner": f.Owner, "group": f.Group,
				"contains": f.Contains, "notContains": f.NotContains, "equals": f.Equals, "sha256": f.SHA256, "target": f.Target}, ok
		},
	},
	{
		name: "package",
		fields: []fieldSpec{
			{"absent", boolField, nil}, {"version", stringField, nil},
			{"versionPrefix", stringField, nil}, {"versionMatches", stringField, checkRegexp},
		},
		build: func(subject string, f *fieldValues) Assertion {
			return Package{Name: subject, Absent: f.bool("absent"), Version: f.str("version"),
				VersionPrefix: f.str("versionPrefix"), VersionMatches: f.str("versionMatches")}
		},
		encode: func(a Assertion) (string, map[string]any, bool) {
			p, ok := a.(Package)
			return p.Name, map[string]any{"absent": p.Absent, "version": p.Version,
				"versionPrefix": p.VersionPrefix, "versionMatches": p.VersionMatches}, ok
		},
	},
	{
		name:   "service",
		fields: []fieldSpec{{"state", listField, checkUnitState}},
		build: func(subject string, f *fieldValues) Assertion {
			return Service{Unit: subject, State: f.list("state")}
		},
		encode: func(a Assertion) (string, map[string]any, bool) {
			s, ok := a.(Service)
			return s.Unit, map[string]any{"state": s.State}, ok
		},
	},
	{
		name:   "sysctl",
		fields: []fieldSpec{{"value", stringField, nil}},
		build: func(subject string, f *fieldValues) Assertion {
			return Sysctl{Key: subject, Value: f.required("value")}
		},
		encode: func(a Assertion) (string, map[string]any, bool) {
			s, ok := a.(Sysctl)
			return s.Key, map[string]any{"value": &s.Value}, ok // required, even when empty
		},
	},
	{
		name:   "module",
		fields: []fieldSpec{{"absent", boolField, nil}},
		build: func(subject string, f *fieldValues) Assertion {
			return Module{Name: subject, Absent: f.bool("absent")}
		},
		encode: func(a Assertion) (string, map[string]any, bool) {
			m, ok := a.(Module)
			return m.Name, map[string]any{"absent": m.Absent}, ok
		},
	},
	{
		name:   "cmdline",
		fields: []fieldSpec{{"absent", boolField, nil}},
		build: func(subject string, f *fieldValues) Assertion {
			return Cmdline{Arg: subject, Absent: f.bool("absent")}
		},
		encode: func(a Assertion) (string, map[string]any, bool) {
			c, ok := a.(Cmdline)
			return c.Arg, map[string]any{"absent": c.Absent}, ok
		},
	},
}

func lookupKind(key string) *kindSpec {
	for i := range kinds {
		if kinds[i].name == key {
			return &kinds[i]
		}
	}
	return nil
}

func kindNames() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name + ":"
	}
	return names
}

func fieldNames(fs []fieldSpec) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

// fieldValues reads an entry's fields for a kind's build, reporting type
// errors through the parser.
type fieldValues struct {
	p     *parser
	m     map[string]*yaml.Node
	where string
	// kindKey is the entry's kind key, where "missing field" errors point.
	kindKey *yaml.Node
}

// validate checks every field's type, and its value with its check.
func (f *fieldValues) validate(specs []fieldSpec) {
	for _, s := range specs {
		n := f.m[s.name]
		if n == nil {
			continue
		}
		field := f.where + "." + s.name
		var values []string
		ok := false
		switch s.typ {
		case boolField:
			_, ok = f.p.boolean(n, field)
		case stringField:
			var v string
			v, ok = f.p.scalar(n, field)
			values = []string{v}
		case listField:
			values, ok = f.p.list(n, field)
		}
		if !ok || s.check == nil {
			continue
		}
		for i, v := range values {
			if err := s.check(v); err != nil {
				f.p.add(itemNode(n, i), field, "%v", err)
			}
		}
	}
}

// The accessors return zero values for fields that are missing or wrong
// (validate has reported those).
func (f *fieldValues) str(k string) string {
	if n := resolve(f.m[k]); n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return n.Value
	}
	return ""
}

func (f *fieldValues) opt(k string) *string {
	if n := resolve(f.m[k]); n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		v := n.Value
		return &v
	}
	return nil
}

func (f *fieldValues) bool(k string) bool {
	n := resolve(f.m[k])
	return n != nil && n.Tag == "!!bool" && yamlTrue(n)
}

// yamlTrue is a !!bool node's value: YAML spells true as true, True or
// TRUE, all of which yaml.v3 tags !!bool.
func yamlTrue(n *yaml.Node) bool {
	var b bool
	return n.Decode(&b) == nil && b
}

func (f *fieldValues) list(k string) []string {
	n := resolve(f.m[k])
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.ScalarNode && n.Tag != "!!null":
		return []string{n.Value}
	case n.Kind == yaml.SequenceNode:
		var out []string
		for _, item := range n.Content {
			if item = resolve(item); item.Kind == yaml.ScalarNode {
				out = append(out, item.Value)
			}
		}
		return out
	}
	return nil
}

// required is str for a field the kind cannot do without.
func (f *fieldValues) required(k string) string {
	if f.m[k] == nil {
		f.p.add(f.kindKey, f.where, "%s: needs %s:", f.kindKey.Value, k)
	}
	return f.str(k)
}
