package kubernetes

import (
	"fmt"
	"strings"

	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/layers/sysext"
	"github.com/strata-dev/strata/spec"
)

// ChecksSource is the Source of the checks the layer asks for.
const ChecksSource = "kubernetes layer"

// archiveExecutables are the executables of each release archive a node
// relies on, relative to the directory the archive is unpacked into:
// containerd with the shim its runc runtime type starts and the ctr the
// image import runs, crictl, and the CNI plugins a basic pod network
// (bridge with host-local IPAM, loopback for every pod, portmap for
// hostPort) uses. Archives hold more; these must be there.
var archiveExecutables = map[string][]string{
	"containerd": {"bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr"},
	"crictl":     {"crictl"},
	"cni":        {"bridge", "host-local", "loopback", "portmap"},
}

// wantsDir is where configure enables the layer's units.
const wantsDir = "/etc/systemd/system/multi-user.target.wants/"

// unitDir is where the layer's unit files live, in the payload.
const unitDir = "/usr/lib/systemd/system/"

// Checks are what an image with this layer must hold, worked out from k
// and the distro's sysext layout alone: its units enabled and swap masked, its binaries (or with install:
// sysext its system extension) and image tarballs in place, the pinned
// version in the provenance files, containerd's config pinning the sandbox
// image, its sysctls and modules in effect at boot, and the cloud-init
// ordering of its bootstrap. Binaries are not run: the version comes from
// the files the build writes beside them.
func Checks(k *spec.Kubernetes, layout sysext.Layout) []checks.Check {
	var as []checks.Assertion
	add := func(a ...checks.Assertion) { as = append(as, a...) }
	inSysext := k.Install == "sysext"

	for _, unit := range units(k) {
		if inSysext {
			// The unit file is in the extension, which an offline check
			// cannot open; the enablement link is in the root filesystem.
			add(checks.File{Path: wantsDir + unit, Target: ptr(unitDir + unit)})
		} else {
			add(checks.Service{Unit: unit})
		}
	}
	// kubeadm's preflight refuses swap; configure masks its target.
	add(checks.Service{Unit: "swap.target", State: []string{"masked"}})

	if inSysext {
		e := Extension(k, layout)
		add(checks.File{Path: e.StorePath(), Type: "file"},
			checks.File{Path: e.MergedPath(), Target: ptr(e.StorePath())},
			checks.Service{Unit: "systemd-sysext.service"})
		if e.ReloadUnit() {
			add(checks.Service{Unit: sysext.ReloadUnit})
		}
		if u := k.SysextImage().Updates; u != "" {
			add(checks.File{Path: sysext.TransferPath(e), Mode: "0644", Equals: ptr(sysext.Transfer(e, u))})
		}
	} else {
		for _, a := range Artifacts(k) {
			switch {
			case a.install.binary != "":
				add(executable(a.install.binary))
			case a.install.unpackTo != "":
				for _, member := range archiveExecutables[a.Name] {
					add(executable(a.install.unpackTo + "/" + member))
				}
			case a.install.image != "":
				add(checks.File{Path: a.install.image, Type: "file", Mode: "0644", Owner: "0"})
			}
		}
		if len(k.Images) > 0 {
			add(checks.File{Path: importScript, Type: "file", Mode: "0755"})
		}
	}

	// Provenance: the version the layer was built for, as the build wrote
	// it down (layers/node writes /etc/strata-release).
	add(checks.File{Path: "/etc/kubernetes-version", Equals: ptr(k.Version + "\n")},
		checks.File{Path: "/etc/strata-release", Contains: []string{"KUBERNETES_VERSION=" + k.Version + "\n"}})

	if pin := sandboxPin(k); pin != "" {
		add(checks.File{Path: "/etc/containerd/config.toml", Contains: []string{pin, "SystemdCgroup = true"}})
	}
	for _, kv := range settings(sysctls, "=") {
		add(checks.Sysctl{Key: kv[0], Value: kv[1]})
	}
	for _, m := range settings(modulesLoad, "") {
		add(checks.Module{Name: m[0]})
	}
	for _, f := range bootstrapFiles(k) {
		add(checks.File{Path: f.Path, Mode: f.Mode, Equals: ptr(f.Content)})
	}

	list := make([]checks.Check, len(as))
	for i, a := range as {
		list[i] = checks.Check{Source: ChecksSource, Assert: a}
	}
	return list
}

// Extension is the system extension install: sysext puts on the disk:
// named kubernetes, versioned by the release it carries.
func Extension(k *spec.Kubernetes, layout sysext.Layout) sysext.Extension {
	return sysext.Extension{Name: "kubernetes", Version: k.Version, Format: k.SysextImage().Format, Layout: layout}
}

// executable is a binary as the layer installs it: a regular file of
// root's, mode 0755.
func executable(p string) checks.File {
	return checks.File{Path: p, Type: "file", Mode: "0755", Owner: "0"}
}

// sandboxPin is the line of containerd's config that pins the sandbox
// image, in the config schema of k's containerd (sandbox_image for 1.x,
// sandbox for 2.x): read from the config the layer writes, so the two
// cannot drift. Empty for a containerd with no known schema, which spec
// validation refuses.
func sandboxPin(k *spec.Kubernetes) string {
	cfg, err := containerdConfig(k.Containerd, k.SandboxImage)
	if err != nil {
		return ""
	}
	value := fmt.Sprintf("%q", k.SandboxImage)
	for _, line := range strings.Split(cfg, "\n") {
		if line = strings.TrimSpace(line); strings.HasSuffix(line, " = "+value) {
			return line
		}
	}
	return ""
}

// settings splits a configuration file of the layer into its lines'
// fields: "key = value" at sep, or one word per line for an empty sep.
// Comments and blank lines are skipped.
func settings(file, sep string) [][]string {
	var out [][]string
	for _, line := range strings.Split(file, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if sep == "" {
			out = append(out, []string{line})
			continue
		}
		k, v, _ := strings.Cut(line, sep)
		out = append(out, []string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out
}

func ptr(s string) *string { return &s }
