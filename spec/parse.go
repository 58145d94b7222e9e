package spec

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Parse reads one YAML document strictly into a Spec. Syntax errors,
// wrong types, unknown and duplicate fields are all reported, with their
// positions, as an *Error or an ErrorList. Parse applies no defaults, so
// the result is exactly what the file says.
func Parse(file string, data []byte) (*Spec, error) {
	if err := RequireUTF8(file, data); err != nil {
		return nil, err
	}
	p := &problems{file: file, lines: LineCount(data)}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(Pos{Line: 1, Column: 1}, "", "the file has no YAML document; start it with apiVersion: %s", APIVersion)
			return nil, p.err()
		}
		return nil, SyntaxError(file, data, err)
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, SyntaxError(file, data, err)
		}
		if !isEmptyDocument(&extra) {
			p.add(nodePos(&extra), "", "the file holds more than one YAML document; keep one NodeImage per file and remove the \"---\" separator")
			return nil, p.err()
		}
	}

	s := &Spec{File: file, pos: map[string]Pos{}}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = resolve(doc.Content[0])
	}
	rootType := reflect.TypeOf(s.Image)
	if root.Kind != yaml.MappingNode {
		p.add(nodePos(root), "", "the document must be %s, got %s", expected(rootType), describe(root))
		return nil, p.err()
	}
	s.pos[""] = nodePos(root)
	d := &decoder{problems: p, pos: s.pos, left: len(data) + maxAliasGrowth}
	d.value(root, "", nodePos(root), reflect.ValueOf(&s.Image).Elem())
	if err := p.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// isEmptyDocument reports a document with nothing in it, as left by a
// trailing "---"; editors and generators add those, and they are harmless.
func isEmptyDocument(doc *yaml.Node) bool {
	for _, n := range doc.Content {
		if !isNull(n) || n.Value != "" {
			return false
		}
	}
	return true
}

// yamlLine matches yaml.v3's error text, which carries a line but no
// column.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of yaml.v3's parser stage. yaml.v3
// reports their line 0-based (its scanner errors are 1-based), and leaves
// the line out altogether for problems on the first line.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// SyntaxError turns a yaml.v3 error decoding data into an *Error so that
// callers see one error type for every problem in the file, this
// package's and those of other YAML files (check files). Errors without a
// line are placed on line 1, which is where yaml.v3 omits it.
func SyntaxError(file string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{Line: 1}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			pos.Line, msg = line, m[2]
			if parserProblems[msg] {
				pos.Line++
			}
		}
	}
	// yaml.v3 puts the end of a file that ends without a line break on
	// the line after its last, which no editor can jump to.
	if n := LineCount(data); pos.Line > n {
		pos = Pos{Line: n}
	}
	return &Error{File: file, Pos: pos, Message: "invalid YAML: " + msg}
}

// RequireUTF8 refuses a file in UTF-16 or UTF-32, which the YAML parser
// would decode by its byte order mark: every position it then reports
// counts characters of the decoded text, not the lines and columns an
// editor shows for the file. Invalid UTF-8 is left to the parser, which
// reports where it is.
func RequireUTF8(file string, data []byte) error {
	for _, bom := range []struct{ name, bytes string }{
		{"UTF-32", "\x00\x00\xfe\xff"}, {"UTF-32", "\xff\xfe\x00\x00"},
		{"UTF-16", "\xfe\xff"}, {"UTF-16", "\xff\xfe"},
	} {
		if bytes.HasPrefix(data, []byte(bom.bytes)) {
			return &Error{File: file, Pos: Pos{Line: 1, Column: 1},
				Message: "the file is " + bom.name + " text (it starts with a " + bom.name + " byte order mark); save it as UTF-8"}
		}
	}
	return nil
}

// LineCount counts the lines of data as YAML does: a line ends at \n,
// \r\n, \r, NEL, LS or PS, and the text after the last break, empty or
// not, is a line too.
func LineCount(data []byte) int { return len(yamlLines(data)) }

// Within reports whether p names a line of data and, when it has a
// column, a character of that line or the end of it.
func (p Pos) Within(data []byte) bool {
	lines := yamlLines(data)
	if p.Line < 1 || p.Line > len(lines) {
		return false
	}
	return p.Column == 0 || p.Column >= 1 && p.Column <= utf8.RuneCount(lines[p.Line-1])+1
}

// yamlLines splits data into lines at YAML's line breaks, the breaks left
// out.
func yamlLines(data []byte) [][]byte {
	var lines [][]byte
	start := 0
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			n = 2
		}
		if r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029' {
			lines = append(lines, data[start:i])
			start = i + n
		}
		i += n
	}
	return append(lines, data[start:])
}
