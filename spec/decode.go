package spec

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks the yaml.v3 node tree into the typed spec. It is written
// by hand rather than using yaml's KnownFields so that every error names
// the full field path and what is allowed, and so that positions are
// recorded for every field, list element and map key.
type decoder struct {
	*problems
	pos map[string]Pos
	// left is how many more bytes the values decoded may hold (see
	// maxAliasGrowth); overspent is set once that is reported.
	left      int
	overspent bool
}

// maxAliasGrowth bounds how much larger than the file aliases may make
// its values, in bytes. An alias shares its value rather than copying it,
// but the digest encodes every use and validation reads every use, so ten
// uses of a megabyte-long anchor cost ten megabytes, and lists of lists of
// aliases in validate: grow tenfold per level: a 300-byte file could
// otherwise take gigabytes to hash.
const maxAliasGrowth = 1 << 20

// spend charges one use of n's value, and reports the first one that
// goes over the budget.
func (d *decoder) spend(n *yaml.Node, path string, at Pos) bool {
	d.left -= 1 + len(n.Value)
	if d.left >= 0 {
		return true
	}
	if !d.overspent {
		d.overspent = true
		d.add(at, path, "aliases make the values more than %d bytes larger than the file; use fewer aliases", maxAliasGrowth)
	}
	return false
}

var (
	byteSizeType = reflect.TypeOf(ByteSize(0))
	imageType    = reflect.TypeOf(Image{})
)

// extensionPrefix marks keys that users and tools may add anywhere in a
// mapping of fields; they are skipped so that specs can carry metadata or
// YAML anchors without schema changes.
const extensionPrefix = "x-"

// maxAliasDepth bounds alias chains; a well-formed file never gets near it.
const maxAliasDepth = 32

func nodePos(n *yaml.Node) Pos {
	return Pos{Line: n.Line, Column: n.Column}
}

// resolve follows aliases so that anchors can be used for values.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxAliasDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// stringTags are the scalar tags accepted where a string is expected.
// Numbers and booleans are kept as written, so "mode: 0644" and
// "version: 1.36" reach validation verbatim instead of failing as types.
var stringTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!timestamp": true,
}

// value decodes n into v. at is where errors about this value point: the
// key for a mapping field, the element for a list entry.
func (d *decoder) value(n *yaml.Node, path string, at Pos, v reflect.Value) {
	n = resolve(n)
	if isNull(n) {
		// null means "not set": the zero value stays and defaults apply.
		return
	}
	t := v.Type()
	switch {
	case t == byteSizeType:
		s, ok := d.scalar(n, path, at, t)
		if !ok {
			return
		}
		size, err := ParseByteSize(s)
		if err != nil {
			d.add(at, path, "%s", err.Error())
			return
		}
		v.SetInt(int64(size))
	case t.Kind() == reflect.String:
		if s, ok := d.scalar(n, path, at, t); ok {
			v.SetString(s)
		}
	case t == imageType && n.Kind == yaml.ScalarNode:
		// The short form of an image: a release image name.
		if s, ok := d.scalar(n, path, at, t); ok {
			v.Field(slices.Index(fieldNames(t), "name")).SetString(s)
		}
	case t == checkListType:
		d.checkList(n, path, at, v)
	case t.Kind() == reflect.Pointer:
		elem := reflect.New(t.Elem())
		if d.mapping(n, path, at, elem.Elem()) {
			v.Set(elem)
		}
	case t.Kind() == reflect.Struct:
		d.mapping(n, path, at, v)
	case t.Kind() == reflect.Slice:
		d.sequence(n, path, at, v)
	case t.Kind() == reflect.Map:
		d.stringMap(n, path, at, v)
	default:
		panic("spec: no decoder for " + t.String())
	}
}

func (d *decoder) scalar(n *yaml.Node, path string, at Pos, t reflect.Type) (string, bool) {
	if n.Kind != yaml.ScalarNode || !stringTags[n.Tag] {
		d.typeError(n, path, at, t)
		return "", false
	}
	if !d.spend(n, path, at) {
		return "", false
	}
	return n.Value, true
}

func (d *decoder) typeError(n *yaml.Node, path string, at Pos, t reflect.Type) {
	d.add(at, path, "must be %s, got %s", expected(t), describe(n))
}

