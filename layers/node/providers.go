package node

import (
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/strata-dev/strata/exporters/formats"
	"github.com/strata-dev/strata/exporters/providers"
	"github.com/strata-dev/strata/layers/guest"
	"github.com/strata-dev/strata/spec"
)

// providerOutput is provider p's output directory. A provider with guest
// configuration gets its own OS variant, root filesystem and disk; the
// others convert the plain disk, so `--target raw` after `--target disk`
// reuses the assembled disk. st is the plain rootfs's stack of layers.
//
// A Kubernetes node's disk is its OS disk with a layer added: the
// conversion reads the OS disk through the layer's changes (strata
// add-layer --delta, strata convert --delta), so it needs no layered disk;
// the validation the conversion waits for checks the layered disk itself. Where the format compresses cluster by cluster, the OS
// disk is converted too, on its own and cached with it, and the node's
// conversion copies the compressed clusters the layer left alone from it
// (strata convert --reuse) instead of compressing them again.
func providerOutput(in Input, g Graph, st stack, p providers.Provider) llb.State {
	disk := g.disk
	switch guestOf(in, p) {
	case guestAll:
		st = st.onOS("os with "+p.Name+" guest configuration", guest.Apply(g.OS, p, in.Distro, located(in, "outputs")...))
		rootfs := st.merge(fmt.Sprintf("[%s] merge ", p.Name), 0, len(st.states))
		disk = nodeDisk(in, st, rootfs, guest.Cmdline(in.Spec.Image.Disk.Cmdline, p.Guest.Cmdline), p.Name)
	case guestDatasources:
		ds, _ := guest.Datasources(p, located(in, "outputs")...)
		st = st.with(p.Name+" datasources", ds)
		disk = vendorNodeDisk(in, st, p.Name)
	}
	validated := validate(in, disk.full, p.Name)
	if disk.os == nil {
		return convert(in, convertSource{disk: disk.full, validated: &validated}, p, nil, in.Spec.Digest(), p.Name)
	}
	delta := disk.delta(in)
	src := convertSource{disk: *disk.os, delta: &delta, validated: &validated}
	var base *llb.State
	if f, err := formats.Lookup(providerFormat(in, p)); err == nil && f.NoReuse == "" {
		// Named after the OS digest, so that a Kubernetes bump keeps it.
		osImage := convert(in, convertSource{disk: *disk.os}, p, nil, in.Spec.OSDigest(), p.Name+" os")
		base = &osImage
	}
	return convert(in, src, p, base, in.Spec.Digest(), p.Name)
}

// convertSource is what a conversion reads: a disk, or with delta set, the
// layered disk made of that disk and the changes a layer makes to it. With
// validated set, the conversion waits for that validation of the disk.
type convertSource struct {
	disk      llb.State
	delta     *llb.State
	validated *llb.State
}

// providerFormat is the format p's output is written in.
func providerFormat(in Input, p providers.Provider) string {
	if o := in.Spec.Image.Providers.For(p.Name); o != nil && o.Format != "" {
		return o.Format
	}
	return p.Formats[0]
}

// convert runs `strata convert --provider` on src in the tools
// environment, offline like the assembly, and returns the directory it
// writes: the provider's image and manifest.json, which names the spec by
// specDigest. With base, the conversion of src.disk, it reuses the
// clusters src shares with src.disk.
func convert(in Input, src convertSource, p providers.Provider, base *llb.State, specDigest, step string) llb.State {
	img := in.Spec.Image
	args := []string{ToolsBinary, "convert", "--provider", p.Name,
		"-o", "/out",
		"--seed", specDigest,
		"--spec-name", img.Name,
		"--spec-digest", specDigest,
	}
	switch guestOf(in, p) {
	case guestAll:
		args = append(args, "--guest-applied")
	case guestDatasources:
		args = append(args, "--guest-applied=datasources")
	}
	if o := img.Providers.For(p.Name); o != nil {
		args = append(args, optionArgs(o)...)
	}
	// Content-hashing the inputs for the cache key would read each whole
	// disk (19 s of a 38 s rebuild for 6 GiB); the disk's own key, from
	// the graph that made it, is what the cache needs.
	input := func(dir string, st llb.State) llb.RunOption {
		return llb.AddMount(dir, st, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff))
	}
	opts := []llb.RunOption{
		llb.Network(pb.NetMode_NONE),
		input("/disk", src.disk),
		llb.WithCustomName(fmt.Sprintf("[%s] convert %s to %s", step, DiskFile, providerFormat(in, p))),
	}
	if src.delta != nil {
		args = append(args, "--delta", "/delta")
		opts = append(opts, input("/delta", *src.delta))
	}
	if base != nil {
		args = append(args, "--reuse", "/reuse", "--reuse-raw", "/disk/"+DiskFile)
		opts = append(opts, input("/reuse", *base))
	}
	if src.validated != nil {
		opts = append(opts, afterValidation(*src.validated))
	}
	opts = append(opts, llb.Args(append(args, "/disk/"+DiskFile)))
	opts = append(opts, in.epochEnv())
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
