package checks

import (
	"fmt"
	"strings"
)

// modulesLoadDirs are systemd-modules-load's directories
// (modules-load.d(5)), highest priority first; /run is left out as for
// sysctl.d.
var modulesLoadDirs = []string{"/etc/modules-load.d", "/usr/local/lib/modules-load.d", "/usr/lib/modules-load.d", "/lib/modules-load.d"}

// etcModules is Debian's list of modules to load at boot, which kmod links
// into modules-load.d as modules.conf; read on its own when not linked.
const etcModules = "/etc/modules"

// Module checks that a kernel module is loaded at boot by name: listed in
// modules-load.d, /etc/modules, or modules-load= on the default boot
// entry's command line. It does not check that the module exists for the
// image's kernel, or is built in.
type Module struct {
	// Name is the module; "-" and "_" are the same, as for modprobe.
	Name string
	// Absent wants it listed nowhere.
	Absent bool
}

// Describe implements Assertion.
func (m Module) Describe() string { return "module " + m.Name }

func (m Module) wants() []string {
	return append(modulesLoadDirs[:len(modulesLoadDirs):len(modulesLoadDirs)], etcModules)
}

func (m Module) validate() error {
	if m.Name == "" || strings.ContainsAny(m.Name, " \t/,") {
		return fmt.Errorf("module name %q is not a module name", m.Name)
	}
	return nil
}

func (m Module) evaluate(e *env) Outcome {
	list, err := e.modules.get()
	if err != nil {
		return errorOutcome("", err)
	}
	where := list.find(m.Name)
	if e.img.BootEntry != "" {
		for _, name := range cmdlineModules(e.img.Cmdline) {
			if sameModule(name, m.Name) {
				where = append(where, e.img.BootEntry+" (modules-load=)")
			}
		}
	}
	switch {
	case m.Absent && len(where) > 0:
		return Outcome{Status: Fail, Path: firstPath(where), Expected: "not loaded at boot", Found: "listed",
			Detail: "want not loaded at boot, found listed in " + listing(where, 3)}
	case m.Absent:
		return pass("", "not listed")
	case len(where) == 0:
		return fail("", "loaded at boot", fmt.Sprintf("not listed (%d modules-load files read)", len(list.files)))
	}
	return Outcome{Status: Pass, Path: firstPath(where), Found: "listed", Detail: "listed in " + listing(where, 3)}
}

func firstPath(where []string) string { p, _, _ := strings.Cut(where[0], ":"); return p }

// moduleList is every module the configuration loads, with where.
type moduleList struct {
	entries []moduleEntry
	files   []string
}

type moduleEntry struct {
	name, file string
	line       int
}

func (l moduleList) find(name string) []string {
	var where []string
	for _, m := range l.entries {
		if sameModule(m.name, name) {
			where = append(where, fmt.Sprintf("%s:%d", m.file, m.line))
		}
	}
	return where
}

func sameModule(a, b string) bool {
	return strings.ReplaceAll(a, "-", "_") == strings.ReplaceAll(b, "-", "_")
}

func loadModules(e *env) (moduleList, error) {
	var l moduleList
	read := map[string]bool{}
	files := listConfFiles(e, modulesLoadDirs)
	if real, err := e.resolve(etcModules); err == nil {
		files = append(files, confFile{Path: etcModules, Real: real})
	}
	for _, f := range files {
		if f.Real == "" || read[f.Real] {
			continue
		}
		read[f.Real] = true
		b, err := e.readFile(f.Real)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return l, fmt.Errorf("reading %s: %w", f.Path, err)
		}
		l.files = append(l.files, f.Path)
		confLines(string(b), func(line string, n int) {
			// /etc/modules allows arguments after the name; the name is
			// what loads.
			l.entries = append(l.entries, moduleEntry{name: strings.Fields(line)[0], file: f.Path, line: n})
		})
	}
	return l, nil
}

// cmdlineModules lists the modules a command line's modules-load= (and the
// initrd's rd.modules-load=) arguments name.
func cmdlineModules(cmdline string) []string {
	var out []string
	for _, arg := range splitCmdline(cmdline) {
		for _, key := range []string{"modules-load=", "rd.modules-load="} {
			if v, ok := strings.CutPrefix(arg, key); ok {
				for _, m := range strings.Split(v, ",") {
					if m != "" {
						out = append(out, m)
					}
				}
			}
		}
	}
	return out
}
