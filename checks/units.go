package checks

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// unitDirs is systemd's system unit search path as an image has it,
// highest priority first. The /run directories are left out (a tmpfs at
// boot), and so are generators' (they run at boot, not offline).
// /lib/systemd/system is on the path of a split-/usr build; where /lib
// links to usr/lib (merged /usr, as on Debian 12) it is the same
// directory and counted once.
var unitDirs = []string{
	"/etc/systemd/system.control",
	"/etc/systemd/system",
	"/etc/systemd/system.attached",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/lib/systemd/system",
}

// persistentConfig is where `systemctl enable` writes its symlinks.
const persistentConfig = "/etc/systemd/system"

// unitSuffixes are the unit types; a name without one is a service.
var unitSuffixes = []string{".service", ".socket", ".timer", ".target", ".path", ".mount",
	".automount", ".swap", ".slice", ".scope", ".device"}

// unitName completes a bare name to a service.
// UnitName is a unit's full name, as systemctl takes a bare name: with
// no type suffix it is a service ("kubelet" is "kubelet.service").
func UnitName(name string) string { return unitName(name) }

func unitName(name string) string {
	for _, s := range unitSuffixes {
		if strings.HasSuffix(name, s) {
			return name
		}
	}
	return name + ".service"
}

// unitResolver answers `systemctl is-enabled` offline.
type unitResolver struct {
	e    *env
	dirs *lazy[[]string] // the search path, canonical, each directory once
}

func newUnitResolver(e *env) *unitResolver {
	r := &unitResolver{e: e}
	r.dirs = &lazy[[]string]{load: r.loadDirs}
	return r
}

func (r *unitResolver) loadDirs() ([]string, error) {
	var dirs []string
	seen := map[string]bool{}
	for _, d := range unitDirs {
		real, err := r.e.resolve(d)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		// One batch per directory: its listing, its .wants and
		// .requires subdirectories, and every symlink's target.
		r.e.prefetchTree(real)
		dirs = append(dirs, real)
	}
	return dirs, nil
}

// unitFile is a unit found on the search path.
type unitFile struct {
	name    string // the unit's own name, after aliases
	path    string // where the search path has it (the file, a link to it, or the mask)
	real    string // the file itself, symlinks followed
	masked  bool
	aliases []string // the names the lookup came through, when an alias
	install installSection
}

// errNoUnit is a unit found nowhere on the search path.
var errNoUnit = errors.New("no such unit file")

// find looks a unit up as systemd does: the first directory of the search
// path holding the name wins. A symlink to /dev/null, or an empty file,
// masks the unit. A symlink whose target has the same name is the unit
// itself, linked from elsewhere; one whose target has another name makes
// this name an alias, and the lookup starts again with the target's name.
// An instance ("getty@tty1.service") falls back to its template.
func (r *unitResolver) find(name string) (unitFile, error) {
	dirs, err := r.dirs.get()
	if err != nil {
		return unitFile{}, err
	}
	var aliases []string
	for hops := 0; hops < maxLinks; hops++ {
		p, err := r.firstOnPath(dirs, name)
		if errors.Is(err, errNoUnit) {
			if tmpl, ok := templateOf(name); ok {
				p, err = r.firstOnPath(dirs, tmpl)
			}
		}
		if err != nil {
			return unitFile{}, err
		}
		u := unitFile{name: name, path: p, aliases: aliases}
		target, isLink, err := r.linkTarget(p)
		if err != nil {
			return unitFile{}, err
		}
		if isLink {
			if target == "/dev/null" {
				u.masked = true
				return u, nil
			}
			if t := path.Base(target); t != name && !isInstanceOf(name, t) {
				aliases = append(aliases, name)
				name = t
				continue
			}
		}
		real, err := r.e.resolve(p)
		if err != nil {
			return unitFile{}, fmt.Errorf("%s: %w", p, err)
		}
		u.real = real
		if isNull(r.e, real) {
			u.masked = true
			return u, nil
		}
		text, err := r.e.readFile(real)
		if err != nil {
			return unitFile{}, fmt.Errorf("reading %s: %w", p, err)
		}
		u.install = parseInstall(string(text))
		return u, nil
	}
	return unitFile{}, fmt.Errorf("%s: too many aliases", name)
}

func (r *unitResolver) firstOnPath(dirs []string, name string) (string, error) {
	for _, d := range dirs {
		p := path.Join(d, name)
		ok, err := r.e.exists(p)
		if err != nil {
			return "", err
		}
		if ok {
			return p, nil
		}
	}
	return "", errNoUnit
}

// linkTarget follows a chain of symlinks to the last one's absolute
// target, without requiring it to exist; isLink is false for a file.
func (r *unitResolver) linkTarget(p string) (target string, isLink bool, err error) {
	cur := p
	for i := 0; i < maxLinks; i++ {
		info, err := r.e.lstat(cur)
		if err != nil {
			if isNotExist(err) && isLink {
				return cur, true, nil // dangling: the name is what counts
			}
			return "", false, err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return cur, isLink, nil
		}
		t, err := r.e.readLink(cur)
		if err != nil {
			return "", false, err
		}
		if !strings.HasPrefix(t, "/") {
			t = path.Join(path.Dir(cur), t)
		}
		cur, isLink = path.Clean(t), true
		if cur == "/dev/null" {
			return cur, true, nil
		}
	}
	return "", false, fmt.Errorf("%s: too many levels of symlinks", p)
}

// templateOf returns "foo@.service" for "foo@bar.service".
func templateOf(name string) (string, bool) {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at || at+1 == dot {
		return "", false
	}
	return name[:at+1] + name[dot:], true
}

func isInstance(name string) bool {
	_, ok := templateOf(name)
	return ok
}

// isInstanceOf: an instance's link to its template is the instance itself.
func isInstanceOf(name, target string) bool {
	t, ok := templateOf(name)
	return ok && t == target
}

// installSection is a unit file's [Install] section.
type installSection struct {
	wantedBy, requiredBy, upheldBy, alias, also []string
	defaultInstance                             string
}

// hasRules: something `systemctl enable` would link.
func (s installSection) hasRules() bool {
	return len(s.wantedBy)+len(s.requiredBy)+len(s.upheldBy)+len(s.alias) > 0
}

// parseInstall reads the [Install] section of a unit file: lists
// accumulate over lines and an empty assignment clears them, lines ending
// in a backslash continue, "#" and ";" start comments. Drop-ins are not
// read: systemctl reads [Install] from the unit file alone.
func parseInstall(text string) installSection {
	var s installSection
	lists := map[string]*[]string{
		"wantedby": &s.wantedBy, "requiredby": &s.requiredBy, "upheldby": &s.upheldBy,
		"alias": &s.alias, "also": &s.also,
	}
	section := ""
	text = strings.ReplaceAll(text, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			section = strings.TrimSuffix(line[1:], "]")
			continue
		case section != "Install":
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if key == "defaultinstance" {
			s.defaultInstance = strings.TrimSpace(value)
			continue
		}
		list, known := lists[key]
		if !known {
			continue
		}
		if strings.TrimSpace(value) == "" {
			*list = nil
			continue
		}
		*list = append(*list, strings.Fields(value)...)
	}
	return s
}
