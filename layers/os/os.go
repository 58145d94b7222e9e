// Package oslayer (directory layers/os) compiles the spec's os section into the
// OS graph: base image, kernel and boot packages, the user's packages and
// configuration, and sysprep. It is pure: spec in, llb.State out, no gateway.
//
// The graph depends on nothing but the os section and the distro, so a change
// anywhere else in the spec (disk size, kubernetes version) leaves its digest,
// and therefore BuildKit's cache for it, untouched.
package oslayer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/llb/files"
	"github.com/strata-dev/strata/llb/packages"
	"github.com/strata-dev/strata/spec"
)

// Locator maps a spec field path ("os.packages") to the LLB constraint that
// tags a step with that field's YAML location, so a failing step points at
// the line that caused it. A nil Locator tags nothing.
type Locator func(field string) llb.ConstraintsOpt

// Input is everything the OS graph is made from.
type Input struct {
	Base   llb.State // the base image's root filesystem
	OS     spec.OS   // after defaults and overrides
	Distro overlays.Distro
	// KubernetesNode adds the distro's Kubernetes prerequisites. It is a
	// flag, not the kubernetes section, so Kubernetes versions never reach
	// this graph.
	KubernetesNode bool
	// Bootstrap is kubernetes.bootstrap; "" or "none" installs nothing.
	Bootstrap string
	// Epoch is SOURCE_DATE_EPOCH for every step: with it mkinitramfs
	// writes a reproducible initrd, useradd dates passwords by it, and
	// maintainer scripts stamp nothing with the day of the build.
	Epoch  time.Time
	Locate Locator
}

// step is one vertex of the OS graph before numbering.
type step struct {
	name  string
	field string
	apply func(st llb.State, opts ...llb.ConstraintsOpt) llb.State
}

// Build returns the OS graph.
func Build(in Input) (llb.State, error) {
	steps, err := plan(in)
	if err != nil {
		return llb.State{}, err
	}
	st := in.Base
	if !in.Epoch.IsZero() {
		// On the state, not on each step: the guest steps that later
		// rebuild the initrd on top of this graph inherit it.
		st = st.AddEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(in.Epoch.Unix(), 10))
	}
	for i, s := range steps {
		opts := []llb.ConstraintsOpt{llb.WithCustomName(fmt.Sprintf("[os %d/%d] %s", i+1, len(steps), s.name))}
		if in.Locate != nil && s.field != "" {
			if loc := in.Locate(s.field); loc != nil {
				opts = append(opts, loc)
			}
		}
		st = s.apply(st, opts...)
	}
	return st, nil
}

// plan lists the steps in the order that keeps the expensive ones cached
// longest: boot packages change least often, run steps most often.
func plan(in Input) ([]step, error) {
	family, err := packages.Lookup(in.Distro.Family)
	if err != nil {
		return nil, fmt.Errorf("distro %q: %w", in.Distro.Defaults.Name, err)
	}
	if id := in.OS.PackageSecret; id != "" {
		if family, err = family.WithAuthSecret(id); err != nil {
			return nil, fmt.Errorf("os.packageSecret: distro %q: %w; remove os.packageSecret", in.Distro.Defaults.Name, err)
		}
	}
	cacheNS := in.Distro.Defaults.Name
	bootPkgs := append([]string{in.OS.Kernel}, in.Distro.BootPackages...)

	steps := []step{{
		name:  "install kernel and boot packages: " + strings.Join(bootPkgs, " "),
		field: "os.kernel",
		apply: func(st llb.State, o ...llb.ConstraintsOpt) llb.State {
			return family.Install(st, bootPkgs, cacheNS, o...)
		},
	}}
	if len(in.OS.Packages) > 0 {
		steps = append(steps, step{
			name:  "install packages: " + strings.Join(in.OS.Packages, " "),
			field: "os.packages",
			apply: func(st llb.State, o ...llb.ConstraintsOpt) llb.State {
				return family.Install(st, in.OS.Packages, cacheNS, o...)
			},
		})
	}
	if in.KubernetesNode && len(in.Distro.KubernetesPackages) > 0 {
		nodePkgs := in.Distro.KubernetesPackages
		steps = append(steps, step{
			name:  "install Kubernetes node prerequisites: " + strings.Join(nodePkgs, " "),
			field: "kubernetes",
			apply: func(st llb.State, o ...llb.ConstraintsOpt) llb.State {
				return family.Install(st, nodePkgs, cacheNS, o...)
			},
		})
	}
	if in.KubernetesNode && in.Bootstrap != "" && in.Bootstrap != "none" {
		b, ok := in.Distro.Bootstraps[in.Bootstrap]
		if !ok {
			return nil, fmt.Errorf("distro %q has no %s bootstrap; set kubernetes.bootstrap: none", in.Distro.Defaults.Name, in.Bootstrap)
		}
		steps = append(steps, step{
			name:  "install bootstrap " + in.Bootstrap + ": " + strings.Join(b.Packages, " "),
			field: "kubernetes.bootstrap",
			apply: func(st llb.State, o ...llb.ConstraintsOpt) llb.State {
				return files.Write(family.Install(st, b.Packages, cacheNS, o...), b.Files, o...)
			},
		})
	}
	if written := configFiles(in.OS); len(written) > 0 {
		steps = append(steps, step{
			name:  "write files: " + filePaths(written),
			field: "os.files",
			apply: func(st llb.State, o ...llb.ConstraintsOpt) llb.State {
				return files.Write(st, written, o...)
			},
		})
	}
	if units := append(append([]string{}, in.Distro.Services...), in.OS.Services.Enable...); len(units) > 0 || len(in.OS.Services.Disable) > 0 {
		steps = append(steps, step{
			name:  "configure services",
			field: "os.services",
			apply: func(st llb.State, o ...llb.ConstraintsOpt) llb.State {
				return shell(st, servicesScript(units, in.OS.Services.Disable), o...)
			},
		})
	}
	for i, cmd := range in.OS.Run {
		steps = append(steps, step{
			name:  "run: " + cmd,
			field: fmt.Sprintf("os.run[%d]", i),
			apply: func(st llb.State, o ...llb.ConstraintsOpt) llb.State {
				return shell(st, cmd, o...)
			},
		})
	}
	steps = append(steps, step{
		name:  "sysprep",
		apply: func(st llb.State, o ...llb.ConstraintsOpt) llb.State { return shell(st, sysprepScript, o...) },
	})
	return steps, nil
}

