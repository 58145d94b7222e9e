package checks

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Package checks a package in the image's dpkg database
// (/var/lib/dpkg/status). Other package managers are not read.
type Package struct {
	// Name is the package name; "name:arch" picks one architecture of a
	// Multi-Arch package.
	Name string
	// Absent wants the package not installed (never installed, removed,
	// or only its configuration files left).
	Absent bool
	// At most one of Version (exact), VersionPrefix and VersionMatches
	// (a Go regexp) constrains the installed version.
	Version, VersionPrefix, VersionMatches string
}

// Describe implements Assertion.
func (p Package) Describe() string { return "package " + p.Name }

func (p Package) wants() []string { return []string{dpkgStatus} }

func (p Package) validate() error {
	var errs []error
	if p.Name == "" || strings.ContainsAny(p.Name, " \t/") {
		errs = append(errs, fmt.Errorf("package name %q is not a dpkg package name", p.Name))
	}
	n := 0
	for _, v := range []string{p.Version, p.VersionPrefix, p.VersionMatches} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		errs = append(errs, errors.New("use one of version, versionPrefix and versionMatches"))
	}
	if p.Absent && n > 0 {
		errs = append(errs, errors.New("absent cannot be combined with a version"))
	}
	if p.VersionMatches != "" {
		errs = append(errs, checkRegexp(p.VersionMatches))
	}
	return errors.Join(errs...)
}

func checkRegexp(s string) error {
	if _, err := regexp.Compile(s); err != nil {
		return fmt.Errorf("versionMatches %q: %w", s, err)
	}
	return nil
}

func (p Package) evaluate(e *env) Outcome {
	db, err := e.dpkg.get()
	if err != nil {
		return errorOutcome(dpkgStatus, err)
	}
	var installed, other []dpkgPackage
	for _, q := range db.lookup(p.Name) {
		if q.installed() {
			installed = append(installed, q)
		} else {
			other = append(other, q)
		}
	}
	if p.Absent {
		if len(installed) > 0 {
			return fail(dpkgStatus, "not installed", "installed, version "+installed[0].Version)
		}
		return pass(dpkgStatus, notInstalled(other))
	}
	if len(installed) == 0 {
		return fail(dpkgStatus, "installed", notInstalled(other))
	}
	want, ok := p.versionOK()
	var versions []string
	for _, q := range installed {
		if ok(q.Version) {
			return pass(dpkgStatus, fmt.Sprintf("%s %s (%s) installed", q.Name, q.Version, q.Arch))
		}
		versions = append(versions, q.Version)
	}
	return fail(dpkgStatus, "version "+want, "version "+strings.Join(versions, ", "))
}

// versionOK returns what the version should be, for messages, and the
// test.
func (p Package) versionOK() (string, func(string) bool) {
	switch {
	case p.Version != "":
		return p.Version, func(v string) bool { return v == p.Version }
	case p.VersionPrefix != "":
		return p.VersionPrefix + "*", func(v string) bool { return strings.HasPrefix(v, p.VersionPrefix) }
	case p.VersionMatches != "":
		re := regexp.MustCompile(p.VersionMatches) // validate compiled it
		return "matching " + p.VersionMatches, re.MatchString
	}
	return "any", func(string) bool { return true }
}

func notInstalled(other []dpkgPackage) string {
	if len(other) == 0 {
		return "not in the dpkg database"
	}
	q := other[0]
	return fmt.Sprintf("status %q (%s %s %s)", q.State, q.Want, q.Flag, q.State)
}
