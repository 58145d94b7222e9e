package checks

import (
	"fmt"
	"path"
	"strings"
)

// sysctlDirs are systemd-sysctl's directories (sysctl.d(5)), highest
// priority first. /run/sysctl.d is left out: /run is a tmpfs at boot, so
// whatever an image holds there is hidden.
var sysctlDirs = []string{"/etc/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

// sysctlConf is read after the directories unless one of their files is
// it already (Debian's /etc/sysctl.d/99-sysctl.conf links to it), as
// `sysctl --system` does.
const sysctlConf = "/etc/sysctl.conf"

// Sysctl checks the value a kernel parameter gets at boot from the image's
// sysctl configuration, computed as systemd-sysctl computes it.
type Sysctl struct {
	// Key is the parameter, with dots or slashes: net.ipv4.ip_forward.
	Key string
	// Value is what it must be set to; runs of whitespace compare equal.
	Value string
}

// Describe implements Assertion.
func (s Sysctl) Describe() string { return "sysctl " + s.Key }

func (s Sysctl) wants() []string {
	return append(sysctlDirs[:len(sysctlDirs):len(sysctlDirs)], sysctlConf)
}

func (s Sysctl) validate() error {
	if s.Key == "" || strings.ContainsAny(s.Key, " \t=*?[") {
		return fmt.Errorf("sysctl key %q is not a parameter name", s.Key)
	}
	return nil
}

func (s Sysctl) evaluate(e *env) Outcome {
	t, err := e.sysctl.get()
	if err != nil {
		return errorOutcome("", err)
	}
	want := strings.Join(strings.Fields(s.Value), " ")
	set, ok := t.lookup(s.Key)
	if !ok {
		return fail("", want, fmt.Sprintf("not set (%d sysctl files read)", len(t.files)))
	}
	where := set.where()
	if set.Value != want {
		return Outcome{Status: Fail, Path: set.File, Expected: want, Found: set.Value,
			Detail: fmt.Sprintf("want %s, found %s (set by %s)", want, set.Value, where)}
	}
	return Outcome{Status: Pass, Path: set.File, Found: set.Value, Detail: fmt.Sprintf("%s (set by %s)", set.Value, where)}
}

// sysctlSetting is one assignment.
type sysctlSetting struct {
	Value string
	File  string
	Line  int
	Glob  string // the pattern, for an assignment to every matching key
}

func (s sysctlSetting) where() string {
	w := fmt.Sprintf("%s:%d", s.File, s.Line)
	if s.Glob != "" {
		w += " via " + strings.ReplaceAll(s.Glob, "/", ".")
	}
	return w
}

// sysctlTable is the configuration's assignments.
type sysctlTable struct {
	explicit map[string]sysctlSetting // by normalized key: the last assignment
	globs    []sysctlSetting          // in order
	files    []string
}

// lookup applies systemd-sysctl's rule: an explicit assignment wins over
// any glob; among explicit ones, and among globs, the last one applied.
func (t sysctlTable) lookup(key string) (sysctlSetting, bool) {
	k := normalizeSysctl(key)
	if s, ok := t.explicit[k]; ok {
		return s, true
	}
	for i := len(t.globs) - 1; i >= 0; i-- {
		if ok, _ := path.Match(t.globs[i].Glob, k); ok {
			return t.globs[i], true
		}
	}
	return sysctlSetting{}, false
}

func loadSysctl(e *env) (sysctlTable, error) {
	files := listConfFiles(e, sysctlDirs)
	t := sysctlTable{explicit: map[string]sysctlSetting{}}
	read := map[string]bool{}
	for _, f := range files {
		if f.Real == "" {
			continue
		}
		read[f.Real] = true
		if err := t.readFile(e, f.Path, f.Real); err != nil {
			return t, err
		}
	}
	if real, err := e.resolve(sysctlConf); err == nil && !read[real] {
		if err := t.readFile(e, sysctlConf, real); err != nil {
			return t, err
		}
	}
	return t, nil
}

func (t *sysctlTable) readFile(e *env, name, real string) error {
	b, err := e.readFile(real)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("reading %s: %w", name, err)
	}
	t.files = append(t.files, name)
	t.parse(name, string(b))
	return nil
}

// parse reads "key = value" lines. A leading "-" (ignore a failure to set
// it) does not change the value. Lines that are no assignment, and "!"
// exclusions, are skipped, as systemd-sysctl skips them with a warning.
func (t *sysctlTable) parse(file, text string) {
	confLines(text, func(line string, n int) {
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return
		}
		key = strings.TrimPrefix(strings.TrimSpace(key), "-")
		if key == "" || strings.HasPrefix(key, "!") {
			return
		}
		s := sysctlSetting{Value: strings.Join(strings.Fields(value), " "), File: file, Line: n}
		k := normalizeSysctl(key)
		if strings.ContainsAny(k, "*?[") {
			s.Glob = k
			t.globs = append(t.globs, s)
			return
		}
		t.explicit[k] = s
	})
}

// SysctlPath is the file under /proc/sys that a kernel parameter is
// read from in a running system, the key read as systemd-sysctl reads it
// (see normalizeSysctl): "net.ipv4.ip_forward" is
// "/proc/sys/net/ipv4/ip_forward".
func SysctlPath(key string) string { return "/proc/sys/" + normalizeSysctl(key) }

// normalizeSysctl turns a key into systemd's form, a /proc/sys path: when
// the first separator is a dot, dots and slashes swap ("net.ipv4.conf.
// eth0/1.rp_filter" names the interface "eth0.1"); otherwise the key is a
// path already.
func normalizeSysctl(key string) string {
	key = strings.TrimSpace(key)
	if i := strings.IndexAny(key, "./"); i >= 0 && key[i] == '.' {
		key = strings.Map(func(r rune) rune {
			switch r {
			case '.':
				return '/'
			case '/':
				return '.'
			}
			return r
		}, key)
	}
	return strings.TrimPrefix(path.Clean("/"+key), "/")
}
