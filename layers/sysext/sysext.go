// Package sysext turns a layer's /usr and /opt payload into a systemd-sysext
// image, and installs that image in a root filesystem so that systemd merges
// it at boot. It is pure: LLB in, LLB out.
package sysext

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	sysextfs "github.com/strata-dev/strata/exporters/sysext"
	"github.com/strata-dev/strata/llb/files"
	"github.com/strata-dev/strata/spec"
)

// Arch is the image's architecture in systemd's spelling (uname's
// x86_64), which systemd-sysext compares with the kernel's.
const Arch = "x86-64"

// Where images live on the node. The image itself sits in a directory
// systemd-sysext does not scan, and the name it is merged under is a
// symlink: systemd-sysupdate keeps several versions side by side and flips
// the symlink, the layout its CurrentSymlink= setting is made for.
const (
	StoreDir  = "/var/lib/strata/extensions"
	MergedDir = "/var/lib/extensions"
)

// ReloadUnit makes units shipped in an extension known to the boot that
// merged it (see reloadUnit).
const ReloadUnit = "strata-sysext-reload.service"

// Layout is where a distro keeps system extensions on the node. The zero
// Layout is strata's own: StoreDir, MergedDir and the reload unit.
type Layout struct {
	Store  string // the directory holding the image files
	Merged string // the directory systemd-sysext merges, holding symlinks
	// DistroReloads: the distro loads the units of merged extensions
	// itself (Flatcar's ensure-sysext.service), so strata's reload unit,
	// which would have to go to /usr, is left out.
	DistroReloads bool
}

// Extension names one system extension image.
type Extension struct {
	Name    string // "kubernetes": extension-release.NAME, merged as NAME.raw
	Version string // "v1.36.3": part of the file name, for systemd-sysupdate
	Format  string // squashfs or erofs
	Layout  Layout
}

func (e Extension) storeDir() string {
	if e.Layout.Store != "" {
		return e.Layout.Store
	}
	return StoreDir
}

func (e Extension) mergedDir() string {
	if e.Layout.Merged != "" {
		return e.Layout.Merged
	}
	return MergedDir
}

// ReloadUnit says whether the node needs strata's reload unit.
func (e Extension) ReloadUnit() bool { return !e.Layout.DistroReloads }

// FileName is the versioned image file name, in the NAME-VERSION-ARCH.raw
// pattern update sources use.
func (e Extension) FileName() string {
	return fmt.Sprintf("%s-%s-%s.raw", e.Name, e.Version, Arch)
}

// StorePath is where the image file sits on the node.
func (e Extension) StorePath() string { return e.storeDir() + "/" + e.FileName() }

// MergedPath is the name systemd-sysext merges the image under.
func (e Extension) MergedPath() string { return e.mergedDir() + "/" + e.Name + ".raw" }

// Release is the extension-release file. ID=_any: the payload is made of
// upstream's release binaries, built to run on any glibc-based distro. EXTENSION_RELOAD_MANAGER asks systemd 255 and newer to load the
// extension's units itself; older ones need the reload unit.
func (e Extension) Release() string {
	return fmt.Sprintf("ID=_any\nARCHITECTURE=%s\nSYSEXT_SCOPE=system\nSYSEXT_ID=%s\nSYSEXT_VERSION_ID=%s\nEXTENSION_RELOAD_MANAGER=1\n",
		Arch, e.Name, e.Version)
}

// Input is what an image is built from.
type Input struct {
	Extension
	// Payload is the tree to pack: /usr and /opt only.
	Payload llb.State
	// Tools is a root filesystem with the strata binary at Binary and the
	// format's tool (mksquashfs or mkfs.erofs).
	Tools  llb.State
	Binary string
	// Seed fixes the filesystem UUID; Epoch, when set, every timestamp.
	Seed  string
	Epoch *time.Time
	// Located tags the build step with its YAML location.
	Located []llb.ConstraintsOpt
}

