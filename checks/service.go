package checks

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Service checks a systemd unit's enablement, as `systemctl is-enabled`
// reports it, worked out offline from the unit files and symlinks.
type Service struct {
	// Unit is the unit name; without a type suffix it is a service.
	Unit string
	// State lists the states that pass; empty means "enabled". The states
	// are systemctl's: enabled, linked, alias, masked, static, indirect,
	// disabled, and not-found. For an alias, its unit's state passes too.
	State []string
}

// UnitStates lists the states a Service check can want.
var UnitStates = []string{"enabled", "linked", "alias", "masked", "static", "indirect", "disabled", "not-found"}

// Describe implements Assertion.
func (s Service) Describe() string { return "service " + unitName(s.Unit) }

func (s Service) wants() []string {
	w := make([]string, 0, len(unitDirs))
	for _, d := range unitDirs {
		w = append(w, path.Join(d, unitName(s.Unit)))
	}
	return w
}

func (s Service) validate() error {
	var errs []error
	if s.Unit == "" || strings.ContainsAny(s.Unit, "/ \t") {
		errs = append(errs, fmt.Errorf("unit name %q is not a unit name", s.Unit))
	}
	for _, st := range s.State {
		errs = append(errs, checkUnitState(st))
	}
	return errors.Join(errs...)
}

func checkUnitState(st string) error {
	if !slices.Contains(UnitStates, st) {
		return fmt.Errorf("state %q is not one of %s", st, strings.Join(UnitStates, ", "))
	}
	return nil
}

func (s Service) evaluate(e *env) Outcome {
	want := s.State
	if len(want) == 0 {
		want = []string{"enabled"}
	}
	st, err := e.units.state(unitName(s.Unit))
	if err != nil {
		return errorOutcome("", err)
	}
	ok := slices.Contains(want, st.state)
	found := st.describe()
	if st.state == "alias" {
		target, err := e.units.state(st.unit.name)
		if err != nil {
			return errorOutcome(st.unit.path, err)
		}
		ok = ok || slices.Contains(want, target.state)
		found = fmt.Sprintf("alias of %s, which is %s", st.unit.name, target.describe())
		st = target
	}
	p := st.via
	if p == "" {
		p = st.unit.path
	}
	if !ok {
		return Outcome{Status: Fail, Path: p, Expected: strings.Join(want, " or "), Found: found,
			Detail: "want " + strings.Join(want, " or ") + ", found " + found}
	}
	return Outcome{Status: Pass, Path: p, Found: found, Detail: found}
}

// unitState is a unit's enablement and what shows it.
type unitState struct {
	state  string // systemctl's word
	unit   unitFile
	via    string   // the symlink that makes it enabled, linked or indirect
	vendor []string // links outside /etc that pull it in, which are no enablement
}

func (s unitState) describe() string {
	d := s.state
	if s.via != "" {
		d += " (" + s.via + ")"
	} else if s.unit.path != "" && s.state != "not-found" {
		d += " (" + s.unit.path + ")"
	}
	if len(s.vendor) > 0 && s.state != "enabled" {
		d += "; pulled in by " + listing(s.vendor, 2)
	}
	return d
}

// state is unit_file_lookup_state: masked, alias, enabled (a symlink in
// /etc/systemd/system's .wants/.requires/.upholds directories, or an
// Alias= link), linked (a same-name link in /etc from elsewhere),
// indirect (enabled under another name, or only Also=), disabled
// ([Install] rules but no links), static (no [Install] rules).
func (r *unitResolver) state(name string) (unitState, error) {
	u, err := r.find(name)
	if errors.Is(err, errNoUnit) {
		return unitState{state: "not-found"}, nil
	}
	if err != nil {
		return unitState{}, err
	}
	switch {
	case u.masked:
		return unitState{state: "masked", unit: u}, nil
	case len(u.aliases) > 0 && !isInstance(name):
		return unitState{state: "alias", unit: u}, nil
	}
	dirs, err := r.dirs.get()
	if err != nil {
		return unitState{}, err
	}
	st := unitState{unit: u}
	for _, matchName := range []bool{true, false} {
		state, via, vendor := r.findSymlinks(dirs, u, matchName)
		if matchName {
			st.vendor = vendor
		}
		switch {
		case state != "" && matchName:
			st.state, st.via = state, via
			return st, nil
		case state == "enabled":
			// Linked under a name [Install] does not give: in use, but
			// not the way `systemctl enable` would have done it.
			st.state, st.via = "indirect", via
			return st, nil
		}
	}
	switch {
	case u.install.hasRules():
		st.state = "disabled"
	case len(u.install.also) > 0:
		st.state = "indirect"
	default:
		st.state = "static"
	}
	return st, nil
}

