package checks

import (
	"bufio"
	"fmt"
	"strings"
)

// dpkgStatus is where dpkg keeps what is installed.
const dpkgStatus = "/var/lib/dpkg/status"

// dpkgPackage is one stanza of the status database.
type dpkgPackage struct {
	Name, Arch, Version string
	// Want, Flag and State are the three words of the Status field, as in
	// "install ok installed".
	Want, Flag, State string
	Line              int // where the stanza starts, for messages
}

// installed says whether dpkg counts the package as installed: unpacked
// and configured, triggers possibly pending (dpkg-query's "ii" and the
// trigger states, which are installed packages waiting on others).
func (p dpkgPackage) installed() bool {
	switch p.State {
	case "installed", "triggers-pending", "triggers-awaited":
		return true
	}
	return false
}

// dpkgDB is the status database by package name; a name can appear once
// per architecture (Multi-Arch: same).
type dpkgDB map[string][]dpkgPackage

func loadDpkg(e *env) (dpkgDB, error) {
	b, err := e.readFile(dpkgStatus)
	if err != nil {
		return nil, fmt.Errorf("no dpkg database to check packages against: %w", err)
	}
	return parseDpkgStatus(string(b))
}

// parseDpkgStatus reads the deb822 stanzas of a status file: "Field:
// value" lines, continuation lines starting with a space or tab, stanzas
// separated by blank lines. Only the fields checks use are kept.
func parseDpkgStatus(text string) (dpkgDB, error) {
	db := dpkgDB{}
	var cur dpkgPackage
	flush := func() error {
		if cur.Name == "" {
			if cur.Line != 0 {
				return fmt.Errorf("%s:%d: a stanza without a Package field", dpkgStatus, cur.Line)
			}
			return nil
		}
		db[cur.Name] = append(db[cur.Name], cur)
		cur = dpkgPackage{}
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		case line[0] == ' ' || line[0] == '\t':
			continue // a continuation of a field (Description, Conffiles)
		}
		if cur.Line == 0 {
			cur.Line = n
		}
		field, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not a \"Field: value\" line", dpkgStatus, n, line)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(field) {
		case "package":
			cur.Name = value
		case "architecture":
			cur.Arch = value
		case "version":
			cur.Version = value
		case "status":
			words := strings.Fields(value)
			if len(words) != 3 {
				return nil, fmt.Errorf("%s:%d: Status %q is not three words", dpkgStatus, n, value)
			}
			cur.Want, cur.Flag, cur.State = words[0], words[1], words[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", dpkgStatus, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return db, nil
}

// lookup finds a package by "name" or "name:arch".
func (db dpkgDB) lookup(spec string) []dpkgPackage {
	name, arch, _ := strings.Cut(spec, ":")
	var out []dpkgPackage
	for _, p := range db[name] {
		if arch == "" || p.Arch == arch {
			out = append(out, p)
		}
	}
	return out
}