// Image returns a directory holding the image file and its SHA256SUMS,
// ready to publish as an update source. The tools run without network and
// see the payload read-only, so the image depends on its inputs alone.
func Image(in Input) llb.State {
	tree := files.Write(in.Payload, []spec.File{{
		Path: "/" + sysextfs.ReleaseDir + "/extension-release." + in.Name, Mode: "0644", Content: in.Release(),
	}}, append(in.Located, llb.WithCustomName("[sysext 1/2] write extension-release."+in.Name))...)
	opts := []llb.RunOption{
		llb.Args([]string{in.Binary, "sysext", "--tree", "/tree", "--name", in.Name,
			"--format", in.Format, "--seed", in.Seed, "-o", "/out/" + in.FileName()}),
		llb.Network(pb.NetMode_NONE),
		llb.AddMount("/tree", tree, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff)),
		llb.WithCustomName(fmt.Sprintf("[sysext 2/2] pack %s (%s)", in.FileName(), in.Format)),
	}
	if in.Epoch != nil {
		opts = append(opts, llb.AddEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(in.Epoch.Unix(), 10)))
	}
	for _, o := range in.Located {
		opts = append(opts, o)
	}
	return in.Tools.Run(opts...).AddMount("/out", llb.Scratch())
}

// Install returns what a root filesystem needs to merge the image at boot:
// the image and its symlink, systemd-sysext.service and the reload unit
// enabled, and, when updates is set, a systemd-sysupdate transfer for
// patch releases from that URL.
func Install(e Extension, image llb.State, updates string) llb.State {
	st := llb.Scratch().File(
		llb.Copy(image, e.FileName(), e.StorePath(), &llb.CopyInfo{CreateDestPath: true}),
		llb.WithCustomName("[sysext] install "+e.StorePath()))
	var b files.Batch
	b.Symlink(e.StorePath(), e.MergedPath())
	units := []string{"systemd-sysext.service"}
	if e.ReloadUnit() {
		b.File(spec.File{Path: "/usr/lib/systemd/system/" + ReloadUnit, Mode: "0644", Content: reloadUnit})
		units = append(units, ReloadUnit)
	}
	for _, unit := range units {
		b.Symlink("/usr/lib/systemd/system/"+unit, "/etc/systemd/system/sysinit.target.wants/"+unit)
	}
	if updates != "" {
		b.File(spec.File{Path: TransferPath(e), Mode: "0644", Content: Transfer(e, updates)})
	}
	return b.Apply(st, llb.WithCustomName(fmt.Sprintf("[sysext] merge %s at boot from %s", e.MergedPath(), e.StorePath())))
}

// reloadUnit: systemd before 255 merges extensions after it has loaded its
// units, so a unit an extension ships stays "not found" for that boot, and
// the targets that want it start without it. Reloading once the merge is
// done and starting multi-user.target again queues what it wants.
const reloadUnit = `[Unit]
Description=Load units shipped in system extensions
Documentation=man:systemd-sysext(8)
DefaultDependencies=no
Requires=systemd-sysext.service
After=systemd-sysext.service
Before=sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=systemctl daemon-reload
ExecStart=systemctl start --no-block multi-user.target

[Install]
WantedBy=sysinit.target
`

// TransferPath is the transfer file of the extension's sysupdate
// component: `systemd-sysupdate --component=NAME update` updates it alone.
func TransferPath(e Extension) string {
	return "/etc/sysupdate." + e.Name + ".d/" + e.Name + ".transfer"
}

// Transfer is a systemd-sysupdate transfer that follows patch releases of
// the image's minor version: a minor upgrade is a new node image, as
// Kubernetes' skew policy wants. Verify=yes fails closed: the source must
// sign its SHA256SUMS (SHA256SUMS.gpg) with a key the node trusts.
func Transfer(e Extension, updates string) string {
	pattern := patchPattern(e)
	return fmt.Sprintf(`# Written by strata: patch updates of the %s system extension.
# Run: systemd-sysupdate --component=%s update
[Transfer]
Verify=yes

[Source]
Type=url-file
Path=%s
MatchPattern=%s

[Target]
Type=regular-file
Path=%s
MatchPattern=%s
CurrentSymlink=%s
InstancesMax=2
`, e.Name, e.Name, updates, pattern, e.storeDir(), pattern, e.MergedPath())
}

// patchPattern replaces the patch number of the file name's version with
// sysupdate's @v: v1.36.3 matches v1.36.@v.
func patchPattern(e Extension) string {
	v := e.Version
	if i := strings.LastIndex(v, "."); i >= 0 {
		v = v[:i+1] + "@v"
	} else {
		v = "@v"
	}
	return fmt.Sprintf("%s-%s-%s.raw", e.Name, v, Arch)
}
