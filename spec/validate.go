package spec

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/strata-dev/strata/exporters/formats"
	"github.com/strata-dev/strata/exporters/providers"
)

// Validate checks what Parse cannot: values, required fields and rules
// across fields. It expects ApplyDefaults to have run, and reports every
// problem at once, in document order, as an *Error or an ErrorList. A
// kubernetes section is checked but not refused: whether it can be built
// is the frontend's call.
func (s *Spec) Validate(distros map[string]Distro) error {
	v := &validator{spec: s, problems: &problems{file: s.File}}
	img := &s.Image
	v.header(img)
	v.os(&img.OS, distros)
	if img.Kubernetes != nil {
		v.kubernetes(img.Kubernetes)
		k, d := img.Kubernetes, distros[img.OS.Distro]
		if d.ReadOnlyUsr && k.Install != "sysext" {
			v.fail("kubernetes.install", "%s is not possible on %s, whose /usr is a read-only partition of its own; use sysext", k.Install, d.Name)
		}
		if d.Bootstraps != nil && k.Bootstrap != "none" && !slices.Contains(d.Bootstraps, k.Bootstrap) {
			v.fail("kubernetes.bootstrap", "distro %s has no %s bootstrap; use one of: %s, none", d.Name, k.Bootstrap, strings.Join(d.Bootstraps, ", "))
		}
	}
	v.disk(&img.Disk)
	v.outputs(img.Outputs)
	v.providers(img.Providers)
	v.sortByPos()
	return v.err()
}

// validator reports problems at the position of the field, and blames the
// build arg when one set the field.
type validator struct {
	spec *Spec
	*problems
}

func (v *validator) fail(field, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if arg, ok := v.spec.overriddenBy(field); ok {
		msg += " (set by build arg " + arg + ")"
	}
	v.add(v.spec.locate(field), field, "%s", msg)
}

var (
	namePattern    = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	packagePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+_:=~-]*$`)
	sysctlPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]*$`)
	modulePattern  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	unitPattern    = regexp.MustCompile(`^[A-Za-z0-9_:@\\][A-Za-z0-9_:@\\.-]*$`)
	modePattern    = regexp.MustCompile(`^[0-7]{3,4}$`)
	k8sVersion     = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)
	plainVersion   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
)

