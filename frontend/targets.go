package frontend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/strata-dev/strata/exporters/providers"
	"github.com/strata-dev/strata/layers/node"
	"github.com/strata-dev/strata/spec"
)

// target is one thing a build can produce (`--target NAME`).
type target struct {
	name        string
	description string
	state       func(node.Graph) (llb.State, error)
	// needsTools says whether the target runs strata and mke2fs, mksquashfs
	// or mkfs.erofs in the tools environment.
	needsTools func(*spec.Spec) bool
	// needsBase says whether the target contains the OS layer.
	needsBase bool
	// check, when set, says whether the spec can make this target.
	check func(*spec.Spec) error
}

func always(*spec.Spec) bool { return true }
func never(*spec.Spec) bool  { return false }

// whenSysext: with install: sysext the root filesystem carries a sysext
// image, which the tools pack.
func whenSysext(s *spec.Spec) bool {
	return s.Image.Kubernetes != nil && s.Image.Kubernetes.Install == "sysext"
}

// defaultTarget is what a build without --target produces when the spec
// lists no outputs: the thing users come for.
const defaultTarget = "disk"

var allTargets = []target{
	{name: "os", needsBase: true, description: "the OS layer as an OCI image", needsTools: never,
		state: func(g node.Graph) (llb.State, error) { return g.OS, nil },
		check: func(s *spec.Spec) error { return s.CheckBuildsOS("os") }},
	{name: "kubernetes", description: "the Kubernetes layer on its own, as an OCI image", needsTools: never,
		state: func(g node.Graph) (llb.State, error) {
			if g.Kubernetes == nil {
				return llb.State{}, errors.New("target kubernetes: the spec has no kubernetes section")
			}
			return *g.Kubernetes, nil
		}},
	{name: "kubernetes-sysext", description: "the Kubernetes layer's /usr and /opt as a systemd-sysext image, with SHA256SUMS", needsTools: always,
		state: func(g node.Graph) (llb.State, error) {
			if g.KubernetesSysext == nil {
				return llb.State{}, errors.New("target kubernetes-sysext: the spec has no kubernetes section")
			}
			return *g.KubernetesSysext, nil
		}},
	{name: "rootfs", needsBase: true, description: "the merged root filesystem tree", needsTools: whenSysext,
		state: func(g node.Graph) (llb.State, error) { return g.Rootfs, nil },
		check: func(s *spec.Spec) error { return s.CheckBuildsOS("rootfs") }},
	{name: "disk", needsBase: true, description: "a bootable GPT disk: " + node.DiskFile, needsTools: always,
		state: func(g node.Graph) (llb.State, error) { return g.Disk, nil }, check: checkDisk},
	{name: "validate", needsBase: true, needsTools: always, check: checkDisk,
		description: "the disk checked offline by strata inspect (its layers' and spec's checks, hygiene); fails the build on a failed check; " + node.ValidationReport,
		state:       func(g node.Graph) (llb.State, error) { return g.Validation, nil }},
}

func init() {
	for _, p := range providers.All {
		allTargets = append(allTargets, providerTarget(p))
	}
}

// providerTarget is a provider's image and manifest.json, as `strata
// convert --provider` writes them.
func providerTarget(p providers.Provider) target {
	return target{name: p.Name, needsBase: true, needsTools: always,
		description: p.Description + "; with manifest.json",
		state:       func(g node.Graph) (llb.State, error) { return g.Providers[p.Name], nil },
		check: func(s *spec.Spec) error {
			if err := s.CheckDisk(); err != nil {
				return err
			}
			return s.CheckProvider(p)
		},
	}
}

// checkDisk refuses what the disk assembler cannot do yet (GRUB) for the
// targets that assemble a disk; os and rootfs build regardless.
func checkDisk(s *spec.Spec) error { return s.CheckDisk() }

// outputsTarget builds every output the spec lists, each in a directory
// of its name; a build without --target makes it when the spec lists
// more than one.
func outputsTarget(outputs []string) target {
	check := func(s *spec.Spec) error {
		for _, name := range outputs {
			if t, err := lookupTarget(name); err == nil && t.check != nil {
				if err := t.check(s); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return target{name: "outputs", needsBase: true, needsTools: always, check: check,
		description: "every output the spec lists, each in a directory of its name: " + strings.Join(outputs, ", "),
		state: func(g node.Graph) (llb.State, error) {
			dirs := make([]llb.State, 0, len(outputs))
			for _, name := range outputs {
				t, err := lookupTarget(name)
				if err != nil {
					return llb.State{}, err
				}
				st, err := t.state(g)
				if err != nil {
					return llb.State{}, err
				}
				dirs = append(dirs, llb.Scratch().File(llb.Copy(st, "/", "/"+name+"/", &llb.CopyInfo{CopyDirContentsOnly: true, CreateDestPath: true}),
					llb.WithCustomName("[outputs] place "+name+"/")))
			}
			return llb.Merge(dirs, llb.WithCustomName("[outputs] "+strings.Join(outputs, ", "))), nil
		}}
}

// targetFor picks what to build: the --target, or the spec's outputs, or
// the disk.
func targetFor(name string, s *spec.Spec) (target, error) {
	outputs := s.Image.Outputs
	switch {
	case name != "":
		return lookupTarget(name)
	case len(outputs) == 1:
		return lookupTarget(outputs[0])
	case len(outputs) > 1:
		return outputsTarget(outputs), nil
	}
	return lookupTarget(defaultTarget)
}

func lookupTarget(name string) (target, error) {
	if name == "" {
		name = defaultTarget
	}
	names := make([]string, 0, len(allTargets))
	for _, t := range allTargets {
		if t.name == name {
			return t, nil
		}
		names = append(names, t.name)
	}
	return target{}, fmt.Errorf("unknown target %q: strata builds %s", name, strings.Join(names, ", "))
}

// listTargets answers `--call targets`.
func listTargets(context.Context) (*targets.List, error) {
	list := &targets.List{}
	for _, t := range allTargets {
		list.Targets = append(list.Targets, targets.Target{
			Name:        t.name,
			Description: t.description,
			Default:     t.name == defaultTarget,
		})
	}
	return list, nil
}
