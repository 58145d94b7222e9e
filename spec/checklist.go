package spec

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// CheckList is the spec's validate: list, the user's own checks of the
// built image, written as the entries of a check file's checks: list
// (docs/validation.md): {file: /etc/hostname, contains: node}, ...
//
// The check vocabulary belongs to package checks, which imports this one,
// so the spec keeps the entries as the YAML it read, positions and all:
// Parse only makes sure they are a list of mappings, and checks.ParseList
// reads the entries (layers/node calls it), reporting problems at their
// file:line:column as validate[i].field.
type CheckList struct {
	// node is the sequence as written, aliases resolved; nil when the spec
	// has no validate: list.
	node *yaml.Node
}

var checkListType = reflect.TypeOf(CheckList{})

// Node returns the validate: list's YAML node, a sequence of mappings, or
// nil when the spec has none. Callers must not change it.
func (l CheckList) Node() *yaml.Node { return l.node }

// Len is the number of entries.
func (l CheckList) Len() int {
	if l.node == nil {
		return 0
	}
	return len(l.node.Content)
}

// IsZero makes an empty list hash like none at all (encoding/json's
// omitzero), so that a spec without validate: keeps its digest.
func (l CheckList) IsZero() bool { return l.Len() == 0 }

// MarshalJSON encodes the entries for the digest as plain data: mappings
// with their keys sorted and x- keys left out, scalars as written. So the
// digest changes with any entry, and not with comments, positions,
// anchors or quoting ("value: 1" and "value: '1'" mean the same).
func (l CheckList) MarshalJSON() ([]byte, error) {
	if l.node == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(plainYAML(l.node, 0))
}

// plainYAML turns a YAML node into maps, lists and strings.
func plainYAML(n *yaml.Node, depth int) any {
	n = resolve(n)
	if depth > maxAliasDepth {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i]).Value
			if !strings.HasPrefix(k, extensionPrefix) {
				m[k] = plainYAML(n.Content[i+1], depth+1)
			}
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = plainYAML(c, depth+1)
		}
		return l
	}
	if isNull(n) {
		return nil
	}
	return n.Value
}

// checkList decodes validate: keeping its node. Each entry must be a
// mapping; what is in it is for checks.ParseList to judge.
func (d *decoder) checkList(n *yaml.Node, path string, at Pos, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, path, at, v.Type())
		return
	}
	ok := true
	for i, raw := range n.Content {
		elemPath := path + "[" + strconv.Itoa(i) + "]"
		d.pos[elemPath] = nodePos(raw)
		switch e := resolve(raw); {
		case isNull(e):
			d.add(nodePos(raw), elemPath, "must be a check, got null; remove the empty entry")
			ok = false
		case e.Kind != yaml.MappingNode:
			d.add(nodePos(raw), elemPath, "must be a check: a mapping such as {file: /etc/hostname, contains: node}, got %s", describe(e))
			ok = false
		}
	}
	if ok && !d.spendExpanded(n, path, at) {
		ok = false
	}
	if ok {
		v.Set(reflect.ValueOf(CheckList{node: n}))
	}
}

// spendExpanded charges the list as plainYAML expands it for the digest,
// every use of an alias counted, and stops at the first value over the
// budget, so that a cycle of aliases costs no more than the budget.
func (d *decoder) spendExpanded(n *yaml.Node, path string, at Pos) bool {
	var walk func(n *yaml.Node, depth int) bool
	walk = func(n *yaml.Node, depth int) bool {
		n = resolve(n)
		if depth > maxAliasDepth {
			return true
		}
		if !d.spend(n, path, at) {
			return false
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := resolve(n.Content[i])
				if strings.HasPrefix(k.Value, extensionPrefix) {
					continue
				}
				if !d.spend(k, path, at) || !walk(n.Content[i+1], depth+1) {
					return false
				}
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if !walk(c, depth+1) {
					return false
				}
			}
		}
		return true
	}
	return walk(n, 0)
}