// findSymlinks is find_symlinks_in_scope: the first directory of the
// search path with a link to the unit decides. Found in the persistent
// configuration, the unit is enabled; found only in vendor directories, it
// is pulled in but not enabled (static, for an instance). A same-name link
// in the configuration, and nothing else, makes it linked.
func (r *unitResolver) findSymlinks(dirs []string, u unitFile, matchName bool) (state, via string, vendor []string) {
	config, _ := r.e.resolve(persistentConfig)
	ignoreSameName, sameNameInConfig := false, false
	for _, d := range dirs {
		link, sameName := r.symlinksIn(d, u, matchName, ignoreSameName)
		switch {
		case link != "" && d == config:
			return "enabled", link, vendor
		case link != "":
			vendor = append(vendor, link)
		case sameName && d == config:
			sameNameInConfig = true
		}
		// Same-name entries below the unit file's own directory are
		// hidden by it.
		if strings.HasPrefix(u.real, d+"/") {
			ignoreSameName = true
		}
	}
	switch {
	case len(vendor) > 0 && isInstance(u.name):
		return "static", vendor[0], vendor
	case sameNameInConfig:
		return "linked", path.Join(config, u.name), vendor
	}
	return "", "", vendor
}

// symlinksIn is find_symlinks for one directory: a link named like the
// unit (or an instance of it) in a .wants, .requires or .upholds
// subdirectory, whatever it points at; else a link in the directory itself
// that points at the unit's name or is named like it. With matchName the
// link's name must be one [Install] would create: the unit's name or an
// Alias=.
func (r *unitResolver) symlinksIn(dir string, u unitFile, matchName, ignoreSameName bool) (link string, sameName bool) {
	ents, err := r.e.readDir(dir)
	if err != nil {
		return "", false
	}
	known := func(n string) bool { return !matchName || u.knownName(n) }
	for _, d := range ents {
		ext := path.Ext(d.Name())
		if !d.IsDir() || (ext != ".wants" && ext != ".requires" && ext != ".upholds") {
			continue
		}
		sub := path.Join(dir, d.Name())
		links, _ := r.e.readDir(sub)
		for _, l := range links {
			if l.Type() != fs.ModeSymlink {
				continue
			}
			tmpl, _ := templateOf(l.Name())
			if (l.Name() == u.name || tmpl == u.name) && known(l.Name()) {
				return path.Join(sub, l.Name()), false
			}
		}
	}
	for _, d := range ents {
		if d.Type() != fs.ModeSymlink {
			continue
		}
		p := path.Join(dir, d.Name())
		target, err := r.e.readLink(p)
		if err != nil {
			continue
		}
		foundDest := path.Base(target) == u.name
		foundPath := !ignoreSameName && d.Name() == u.name
		if foundPath && foundDest {
			sameName = true
			continue
		}
		if (foundPath || foundDest) && known(d.Name()) {
			return p, false
		}
	}
	return "", sameName
}

// knownName: a name `systemctl enable` links the unit under.
func (u unitFile) knownName(n string) bool {
	if n == u.name || slices.Contains(u.install.alias, n) {
		return true
	}
	if u.install.defaultInstance != "" {
		if at := strings.IndexByte(u.name, '@'); at >= 0 {
			return n == u.name[:at+1]+u.install.defaultInstance+path.Ext(u.name)
		}
	}
	return false
}
