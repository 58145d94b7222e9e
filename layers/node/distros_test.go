package node

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/layers/overlays"
)

// TestDistroGolden: each testdata/distros/NAME.yaml is a Kubernetes node
// of distro NAME, and its OS and overlay graphs must match NAME-os.golden
// and NAME-overlay.golden (go test ./layers/node -update writes them).
// Every registered distro but Debian, whose goldens are TestGolden's,
// must have one: adding a distro is its overlay file plus this spec.
func TestDistroGolden(t *testing.T) {
	specs, err := filepath.Glob("testdata/distros/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var covered []string
	for _, path := range specs {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		covered = append(covered, name)
		t.Run(name, func(t *testing.T) {
			sp := loadSpecFile(t, path, nil)
			if sp.Image.OS.Distro != name {
				t.Fatalf("%s builds distro %q, not %q", path, sp.Image.OS.Distro, name)
			}
			g := buildGraph(t, sp)
			graphs := map[string]string{"os": dumpGraph(t, g.OS), "overlay": dumpGraph(t, g.Overlay)}
			if sp.Image.OS.BaseDisk != nil {
				// The OS is the vendor's: what is added to it is the graph.
				graphs["disk"] = dumpGraph(t, g.Disk)
			}
			for layer, got := range graphs {
				compareGolden(t, filepath.Join("testdata", "distros", name+"-"+layer+".golden"), got)
			}
			if d, _ := overlays.Lookup(name); d.Defaults.ReadOnlyUsr {
				for p := range treeOf(t, g.Rootfs) {
					if p == "usr" || strings.HasPrefix(p, "usr/") {
						t.Errorf("a layer of distro %s, whose /usr is read-only, writes /%s", name, p)
					}
				}
			}
		})
	}
	for _, name := range overlays.Names() {
		if name != "debian" && !slices.Contains(covered, name) {
			t.Errorf("distro %s has no golden spec testdata/distros/%s.yaml", name, name)
		}
	}
}

// TestDistrosDocumented: docs/distros.md has a table row for every
// registered distro.
func TestDistrosDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/distros.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range overlays.Names() {
		if !strings.Contains(string(doc), "\n| `"+name+"`") {
			t.Errorf("docs/distros.md has no table row for distro %s", name)
		}
	}
}
