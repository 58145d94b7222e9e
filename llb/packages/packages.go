// Package packages turns "install these packages" into an LLB exec for each
// package-manager family. Families are data, so a new distro family is a new
// table entry rather than a branch in the graph code.
package packages

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
)

// Family is how one package manager installs packages inside a build step.
type Family struct {
	// Script returns the shell script that installs pkgs.
	Script func(pkgs []string) string
	// CacheDirs are kept between builds as BuildKit cache mounts, so a rebuild
	// re-downloads nothing and the image never contains the package cache.
	CacheDirs []string
	// Env is set for every install step.
	Env map[string]string
	// AuthFile is where the package manager reads a private mirror's
	// credentials; see WithAuthSecret. Empty: the family takes none.
	AuthFile string
	// Dpkg says the family records what it installs in dpkg's database,
	// the one the image checks read (checks.Package); the packages of a
	// family without it are not checked.
	Dpkg bool

	authSecret string
}

var families = map[string]Family{
	"apt": {
		Script: func(pkgs []string) string {
			// The base may carry docker-clean, which would empty the cache mount.
			return "set -eu\n" +
				"rm -f /etc/apt/apt.conf.d/docker-clean\n" +
				"apt-get update -q\n" +
				"apt-get install -y -q --no-install-recommends " + strings.Join(pkgs, " ") + "\n"
		},
		CacheDirs: []string{"/var/cache/apt/archives", "/var/lib/apt/lists"},
		Env:       map[string]string{"DEBIAN_FRONTEND": "noninteractive"},
		AuthFile:  "/etc/apt/auth.conf.d/strata-secret.conf",
		Dpkg:      true,
	},
	// dnf (RHEL 9 and its rebuilds). It refreshes expired metadata by
	// itself, so the script has no update step. dnf deletes the packages
	// it downloaded once they are installed unless keepcache is set, which
	// would leave the cache mount empty; weak dependencies are skipped as
	// apt's recommends are. No AuthFile: dnf reads a mirror's credentials
	// from the username and password options of the repository's own
	// .repo file (dnf.conf(5)), and has no separate credentials file a
	// secret could be mounted at without replacing the repository's
	// definition.
	"dnf": {
		Script: func(pkgs []string) string {
			return "set -eu\n" +
				"dnf install -y -q --setopt=install_weak_deps=False --setopt=keepcache=True " + strings.Join(pkgs, " ") + "\n"
		},
		CacheDirs: []string{"/var/cache/dnf"},
	},
}

// Lookup returns the family called name.
func Lookup(name string) (Family, error) {
	f, ok := families[name]
	if !ok {
		return Family{}, fmt.Errorf("unknown package family %q", name)
	}
	return f, nil
}

// Install runs the family's install script for pkgs on top of st. cacheNS
// separates cache mounts of different distros, whose archives must not mix.
func (f Family) Install(st llb.State, pkgs []string, cacheNS string, opts ...llb.ConstraintsOpt) llb.State {
	runOpts := []llb.RunOption{llb.Args([]string{"/bin/sh", "-c", f.Script(pkgs)})}
	for _, dir := range f.CacheDirs {
		runOpts = append(runOpts, llb.AddMount(dir, llb.Scratch(),
			llb.AsPersistentCacheDir("strata-"+cacheNS+dir, llb.CacheMountLocked)))
	}
	if f.authSecret != "" {
		runOpts = append(runOpts, authMount(f))
	}
	for _, k := range sortedKeys(f.Env) {
		runOpts = append(runOpts, llb.AddEnv(k, f.Env[k]))
	}
	for _, o := range opts {
		runOpts = append(runOpts, o)
	}
	return st.Run(runOpts...).Root()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
