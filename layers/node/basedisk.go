package node

import (
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/exporters/providers"
)

// VendorDisk is the disk image os.baseDisk names, as the frontend fetched
// it: by URL (BuildKit checks the sha256 as it downloads), from the build
// context, or from the os-disk context.
type VendorDisk struct {
	Dir  llb.State // a directory holding the image file alone
	From string    // where it came from, for the import step's name
}

// vendorDisk is the vendor's image checked against os.baseDisk.sha256 and
// format and written as a raw disk (strata import-disk): the OS disk a
// Kubernetes node's layers are added to. Offline, like the assembly it
// stands in for.
func vendorDisk(in Input) llb.State {
	d := in.Spec.Image.OS.BaseDisk
	args := []string{ToolsBinary, "import-disk", "/in", "-o", "/out/" + DiskFile}
	if d.SHA256 != "" {
		args = append(args, "--sha256", d.SHA256)
	}
	if d.SHA512 != "" {
		args = append(args, "--sha512", d.SHA512)
	}
	if d.Format != "" {
		args = append(args, "--format", d.Format)
	}
	opts := []llb.RunOption{
		llb.Args(args),
		llb.Network(pb.NetMode_NONE),
		llb.AddMount("/in", in.BaseDisk.Dir, llb.Readonly),
		llb.WithCustomName("[disk os] import the base disk " + in.BaseDisk.From + " as " + DiskFile),
	}
	for _, loc := range located(in, "os.baseDisk") {
		opts = append(opts, loc)
	}
	return in.Tools.Run(opts...).AddMount("/out", llb.Scratch())
}

// vendorNodeDisk is nodeDisk on a vendor's disk, which is the OS: the
// stable layers go onto it first, so that a Kubernetes bump reuses that
// disk as it reuses an assembled OS disk, then the rest.
func vendorNodeDisk(in Input, st stack, step string) nodeDiskParts {
	base, from := vendorDisk(in), 0
	if st.stable > 1 {
		base = addLayer(in, base, st.merge("["+step+" os] merge ", 0, st.stable), st.names[:st.stable], step+" os", false)
		from = st.stable
	}
	d := nodeDiskParts{os: &base, upper: st.merge("["+step+"] merge ", from, len(st.states)),
		names: st.names[from:], step: step}
	d.full = addLayer(in, base, d.upper, d.names, step, false)
	return d
}

// guestConfig is how much of a provider's guest configuration an output
// gets.
type guestConfig int

const (
	guestNone        guestConfig = iota
	guestAll                     // datasources, kernel arguments, initrd drivers
	guestDatasources             // the datasource list alone
)

// guestOf says how much of p's guest configuration its output gets. On a
// vendor's disk only its files can be added: the kernel arguments live in
// the vendor's boot loader configuration and the drivers in its initrd,
// which only the vendor's OS rebuilds. The vendor publishes an image per
// cloud for those.
func guestOf(in Input, p providers.Provider) guestConfig {
	switch {
	case p.Guest.Empty():
		return guestNone
	case in.BaseDisk == nil:
		return guestAll
	case len(p.Guest.Datasources) > 0:
		return guestDatasources
	}
	return guestNone
}

// vendorChecks drops from the distro's checks what only an OS strata
// built can pass: its boot packages and the units it enabled. The files
// and links the overlay writes stay, since they are layered onto the
// vendor's disk too.
func vendorChecks(list []checks.Check) []checks.Check {
	out := list[:0:0]
	for _, c := range list {
		switch c.Assert.(type) {
		case checks.Package, checks.Service:
			continue
		}
		out = append(out, c)
	}
	return out
}
