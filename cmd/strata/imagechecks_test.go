package main

import (
	"testing"
	"testing/fstest"
)

// TestImageChecksLocations: the checks an image carries are read from
// /usr/lib/strata, or on a distro whose /usr is read-only (Flatcar) from
// /etc/strata; an image with neither carries none.
func TestImageChecksLocations(t *testing.T) {
	one := func(file string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("checks:\n  - file: " + file + "\n")}
	}
	for name, c := range map[string]struct {
		root fstest.MapFS
		want string // the one check's description
	}{
		"usr":      {fstest.MapFS{"usr/lib/strata/checks.yaml": one("/usr-one")}, "file /usr-one"},
		"etc":      {fstest.MapFS{"etc/strata/checks.yaml": one("/etc-one")}, "file /etc-one"},
		"usr wins": {fstest.MapFS{"usr/lib/strata/checks.yaml": one("/usr-one"), "etc/strata/checks.yaml": one("/etc-one")}, "file /usr-one"},
		"neither":  {fstest.MapFS{"etc/hostname": {Data: []byte("x")}}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			list, err := imageChecks(c.root)
			must(t, err)
			got := ""
			if len(list) == 1 {
				got = list[0].Assert.Describe()
			}
			if got != c.want || len(list) > 1 {
				t.Errorf("checks %v, want %q", list, c.want)
			}
		})
	}
}
