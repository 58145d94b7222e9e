package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a 1-based line and column in the spec file. A zero Column means
// only the line is known (YAML syntax errors report no column).
type Pos struct {
	Line, Column int
}

// String formats the position the way compilers do, so editors can jump
// to it.
func (p Pos) String() string {
	if p.Column == 0 {
		return fmt.Sprintf("%d", p.Line)
	}
	return fmt.Sprintf("%d:%d", p.Line, p.Column)
}

// Error is one problem in a spec file. It always carries a position so
// the frontend can point BuildKit's source view at it.
type Error struct {
	File    string
	Pos     Pos
	Field   string
	Message string
}

// Error renders "file:line:col: field: message", the form users paste
// into bug reports and editors understand.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Pos.Line > 0 {
		b.WriteString(e.Pos.String())
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ErrorList carries every problem found, in document order, so a user can
// fix a file in one pass instead of one error per build.
type ErrorList []*Error

// Error joins the problems one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual problems to errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// problems collects errors while walking or validating a spec.
type problems struct {
	file string
	list ErrorList
	// lines is the file's line count, or 0 when unknown. yaml.v3 puts
	// the empty content of a document that ends the file without a line
	// break ("---") on the line after the last, which no editor can jump
	// to; problems there are kept on the last line.
	lines int
}

func (p *problems) add(pos Pos, field, format string, args ...any) {
	if p.lines > 0 && pos.Line > p.lines {
		pos = Pos{Line: p.lines}
	}
	p.list = append(p.list, &Error{File: p.file, Pos: pos, Field: field, Message: fmt.Sprintf(format, args...)})
}

// sortByPos puts problems in document order; problems at the same place
// keep the order they were found in.
func (p *problems) sortByPos() {
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i].Pos, p.list[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// err returns nil, the single *Error, or the whole ErrorList, so callers
// with one problem get the simplest type.
func (p *problems) err() error {
	switch len(p.list) {
	case 0:
		return nil
	case 1:
		return p.list[0]
	default:
		return p.list
	}
}
