package node

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/strata-dev/strata/exporters/providers"
	"github.com/strata-dev/strata/layers/guest"
	"github.com/strata-dev/strata/spec"
)

// providerOutput is provider p's output directory. A provider with guest
// configuration gets its own OS variant, root filesystem and disk; the
// others convert the plain disk, so `--target raw` after `--target disk`
// reuses the assembled disk. upper are the layers above the OS layer, as
// merged into the plain rootfs, and names their names.
func providerOutput(in Input, g Graph, upper []llb.State, names []string, p providers.Provider) llb.State {
	disk := g.Disk
	if !p.Guest.Empty() {
		os := guest.Apply(g.OS, p, in.Distro, located(in, "outputs")...)
		rootfs := llb.Merge(append([]llb.State{os}, upper...),
			llb.WithCustomName(fmt.Sprintf("[%s] merge os with %s guest configuration, %s", p.Name, p.Name, strings.Join(names, ", "))))
		disk = assemble(in, rootfs, guest.Cmdline(in.Spec.Image.Disk.Cmdline, p.Guest.Cmdline), p.Name)
	}
	return convert(in, disk, p)
}

// convert runs `strata convert --provider` on the disk in the tools
// environment, offline like the assembly, and returns the directory it
// writes: the provider's image and manifest.json.
func convert(in Input, disk llb.State, p providers.Provider) llb.State {
	img := in.Spec.Image
	args := []string{ToolsBinary, "convert", "--provider", p.Name,
		"-o", "/out",
		"--seed", in.Spec.Digest(),
		"--spec-name", img.Name,
		"--spec-digest", in.Spec.Digest(),
	}
	if !p.Guest.Empty() {
		args = append(args, "--guest-applied")
	}
	format := p.Formats[0]
	if o := img.Providers.For(p.Name); o != nil {
		args = append(args, optionArgs(o)...)
		if o.Format != "" {
			format = o.Format
		}
	}
	opts := []llb.RunOption{
		llb.Args(append(args, "/disk/"+DiskFile)),
		llb.Network(pb.NetMode_NONE),
		// Content-hashing the input for the cache key would read the whole
		// disk (19 s of a 38 s rebuild for 6 GiB); the disk's own key,
		// from the graph that made it, is what the cache needs.
		llb.AddMount("/disk", disk, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff)),
		llb.WithCustomName(fmt.Sprintf("[%s] convert %s to %s", p.Name, DiskFile, format)),
	}
	if in.Epoch != nil {
		opts = append(opts, llb.AddEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(in.Epoch.Unix(), 10)))
	}
	for _, loc := range located(in, "outputs") {
		opts = append(opts, loc)
	}
	return in.Tools.Run(opts...).AddMount("/out", llb.Scratch())
}

// optionArgs are the spec's providers.<name> options as convert flags;
// the spec's validation has checked that they apply.
func optionArgs(o *spec.ProviderOptions) []string {
	var args []string
	for _, f := range []struct{ flag, value string }{
		{"--format", o.Format},
		{"--cpus", o.CPUs},
		{"--memory", memory(o.Memory)},
		{"--network", o.Network},
	} {
		if f.value != "" {
			args = append(args, f.flag, f.value)
		}
	}
	return args
}

func memory(size spec.ByteSize) string {
	if size == 0 {
		return ""
	}
	return size.String()
}
