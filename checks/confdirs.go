package checks

import (
	"path"
	"sort"
	"strings"
)

// confFile is one file of a systemd-style configuration directory set.
type confFile struct {
	Path string // where it was found (the name that counts)
	Real string // its canonical path, symlinks followed; "" when masked
}

// listConfFiles does what systemd's conf_files_list does for sysctl.d,
// modules-load.d and the like: every "*.conf" in dirs (highest priority
// first), a name in an earlier directory hiding the same name in later
// ones, the result in lexical order of the names. A file that is a symlink
// to /dev/null, or empty, masks the name. Directories that are missing are
// skipped.
func listConfFiles(e *env, dirs []string) []confFile {
	e.prefetch(dirs...)
	byName := map[string]confFile{}
	for _, dir := range dirs {
		ents, err := e.readDir(dir)
		if err != nil {
			continue
		}
		for _, d := range ents {
			name := d.Name()
			if !strings.HasSuffix(name, ".conf") || d.IsDir() {
				continue
			}
			if _, hidden := byName[name]; hidden {
				continue
			}
			p := path.Join(dir, name)
			c := confFile{Path: p}
			if real, err := e.resolve(p); err == nil && !isNull(e, real) {
				c.Real = real
			}
			byName[name] = c
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]confFile, 0, len(names))
	for _, n := range names {
		out = append(out, byName[n])
	}
	var reals []string
	for _, c := range out {
		if c.Real != "" {
			reals = append(reals, c.Real)
		}
	}
	e.prefetch(reals...)
	return out
}

// isNull says whether a canonical path masks: /dev/null (whatever it is
// in the image, or absent), or an empty file.
func isNull(e *env, real string) bool {
	if real == "/dev/null" {
		return true
	}
	info, err := e.lstat(real)
	return err == nil && info.Mode().IsRegular() && info.Size() == 0
}

// confLines calls fn with each meaningful line of a configuration file:
// trimmed, without blank lines and comments ("#" or ";" first).
func confLines(text string, fn func(line string, n int)) {
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		fn(line, i+1)
	}
}
