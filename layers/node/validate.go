package node

import (
	"fmt"
	"slices"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/llb/files"
	"github.com/strata-dev/strata/spec"
)

// ChecksFile is where the image carries the checks it was built to pass:
// the defaults of its layers and its spec's validate: list. `strata
// inspect` runs them, from the build's validation step or offline on the
// image file, so a user needs no spec to check an image.
const ChecksFile = "/usr/lib/strata/checks.yaml"

// ChecksFileEtc is ChecksFile on a distro whose /usr no layer can write
// (spec.Distro.ReadOnlyUsr: Flatcar). strata inspect reads either.
const ChecksFileEtc = "/etc/strata/checks.yaml"

// ChecksFiles are where strata inspect looks for the image's checks, in
// order.
var ChecksFiles = []string{ChecksFile, ChecksFileEtc}

// checksPath is where in's image carries its checks.
func checksPath(in Input) string {
	if in.Distro.Defaults.ReadOnlyUsr {
		return ChecksFileEtc
	}
	return ChecksFile
}

// ValidationReport is the JUnit report a validation step leaves in its
// output directory.
const ValidationReport = "checks.junit.xml"

// checksGraph writes ChecksFile. Like the release file it is a tiny graph
// of its own, since it changes with any spec edit.
func checksGraph(in Input) (llb.State, error) {
	list, err := Checks(in)
	if err != nil {
		return llb.State{}, fmt.Errorf("checks: %w", err)
	}
	data, err := checks.Marshal(list)
	if err != nil {
		return llb.State{}, fmt.Errorf("checks: %w", err)
	}
	return files.Write(files.Root(), []spec.File{{Path: checksPath(in), Mode: "0644", Content: string(data)}},
		llb.WithCustomName(fmt.Sprintf("[checks] write %s (%d checks)", checksPath(in), len(list)))), nil
}

// validate runs `strata inspect` on disk, a directory holding DiskFile, in
// the tools environment: the image's partition table and boot entry, the
// checks it carries and the hygiene checks. A failed check fails the step,
// and with it every output that depends on it; there is no mode that lets
// failures through. The output directory holds the JUnit report, which
// only a passing validation leaves (BuildKit drops a failed step's output).
func validate(in Input, disk llb.State, step string) llb.State {
	args := []string{ToolsBinary, "inspect", "--junit", "/out/" + ValidationReport}
	opts := []llb.RunOption{
		llb.Network(pb.NetMode_NONE),
		llb.AddMount("/disk", disk, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff)),
		llb.WithCustomName(fmt.Sprintf("[%s] validate %s: partitions, boot entry, %s and hygiene", step, DiskFile, checksPath(in))),
	}
	// The secrets the build used are mounted here too, so the hygiene
	// scan proves their values reached no file of the disk. Mounted, they
	// stay out of the step's output and its cache key holds only their IDs.
	for _, id := range secretIDs(in.Spec) {
		path := "/run/secrets/" + id
		args = append(args, "--secret-value-file", path)
		opts = append(opts, llb.AddSecret(path, llb.SecretID(id)))
	}
	opts = append(opts, llb.Args(append(args, "/disk/"+DiskFile)))
	return in.Tools.Run(opts...).AddMount("/out", llb.Scratch())
}

// secretIDs lists the BuildKit secrets the spec names, each once.
func secretIDs(sp *spec.Spec) []string {
	var ids []string
	add := func(id string) {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	add(sp.Image.OS.PackageSecret)
	if k := sp.Image.Kubernetes; k != nil {
		add(k.SourceSecret)
	}
	return ids
}

// afterValidation makes st's step wait for validation: the report is
// mounted where the step does not look, so BuildKit runs the validation
// first and stops the build when it fails.
func afterValidation(validated llb.State) llb.RunOption {
	return llb.AddMount("/validated", validated, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff))
}
