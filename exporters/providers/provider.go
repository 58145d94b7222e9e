// Package providers holds what each cloud or hypervisor imports: which of
// the formats it takes, the disk sizes it accepts, the guest configuration
// its images need, and the parameters its import commands want. Each
// provider is one small file of data; this file holds the shape they share
// and the checks made before anything is written.
package providers

import (
	"fmt"
	"slices"
	"strings"
)

// Provider is one import target (`--target aws`, `outputs: [aws]`).
type Provider struct {
	Name        string
	Description string
	// Formats are the formats (exporters/formats names) the provider
	// imports; the first is written unless the user picks another.
	Formats []string
	// BootMode is the firmware the image boots with; strata images are
	// UEFI-only.
	BootMode string
	// Sizes bound the virtual disk the provider accepts.
	Sizes SizeRule
	// Guest is the configuration its guests need in the image.
	Guest Guest
	// Import holds what the provider's import, register or create step
	// must be told about the image (API parameters, image properties, VM
	// settings), in the provider's own spelling; the manifest carries them
	// so a pipeline can pass them on without knowing the provider.
	Import map[string]any
	// Docs is the page that shows the import commands.
	Docs string
}

// SizeRule is what disk sizes a provider accepts.
type SizeRule struct {
	Min, Max int64 // bytes; 0 means unbounded
	// Unit, when set, is what the size must be a whole multiple of.
	Unit int64
	// Why explains the rule in the error message.
	Why string
}

// Guest is what a provider's guests need inside the image. The OS graph
// applies it only to builds for that provider, so the others keep their
// cache.
type Guest struct {
	// Datasources is cloud-init's datasource_list, in the order to try.
	Datasources []string `json:"cloud_init_datasources,omitempty"`
	// Cmdline holds kernel arguments the provider's console needs.
	Cmdline []string `json:"cmdline,omitempty"`
	// InitrdModules are drivers the provider's root disk or first network
	// boot depends on, so they must be in the initrd.
	InitrdModules []string `json:"initrd_modules,omitempty"`
}

// Empty says whether the guest needs nothing beyond the plain image.
func (g Guest) Empty() bool {
	return len(g.Datasources) == 0 && len(g.Cmdline) == 0 && len(g.InitrdModules) == 0
}

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// All lists the providers in the order the CLI shows them.
var All = []Provider{raw, qemu, aws, azure, gcp, vsphere, openstack}

// Names lists the provider names.
func Names() []string {
	names := make([]string, len(All))
	for i, p := range All {
		names[i] = p.Name
	}
	return names
}

// Lookup finds a provider by name.
func Lookup(name string) (Provider, error) {
	for _, p := range All {
		if p.Name == name {
			return p, nil
		}
	}
	return Provider{}, fmt.Errorf("unknown provider %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// Format picks the format to write: the provider's default for "", else
// one the provider imports.
func (p Provider) Format(name string) (string, error) {
	if name == "" {
		return p.Formats[0], nil
	}
	if !slices.Contains(p.Formats, name) {
		return "", fmt.Errorf("format %s does not apply to provider %s, which imports %s", name, p.Name, strings.Join(p.Formats, " or "))
	}
	return name, nil
}

// CheckSize reports whether the provider accepts a disk of size bytes,
// and if not, which size to use instead.
func (p Provider) CheckSize(size int64) error {
	r := p.Sizes
	switch {
	case r.Unit > 0 && size%r.Unit != 0:
		return fmt.Errorf("%s needs a disk size that is a multiple of %s (%s); %s is not: use %s",
			p.Name, human(r.Unit), r.Why, human(size), human((size+r.Unit-1)/r.Unit*r.Unit))
	case r.Min > 0 && size < r.Min:
		return fmt.Errorf("%s accepts disks of at least %s (%s); %s is too small", p.Name, human(r.Min), r.Why, human(size))
	case r.Max > 0 && size > r.Max:
		return fmt.Errorf("%s accepts disks of at most %s (%s); %s is too large", p.Name, human(r.Max), r.Why, human(size))
	}
	return nil
}

// human spells a size the way the spec's disk.size takes it.
func human(n int64) string {
	switch {
	case n%gib == 0:
		return fmt.Sprintf("%dGiB", n/gib)
	case n%mib == 0:
		return fmt.Sprintf("%dMiB", n/mib)
	}
	return fmt.Sprintf("%d bytes", n)
}
