// Package guest applies a provider's guest configuration to the OS graph:
// the cloud-init datasources to try, and the drivers the provider's disks
// and network need in the initrd. It is applied only in the graph of that
// provider's target, on top of the OS layer, so the OS layer and every
// other provider's build keep their cache. Like the layer packages it is
// pure: provider facts in, llb.State out.
package guest

import (
	"fmt"
	"path"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/strata-dev/strata/exporters/providers"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/llb/files"
	"github.com/strata-dev/strata/spec"
)

// Apply returns os with p's guest configuration. The step fails the build
// when an installed kernel lacks a module the provider needs, rather than
// leave an image that cannot find its disk.
func Apply(os llb.State, p providers.Provider, d overlays.Distro, opts ...llb.ConstraintsOpt) llb.State {
	g := p.Guest
	var script strings.Builder
	script.WriteString("set -eu\n")
	if f, ok := DatasourceFile(p); ok {
		// cloud-init reads this only if the spec installs it; without
		// cloud-init the file is inert.
		fmt.Fprintf(&script, "mkdir -p %s\nprintf '%%s\\n' '%s' > %s\n", path.Dir(f.Path), strings.TrimSuffix(f.Content, "\n"), f.Path)
	}
	if mods := strings.Join(g.InitrdModules, " "); mods != "" {
		fmt.Fprintf(&script, `for dir in /lib/modules/*/; do
  [ -d "$dir" ] || { echo "provider %s needs kernel modules in the initrd, and the image has no kernel" >&2; exit 1; }
  kver=$(basename "$dir")
  for m in %s; do
    modinfo -k "$kver" "$m" >/dev/null 2>&1 || {
      echo "provider %s needs the kernel module $m in the initrd, and kernel $kver has no such module: set os.kernel to a kernel that has it" >&2
      exit 1
    }
  done
done
printf '%s\n' %s >> %s
%s
`, p.Name, mods, p.Name, d.Initrd.ModuleLine(), mods, d.Initrd.ModulesFile, d.Initrd.Rebuild)
	}
	runOpts := []llb.RunOption{
		llb.Args([]string{"/bin/sh", "-c", script.String()}),
		llb.Network(pb.NetMode_NONE),
		llb.WithCustomName(fmt.Sprintf("[%s guest] %s", p.Name, summary(g))),
	}
	for _, o := range opts {
		runOpts = append(runOpts, o)
	}
	return os.Run(runOpts...).Root()
}

// DatasourceFile is the cloud-init configuration naming p's datasources,
// if p has any.
func DatasourceFile(p providers.Provider) (spec.File, bool) {
	if len(p.Guest.Datasources) == 0 {
		return spec.File{}, false
	}
	return spec.File{Path: "/etc/cloud/cloud.cfg.d/90-strata-" + p.Name + ".cfg", Mode: "0644",
		Content: "datasource_list: [ " + strings.Join(p.Guest.Datasources, ", ") + " ]\n"}, true
}

// Datasources is p's guest configuration that is files alone, for an OS
// that never runs during the build (os.baseDisk): the datasource list.
// The kernel arguments and initrd drivers need the OS's own boot loader
// configuration and initrd rebuilt, which a vendor's disk keeps.
func Datasources(p providers.Provider, opts ...llb.ConstraintsOpt) (llb.State, bool) {
	f, ok := DatasourceFile(p)
	if !ok {
		return llb.State{}, false
	}
	opts = append([]llb.ConstraintsOpt{llb.WithCustomName(fmt.Sprintf("[%s guest] write %s", p.Name, f.Path))}, opts...)
	return files.Write(files.Root(), []spec.File{f}, opts...), true
}

func summary(g providers.Guest) string {
	var parts []string
	if len(g.Datasources) > 0 {
		parts = append(parts, "cloud-init datasources "+strings.Join(g.Datasources, ", "))
	}
	if len(g.InitrdModules) > 0 {
		parts = append(parts, "initrd modules "+strings.Join(g.InitrdModules, " "))
	}
	return strings.Join(parts, "; ")
}

// Cmdline adds the provider's kernel arguments to base, skipping those
// base already sets, so the user's own choice wins. A kernel takes several
// consoles, so for console= the device is what must match (console=ttyS0
// covers console=ttyS0,115200n8 but not console=tty0).
func Cmdline(base string, add []string) string {
	args := strings.Fields(base)
	for _, a := range add {
		if !covered(args, a) {
			args = append(args, a)
		}
	}
	return strings.Join(args, " ")
}

func covered(args []string, a string) bool {
	key := func(s string) string {
		name, value, _ := strings.Cut(s, "=")
		if name == "console" {
			device, _, _ := strings.Cut(value, ",")
			return name + "=" + device
		}
		return name
	}
	for _, b := range args {
		if key(b) == key(a) {
			return true
		}
	}
	return false
}