// mapping decodes a mapping of fields into the struct v. It reports false
// when n is not a mapping at all.
func (d *decoder) mapping(n *yaml.Node, path string, at Pos, v reflect.Value) bool {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, at, v.Type())
		return false
	}
	fields := fieldNames(v.Type())
	seen := map[string]Pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := resolve(n.Content[i]), n.Content[i+1]
		name, ok := d.key(key, path)
		if !ok || strings.HasPrefix(name, extensionPrefix) {
			continue
		}
		fieldPath := joinPath(path, name)
		if prev, dup := seen[name]; dup {
			d.add(nodePos(key), fieldPath, "duplicate field %q %s (first at line %d); keep one", name, where(path), prev.Line)
			continue
		}
		seen[name] = nodePos(key)
		index := slices.Index(fields, name)
		if index < 0 {
			msg := "unknown field %q %s; allowed: %s"
			if s := suggest(name, fields); s != "" {
				msg += " (did you mean " + strconv.Quote(s) + "?)"
			}
			d.add(nodePos(key), fieldPath, msg, name, where(path), strings.Join(fields, ", "))
			continue
		}
		d.pos[fieldPath] = nodePos(key)
		d.value(val, fieldPath, nodePos(key), v.Field(index))
	}
	return true
}

// key checks that a mapping key is a plain string.
func (d *decoder) key(key *yaml.Node, path string) (string, bool) {
	if key.Tag == "!!merge" {
		d.add(nodePos(key), path, "merge keys (<<) are not supported; write the fields out (anchors and aliases are fine)")
		return "", false
	}
	if key.Kind != yaml.ScalarNode || !stringTags[key.Tag] {
		d.add(nodePos(key), path, "keys must be plain strings, got %s", describe(key))
		return "", false
	}
	return key.Value, true
}

func (d *decoder) sequence(n *yaml.Node, path string, at Pos, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, path, at, v.Type())
		return
	}
	elemType := v.Type().Elem()
	for i, raw := range n.Content {
		elemPath := path + "[" + strconv.Itoa(i) + "]"
		elemPos := nodePos(raw)
		d.pos[elemPath] = elemPos
		if isNull(resolve(raw)) {
			d.add(elemPos, elemPath, "must be %s, got null; remove the empty entry", expected(elemType))
			continue
		}
		elem := reflect.New(elemType).Elem()
		d.value(raw, elemPath, elemPos, elem)
		v.Set(reflect.Append(v, elem))
	}
}

// stringMap decodes a mapping of user-chosen names (such as sysctl keys)
// to string values. Its keys are data, so the x- rule does not apply.
func (d *decoder) stringMap(n *yaml.Node, path string, at Pos, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, at, v.Type())
		return
	}
	seen := map[string]Pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := resolve(n.Content[i]), resolve(n.Content[i+1])
		name, ok := d.key(key, path)
		if !ok {
			continue
		}
		keyPath := path + "." + name
		if prev, dup := seen[name]; dup {
			d.add(nodePos(key), keyPath, "duplicate key %q in %s (first at line %d); keep one", name, path, prev.Line)
			continue
		}
		seen[name] = nodePos(key)
		d.pos[keyPath] = nodePos(key)
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		value := ""
		if !isNull(val) {
			s, ok := d.scalar(val, keyPath, nodePos(key), v.Type().Elem())
			if !ok {
				continue
			}
			value = s
		}
		v.SetMapIndex(reflect.ValueOf(name), reflect.ValueOf(value))
	}
}

// fieldNames lists the YAML keys of a struct in declaration order, which
// is also the order error messages list them in.
func fieldNames(t reflect.Type) []string {
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
	}
	return names
}

// expected describes what a Go type accepts, in the user's terms.
func expected(t reflect.Type) string {
	switch {
	case t == byteSizeType:
		return "a size such as 8GiB"
	case t == checkListType:
		return "a list of checks, each a mapping such as {file: /etc/hostname, contains: node}"
	case t == imageType:
		return "a release image name such as kube-proxy, or a mapping with fields " + strings.Join(fieldNames(t), ", ")
	case t.Kind() == reflect.Slice && t.Elem() == imageType:
		return "a list of images, each " + expected(t.Elem())
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Pointer:
		return expected(t.Elem())
	case t.Kind() == reflect.Struct:
		return "a mapping with fields " + strings.Join(fieldNames(t), ", ")
	case t.Kind() == reflect.Map:
		return "a mapping of names to string values"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "a list of mappings with fields " + strings.Join(fieldNames(t.Elem()), ", ")
	case t.Kind() == reflect.Slice:
		return "a list of strings"
	}
	return t.String()
}

// describe names what the user actually wrote.
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
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a value tagged " + n.Tag
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// where locates a mapping in messages: "in os", "at the top level".
func where(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + path
}

// suggest returns the allowed name closest to a typo, if any is close
// enough to be a likely intent.
func suggest(name string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if strings.EqualFold(a, name) {
			return a
		}
		if dist := editDistance(name, a); dist < bestDist {
			best, bestDist = a, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