// configFiles gathers the files the spec asks for, plus the ones generated
// from sysctl and modules, into one write step: they are cheap, and one
// FileOp keeps the graph short.
func configFiles(o spec.OS) []spec.File {
	files := append([]spec.File{}, o.Files...)
	if len(o.Sysctl) > 0 {
		keys := make([]string, 0, len(o.Sysctl))
		for k := range o.Sysctl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("# written by strata from os.sysctl\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "%s = %s\n", k, o.Sysctl[k])
		}
		files = append(files, spec.File{Path: "/etc/sysctl.d/90-strata.conf", Mode: "0644", Content: b.String()})
	}
	if len(o.Modules) > 0 {
		files = append(files, spec.File{Path: "/etc/modules-load.d/strata.conf", Mode: "0644",
			Content: "# written by strata from os.modules\n" + strings.Join(o.Modules, "\n") + "\n"})
	}
	return files
}

func filePaths(files []spec.File) string {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	return strings.Join(paths, " ")
}

func shell(st llb.State, script string, opts ...llb.ConstraintsOpt) llb.State {
	runOpts := []llb.RunOption{llb.Args([]string{"/bin/sh", "-c", script})}
	for _, o := range opts {
		runOpts = append(runOpts, o)
	}
	return st.Run(runOpts...).Root()
}

// servicesScript uses systemctl's offline mode: without a running systemd it
// only creates and removes the [Install] symlinks, which is all a disk needs.
func servicesScript(enable, disable []string) string {
	var b strings.Builder
	b.WriteString("set -eu\n")
	if len(enable) > 0 {
		b.WriteString("systemctl enable " + strings.Join(enable, " ") + "\n")
	}
	if len(disable) > 0 {
		b.WriteString("systemctl disable " + strings.Join(disable, " ") + "\n")
	}
	return b.String()
}

// sysprepScript makes the image generic: every VM made from it gets its own
// machine-id and SSH host keys on first boot, cloud-init sees its first boot
// as one, and the image carries no package lists, build-time logs or shell
// history. Caches that record the build rather than the image go too, and
// are made anew on the node: ldconfig's aux-cache (the inode numbers and
// change times of the build's files) and man-db's index (its times). So
// does systemd's random seed, which every VM from the image would share.
const sysprepScript = `set -eu
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
rm -f /var/cache/ldconfig/aux-cache /var/lib/systemd/random-seed
rm -rf /var/cache/man/*
find /var/log -type f -exec truncate -s 0 {} +
rm -rf /tmp/* /var/tmp/*
rm -rf /var/lib/cloud/*
rm -f /root/.bash_history /root/.zsh_history /root/.ash_history /home/*/.bash_history /home/*/.zsh_history /home/*/.ash_history
`

// Files is the OS layer of an image whose base is a vendor's disk
// (os.baseDisk): nothing runs inside the vendor's OS, so only what the
// spec writes as files is layered onto it, os.files, os.sysctl and
// os.modules, with the files the bootstrap needs beside its packages,
// which the vendor's disk must bring.
func Files(in Input) llb.State {
	written := configFiles(in.OS)
	if in.KubernetesNode && in.Bootstrap != "" && in.Bootstrap != "none" {
		written = append(written, in.Distro.Bootstraps[in.Bootstrap].Files...)
	}
	name := "[os] no files"
	if len(written) > 0 {
		name = "[os] write files: " + filePaths(written)
	}
	opts := []llb.ConstraintsOpt{llb.WithCustomName(name)}
	if in.Locate != nil {
		if loc := in.Locate("os.baseDisk"); loc != nil {
			opts = append(opts, loc)
		}
	}
	return files.Write(files.Root(), written, opts...)
}
