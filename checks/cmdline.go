package checks

import (
	"errors"
	"fmt"
	"strings"
)

// Cmdline checks an argument of the default boot entry's kernel command
// line.
type Cmdline struct {
	// Arg is "key=value" (that exact argument), "key=" (key with any
	// value) or "flag" (the bare flag, or flag=anything). Arguments are
	// compared after the kernel's unquoting: dyndbg="a b" is dyndbg=a b.
	Arg string
	// Absent wants no such argument.
	Absent bool
}

// Describe implements Assertion.
func (c Cmdline) Describe() string { return "cmdline " + c.Arg }

func (c Cmdline) validate() error {
	if strings.TrimSpace(c.Arg) == "" {
		return fmt.Errorf("cmdline argument %q is empty", c.Arg)
	}
	return nil
}

func (c Cmdline) evaluate(e *env) Outcome {
	if e.img.BootEntry == "" {
		return errorOutcome("", errors.New("no default boot entry, so no command line to check"))
	}
	var found []string
	for _, arg := range splitCmdline(e.img.Cmdline) {
		if c.matches(arg) {
			found = append(found, arg)
		}
	}
	switch {
	case c.Absent && len(found) > 0:
		return fail(e.img.BootEntry, "no "+c.Arg, strings.Join(found, " "))
	case c.Absent:
		return pass(e.img.BootEntry, "not on the command line")
	case len(found) == 0:
		return fail(e.img.BootEntry, c.Arg, "options "+e.img.Cmdline)
	}
	return pass(e.img.BootEntry, strings.Join(found, " "))
}

func (c Cmdline) matches(arg string) bool {
	key, _, hasValue := strings.Cut(c.Arg, "=")
	switch {
	case strings.HasSuffix(c.Arg, "="):
		return strings.HasPrefix(arg, c.Arg)
	case hasValue:
		return arg == c.Arg
	}
	return arg == key || strings.HasPrefix(arg, key+"=")
}

// CmdlineArgs splits a kernel command line into its arguments the way the
// kernel does, and Cmdline checks compare them: at spaces, except inside
// double quotes, which are removed.
func CmdlineArgs(s string) []string { return splitCmdline(s) }

// splitCmdline splits a command line the way the kernel does: at spaces,
// except inside double quotes, which are removed.
func splitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, started := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			started = true
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if started {
				out = append(out, cur.String())
			}
			cur.Reset()
			started = false
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}