// imageRefPattern follows the OCI distribution grammar closely enough to
// catch typos: [domain[:port]/]path[:tag][@digest].
var imageRefPattern = func() *regexp.Regexp {
	const (
		domainPart = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		domain     = domainPart + `(?:\.` + domainPart + `)*(?::[0-9]+)?`
		component  = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
		tag        = `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
		digest     = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	)
	return regexp.MustCompile(`^(?:` + domain + `/)?` + component + `(?:/` + component + `)*(?::` + tag + `)?(?:@` + digest + `)?$`)
}()

const maxNameLen = 63

func (v *validator) header(img *NodeImage) {
	switch img.APIVersion {
	case APIVersion:
	case "":
		v.fail("apiVersion", "required; set it to %s", APIVersion)
	default:
		v.fail("apiVersion", "unsupported apiVersion %q; use %s", img.APIVersion, APIVersion)
	}
	switch img.Kind {
	case Kind:
	case "":
		v.fail("kind", "required; set it to %s", Kind)
	default:
		v.fail("kind", "unsupported kind %q; use %s", img.Kind, Kind)
	}
	switch {
	case img.Name == "":
		v.fail("name", "required; set a name such as debian-12-k8s")
	case len(img.Name) > maxNameLen || !namePattern.MatchString(img.Name):
		v.fail("name", "invalid name %q; use up to %d lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", img.Name, maxNameLen)
	}
}

func (v *validator) os(o *OS, distros map[string]Distro) {
	if o.Base != "" && !imageRefPattern.MatchString(o.Base) {
		v.fail("os.base", "invalid image reference %q; use a reference such as docker.io/library/debian:bookworm, or leave os.base out to use the build context os-base", o.Base)
	}
	d, known := distros[o.Distro]
	switch {
	case !known:
		v.fail("os.distro", "unknown distro %q; known: %s", o.Distro, knownDistros(distros))
	case d.VendorDiskOnly && o.BaseDisk == nil:
		v.fail("os.distro", "distro %s is installed from its vendor's disk image only: set os.baseDisk to the image (docs/distros.md)", o.Distro)
	}
	switch {
	case o.BaseDisk != nil || d.VendorDiskOnly:
		// The kernel is the vendor disk's own (see baseDisk).
	case o.Kernel == "" && known:
		v.fail("os.kernel", "required: distro %q has no default kernel; name the kernel package", o.Distro)
	case o.Kernel != "" && !packagePattern.MatchString(o.Kernel):
		v.fail("os.kernel", "invalid package name %q; use a package name such as linux-image-amd64", o.Kernel)
	}
	v.packages(o.Packages)
	v.secretID("os.packageSecret", o.PackageSecret)
	v.files(o.Files)
	v.sysctl(o.Sysctl)
	for i, m := range o.Modules {
		if !modulePattern.MatchString(m) {
			v.fail(index("os.modules", i), "invalid module name %q; use a kernel module name such as br_netfilter (letters, digits, '_' and '-')", m)
		}
	}
	v.services(&o.Services)
	if o.BaseDisk != nil {
		v.baseDisk(o)
	}
	for i, cmd := range o.Run {
		if strings.TrimSpace(cmd) == "" {
			v.fail(index("os.run", i), "empty command; remove the entry or give a shell command")
		}
	}
}

func knownDistros(distros map[string]Distro) string {
	if len(distros) == 0 {
		return "none (no distro overlays are registered)"
	}
	names := make([]string, 0, len(distros))
	for name := range distros {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (v *validator) packages(pkgs []string) {
	first := map[string]int{}
	for i, p := range pkgs {
		field := index("os.packages", i)
		if !packagePattern.MatchString(p) {
			v.fail(field, "invalid package name %q; use a name such as openssh-server, without spaces and not starting with '-'", p)
			continue
		}
		if j, dup := first[p]; dup {
			v.fail(field, "duplicate package %q, already listed as %s; list each package once", p, index("os.packages", j))
			continue
		}
		first[p] = i
	}
}

func (v *validator) files(files []File) {
	first := map[string]int{}
	for i, f := range files {
		field := index("os.files", i)
		switch {
		case f.Path == "":
			v.fail(field+".path", "required; set an absolute path such as /etc/motd")
		case !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/":
			v.fail(field+".path", "invalid path %q; use an absolute, clean path to a file, such as /etc/motd", f.Path)
		default:
			if j, dup := first[f.Path]; dup {
				v.fail(field+".path", "duplicate path %q, already written by %s; write each file once", f.Path, index("os.files", j))
			} else {
				first[f.Path] = i
			}
		}
		if !modePattern.MatchString(f.Mode) {
			v.fail(field+".mode", "invalid mode %q; use an octal string from 0000 to 7777, such as \"0644\"", f.Mode)
		}
	}
}

func (v *validator) sysctl(sysctl map[string]string) {
	// Sorted so that problems sharing a position keep a stable order.
	keys := make([]string, 0, len(sysctl))
	for key := range sysctl {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		value := sysctl[key]
		field := "os.sysctl." + key
		if !sysctlPattern.MatchString(key) || strings.Contains(key, "..") {
			v.fail(field, "invalid sysctl name %q; use a name such as net.ipv4.ip_forward (letters, digits, '.', '_', '-' and '/')", key)
		}
		switch {
		case value == "":
			v.fail(field, "empty value; give a value such as \"1\"")
		case strings.ContainsAny(value, "\r\n"):
			v.fail(field, "value must be a single line")
		}
	}
}

// unitTypes are the systemd unit suffixes; a name without one is a
// service.
var unitTypes = []string{"service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope"}

func (v *validator) services(svc *Services) {
	enabled := map[string]int{}
	check := func(list string, units []string) {
		for i, u := range units {
			field := index("os.services."+list, i)
			if !unitPattern.MatchString(u) {
				v.fail(field, "invalid unit name %q; use a systemd unit such as chrony or apt-daily.timer", u)
				continue
			}
			unit, ok := unitName(u)
			if !ok {
				v.fail(field, "unknown unit type in %q; use a suffix .%s, or none for a service", u, strings.Join(unitTypes, ", ."))
				continue
			}
			if list == "enable" {
				enabled[unit] = i
			} else if j, both := enabled[unit]; both {
				v.fail(field, "unit %q is also in %s; keep it in one list", u, index("os.services.enable", j))
			}
		}
	}
	check("enable", svc.Enable)
	check("disable", svc.Disable)
}

// unitName returns the full unit name, adding .service when there is no
// suffix, and reports whether the suffix is a unit type.
func unitName(u string) (string, bool) {
	i := strings.LastIndex(u, ".")
	if i < 0 {
		return u + ".service", true
	}
	for _, t := range unitTypes {
		if u[i+1:] == t {
			return u, true
		}
	}
	return "", false
}

// componentVersions are the pinned Kubernetes companions; each has an
// example so that errors show a realistic value.
var componentVersions = []struct {
	field   string
	get     func(*Kubernetes) string
	example string
}{
	{"containerd", func(k *Kubernetes) string { return k.Containerd }, "1.7.22"},
	{"runc", func(k *Kubernetes) string { return k.Runc }, "1.1.14"},
	{"crictl", func(k *Kubernetes) string { return k.Crictl }, "1.31.1"},
	{"cni", func(k *Kubernetes) string { return k.CNI }, "1.5.1"},
}

func (v *validator) kubernetes(k *Kubernetes) {
	switch {
	case k.Version == "":
		v.fail("kubernetes.version", "required; set a release such as v1.31.2")
	case !k8sVersion.MatchString(k.Version):
		msg := fmt.Sprintf("invalid version %q; use vMAJOR.MINOR.PATCH, e.g. v1.31.2", k.Version)
		if plainVersion.MatchString(k.Version) {
			msg += fmt.Sprintf(" (did you mean %q?)", "v"+k.Version)
		}
		v.fail("kubernetes.version", "%s", msg)
	}
	for _, c := range componentVersions {
		switch ver := c.get(k); {
		case ver == "":
			// Pinned versions are the point: no floating "latest" default.
			v.fail("kubernetes."+c.field, "required; pin the %s release, e.g. %s", c.field, c.example)
		case !plainVersion.MatchString(ver):
			v.fail("kubernetes."+c.field, "invalid version %q; use MAJOR.MINOR.PATCH without a leading v, e.g. %s", ver, c.example)
		}
	}
	if major, _, _ := strings.Cut(k.Containerd, "."); plainVersion.MatchString(k.Containerd) && major != "1" && major != "2" {
		v.fail("kubernetes.containerd", "containerd %s: strata knows the config schema of containerd 1.x (version 2) and 2.x (version 3) only; use a 1.x or 2.x release", k.Containerd)
	}
	if k.Artifacts != nil {
		v.artifacts(k.Artifacts)
	}
	v.images(k.Images)
	if k.Source != "" {
		u, err := url.Parse(k.Source)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail("kubernetes.source", "invalid URL %q; use an http:// or https:// URL such as https://dl.k8s.io", k.Source)
		}
	}
	v.sourceSecret(k)
	v.choice("kubernetes.install", "install mode", k.Install, installModes)
	v.choice("kubernetes.bootstrap", "bootstrap", k.Bootstrap, bootstraps)
	if k.Sysext != nil {
		v.sysext(k.Sysext, k.Install)
	}
	if k.SandboxImage == "" && k8sVersion.MatchString(k.Version) {
		first, last := knownSandboxMinors()
		v.fail("kubernetes.version", "strata does not know which pause image kubeadm %s uses (it knows v1.%d to v1.%d); set kubernetes.sandboxImage to the pause image `kubeadm config images list` prints", k.Version, first, last)
	}
	if k.SandboxImage != "" && !imageRefPattern.MatchString(k.SandboxImage) {
		v.fail("kubernetes.sandboxImage", "invalid image reference %q; use a reference such as registry.k8s.io/pause:3.10", k.SandboxImage)
	}
}

func (v *validator) sysext(s *Sysext, install string) {
	if s.Format != "" {
		v.choice("kubernetes.sysext.format", "sysext format", s.Format, sysextFormats)
	}
	if s.Updates == "" {
		return
	}
	if u, err := url.Parse(s.Updates); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail("kubernetes.sysext.updates", "invalid URL %q; use the http:// or https:// directory that serves the sysext images and their SHA256SUMS", s.Updates)
	} else if install != "sysext" {
		// The transfer file would update an image the disk does not have.
		v.fail("kubernetes.sysext.updates", "only applies with install: sysext; set kubernetes.install: sysext or drop updates")
	}
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (v *validator) artifacts(a *Artifacts) {
	for _, f := range a.named() {
		field := "kubernetes.artifacts." + f.name
		if u := f.art.URL; u != "" {
			parsed, err := url.Parse(u)
			if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
				v.fail(field+".url", "invalid URL %q; use an http:// or https:// URL", u)
			}
		}
		if h := f.art.SHA256; h != "" && !sha256Hex.MatchString(h) {
			v.fail(field+".sha256", "invalid sha256 %q; use the 64 lowercase hex digits (as sha256sum prints them)", h)
		}
	}
}

// choice is one recognised value of an enumerated field. Recognised but
// unsupported values get a "not supported yet" error instead of "unknown"
// so users know the option is planned, not misspelt.
type choice struct {
	value     string
	supported bool
	// pending, for an unsupported value, says what is missing, in place
	// of "is not supported yet".
	pending string
}

var (
	bootModes = []choice{{"uefi", true, ""}, {"bios", false, ""}, {"hybrid", false, ""}}
	// Validate takes both bootloaders, since only a disk depends on one:
	// the OS layer of a distro whose default is grub (the RHEL family)
	// builds. CheckDisk refuses grub for the targets that assemble a disk.
	bootloaders = []choice{{value: "systemd-boot", supported: true}, {value: "grub",
		pending: "is not supported yet: GRUB support in the disk assembler is pending, and it installs systemd-boot only"}}
	filesystems  = []choice{{"ext4", true, ""}}
	installModes = []choice{{"rootfs", true, ""}, {"sysext", true, ""}}
	// A distro overlay names each bootstrap's packages; a bootstrap the
	// distro lacks is refused at its line (Validate: Ignition is
	// Flatcar's alone).
	bootstraps    = []choice{{"cloud-init", true, ""}, {"none", true, ""}, {"ignition", true, ""}}
	sysextFormats = []choice{{"squashfs", true, ""}, {"erofs", true, ""}}
)

func (v *validator) choice(field, what, value string, choices []choice) {
	var all, supported []string
	found := -1
	for i, c := range choices {
		all = append(all, c.value)
		if c.supported {
			supported = append(supported, c.value)
		}
		if c.value == value {
			found = i
		}
	}
	switch {
	case found >= 0 && choices[found].supported:
	case found >= 0:
		why := choices[found].pending
		if why == "" {
			why = "is not supported yet"
		}
		v.fail(field, "%s %q %s; use %s", what, value, why, strings.Join(supported, " or "))
	case value == "":
		v.fail(field, "required; allowed: %s", strings.Join(all, ", "))
	default:
		v.fail(field, "unknown %s %q; allowed: %s", what, value, strings.Join(all, ", "))
	}
}

// recognised reports a value that is none of choices, as choice does, and
// takes the unsupported ones: a later check refuses them where they matter.
func (v *validator) recognised(field, what, value string, choices []choice) {
	for _, c := range choices {
		if c.value == value {
			return
		}
	}
	all := make([]choice, len(choices))
	for i, c := range choices {
		all[i] = choice{value: c.value, supported: true}
	}
	v.choice(field, what, value, all)
}

// CheckDisk reports, at the spec's disk.bootloader line, a bootloader the
// assembler cannot install yet; the frontend asks it for every target that
// assembles a disk (disk, validate, the providers), and not for os or
// rootfs, which a disk's bootloader does not change.
func (s *Spec) CheckDisk() error {
	if s.Image.OS.BaseDisk != nil {
		// The vendor's disk brings its own boot loader.
		return nil
	}
	v := &validator{spec: s, problems: &problems{file: s.File}}
	v.choice("disk.bootloader", "bootloader", s.Image.Disk.Bootloader, bootloaders)
	return v.err()
}

// CheckBuildsOS refuses the targets that are the OS layer or the whole
// root filesystem for a spec whose OS is a vendor's disk: strata has
// neither, only the files it adds.
func (s *Spec) CheckBuildsOS(target string) error {
	if s.Image.OS.BaseDisk == nil {
		return nil
	}
	v := &validator{spec: s, problems: &problems{file: s.File}}
	v.fail("os.baseDisk", "target %s needs the OS built from an OCI image, and os.baseDisk's OS is a vendor's disk, which strata does not rebuild; "+
		"build the disk, validate or a provider target, or use os.base", target)
	return v.err()
}

// minDiskSize leaves room for the ESP and a minimal root filesystem.
const minDiskSize = GiB

// maxLabelLen is the ext4 volume label limit in bytes.
const maxLabelLen = 16

func (v *validator) disk(d *Disk) {
	switch {
	case d.Size < minDiskSize:
		v.fail("disk.size", "%s is too small; use at least %s", d.Size, ByteSize(minDiskSize))
	case d.Size%MiB != 0:
		v.fail("disk.size", "%d bytes is not a whole number of MiB; use e.g. %dMiB", int64(d.Size), (d.Size+MiB-1)/MiB)
	}
	v.choice("disk.boot", "boot mode", d.Boot, bootModes)
	v.recognised("disk.bootloader", "bootloader", d.Bootloader, bootloaders)
	v.choice("disk.root.filesystem", "filesystem", d.Root.Filesystem, filesystems)
	switch label := d.Root.Label; {
	case label == "":
		v.fail("disk.root.label", "required; set a label such as root")
	case len(label) > maxLabelLen:
		v.fail("disk.root.label", "label %q is %d bytes; ext4 labels are at most %d bytes", label, len(label), maxLabelLen)
	case strings.ContainsAny(label, " \t\r\n/"):
		v.fail("disk.root.label", "label %q contains whitespace or '/'; the kernel command line refers to it as root=LABEL=...", label)
	}
	if strings.ContainsAny(d.Cmdline, "\r\n") {
		v.fail("disk.cmdline", "must be a single line")
	}
}

// outputNames are the outputs a spec may list, each a build target: the
// plain disk and one per provider.
var outputNames = append([]string{"disk"}, providers.Names()...)

// OutputNames are the outputs a spec may list; with several, the outputs
// target puts each in a directory of its name.
func OutputNames() []string { return slices.Clone(outputNames) }

func (v *validator) outputs(outputs []string) {
	first := map[string]int{}
	for i, o := range outputs {
		field := index("outputs", i)
		if !slices.Contains(outputNames, o) {
			v.fail(field, "unknown output %q; allowed: %s", o, strings.Join(outputNames, ", "))
			continue
		}
		if j, dup := first[o]; dup {
			v.fail(field, "duplicate output %q, already listed as %s; list each output once", o, index("outputs", j))
			continue
		}
		first[o] = i
		if p, err := providers.Lookup(o); err == nil {
			v.diskFits(p, "listed as "+field)
		}
	}
}

// providers checks each provider's options against what the provider
// imports.
func (v *validator) providers(ps Providers) {
	for _, p := range providers.All {
		o := ps.For(p.Name)
		if o == nil {
			continue
		}
		field := "providers." + p.Name
		format, err := p.Format(o.Format)
		if err != nil {
			v.fail(field+".format", "%v", err)
			continue
		}
		vm := []struct {
			name string
			set  bool
		}{{"cpus", o.CPUs != ""}, {"memory", o.Memory != 0}, {"network", o.Network != ""}}
		if f, _ := formats.Lookup(format); !f.HasVM {
			for _, f := range vm {
				if f.set {
					v.fail(field+"."+f.name, "describes the virtual machine inside an OVA, and %s's %s output has none (its VM is sized where it is created); remove it", p.Name, format)
				}
			}
			continue
		}
		if n, err := strconv.Atoi(o.CPUs); o.CPUs != "" && (err != nil || n < 1 || n > maxVMCPUs) {
			v.fail(field+".cpus", "invalid CPU count %q; use a whole number from 1 to %d", o.CPUs, maxVMCPUs)
		}
		if o.Memory != 0 && (o.Memory%MiB != 0 || o.Memory < minVMMemory) {
			v.fail(field+".memory", "%s is not a whole number of MiB of at least %s; use e.g. 4GiB", o.Memory, ByteSize(minVMMemory))
		}
	}
}

// The bounds of an OVA's virtual machine: vSphere 8 takes up to 768
// vCPUs; below 256 MiB a kernel with an initrd does not boot.
const (
	maxVMCPUs   = 768
	minVMMemory = 256 * MiB
)

// diskFits reports at disk.size when provider p rejects the disk's size.
func (v *validator) diskFits(p providers.Provider, why string) {
	if size := v.spec.Image.Disk.Size; size < minDiskSize || size%MiB != 0 {
		return // already reported, with the fix that suits every provider
	}
	if err := p.CheckSize(int64(v.spec.Image.Disk.Size)); err != nil {
		v.fail("disk.size", "%v (%s); set disk.size to a size %s accepts", err, why, p.Name)
	}
}

// CheckProvider reports, at the spec's disk.size line, whether provider p
// takes this spec's disk; the frontend asks for a --target the spec's
// outputs do not list.
func (s *Spec) CheckProvider(p providers.Provider) error {
	v := &validator{spec: s, problems: &problems{file: s.File}}
	v.diskFits(p, "for --target "+p.Name)
	return v.err()
}

func index(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}
