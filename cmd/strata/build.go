package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"
	"github.com/strata-dev/strata/frontend"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
)

// buildOptions mirror `docker buildx build` where they overlap, so users can
// move between the two without relearning flags.
type buildOptions struct {
	addr      string
	target    string
	output    string
	progress  string
	buildArgs []string
	contexts  []string
	toolsImg  string
	noCache   bool
	cacheFrom []string
	cacheTo   []string
	secrets   []string
}

func newBuildCmd() *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build SPEC",
		Short: "Build a node image from a spec with a BuildKit daemon",
		Long: "Build runs the strata frontend in-process against the buildkitd at --addr (or $BUILDKIT_HOST)\n" +
			"and exports the target's files into the -o directory.",
		Example: `  strata build examples/debian.yaml --target disk -o out/ \
      --build-context os-base=oci-layout:///var/cache/base/oci@sha256:... \
      --build-context strata-tools=oci-layout:///var/cache/base/oci@sha256:...
  strata build examples/kubernetes-node.yaml --target kubernetes-sysext -o out/ \
      --build-arg KUBERNETES_VERSION=v1.36.3 --cache-to type=registry,ref=registry.example/cache,mode=max`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", os.Getenv("BUILDKIT_HOST"), "buildkitd address (default $BUILDKIT_HOST)")
	f.StringVar(&o.target, "target", "", "what to build (default disk; see strata targets)")
	f.StringVarP(&o.output, "output", "o", "", "export the result: DIR, type=local,dest=DIR or type=tar,dest=FILE")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto, tty, plain, rawjson, quiet")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "override a spec field, e.g. DISK_SIZE=4GiB (repeatable)")
	f.StringArrayVar(&o.contexts, "build-context", nil, "named context NAME=oci-layout://DIR[@DIGEST] | docker-image://REF | DIR (repeatable)")
	f.StringVar(&o.toolsImg, "tools-image", "", "image with mke2fs to assemble the disk in (default: the strata-tools context)")
	f.BoolVar(&o.noCache, "no-cache", false, "do not use the build cache")
	f.StringArrayVar(&o.cacheFrom, "cache-from", nil, "import build cache, e.g. type=registry,ref=REF (repeatable)")
	f.StringArrayVar(&o.cacheTo, "cache-to", nil, "export build cache, e.g. type=registry,ref=REF,mode=max (repeatable)")
	f.StringArrayVar(&o.secrets, "secret", nil, "secret for the build: id=ID,src=FILE or id=ID,env=VAR, as the spec's os.packageSecret or kubernetes.sourceSecret names it (repeatable)")
	return cmd
}

func runBuild(ctx context.Context, specPath string, o buildOptions) error {
	if o.addr == "" {
		o.addr = "unix:///run/buildkit/buildkitd.sock"
	}
	solveOpt, cleanup, err := solveOptions(specPath, o)
	if err != nil {
		return err
	}
	defer cleanup()
	dirs := exportDirsAsTar(&solveOpt)
	files := exportFilesAtomically(&solveOpt)

	c, err := client.New(ctx, o.addr)
	if err != nil {
		return fmt.Errorf("connecting to buildkitd at %s: %w", o.addr, err)
	}
	defer c.Close()

	display, err := progressui.NewDisplay(os.Stderr, progressui.DisplayMode(o.progress))
	if err != nil {
		return fmt.Errorf("--progress: %w", err)
	}
	// The direct reads show their progress on ch too: they run inside the
	// build function, and Build closes ch only after it has returned.
	ch := make(chan *client.SolveStatus)
	build := frontend.Build
	if len(dirs) == 1 {
		d := directRead{dir: dirs[0].dir, keepOwners: os.Geteuid() == 0, status: ch}
		if _, sent := solveOpt.FrontendAttrs["context:"+frontend.ContextBinary]; sent {
			d.tools = frontend.ToolsEnv
		}
		build = d.wrap(build)
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		_, err := c.Build(ctx, solveOpt, "strata", build, ch)
		return err
	})
	eg.Go(func() error {
		_, err := display.UpdateFrom(context.WithoutCancel(ctx), ch)
		return err
	})
	err = eg.Wait()
	for _, d := range dirs {
		if derr := d.finish(err); err == nil {
			err = derr
		}
	}
	for _, f := range files {
		if ferr := f.finish(err); err == nil {
			err = ferr
		}
	}
	// Spec and step errors carry their YAML location; show the lines, as
	// buildx does for a Dockerfile.
	for _, src := range errdefs.Sources(err) {
		src.Print(os.Stderr)
	}
	return secretHint(err)
}

// solveOptions translates the CLI flags into what BuildKit's client takes,
// the same attributes buildx would send to a frontend image.
func solveOptions(specPath string, o buildOptions) (client.SolveOpt, func(), error) {
	noop := func() {}
	abs, err := filepath.Abs(specPath)
	if err != nil {
		return client.SolveOpt{}, noop, err
	}
	if _, err := os.Stat(abs); err != nil {
		return client.SolveOpt{}, noop, fmt.Errorf("spec: %w", err)
	}
	specDir, err := fsutil.NewFS(filepath.Dir(abs))
	if err != nil {
		return client.SolveOpt{}, noop, err
	}
	so := client.SolveOpt{
		FrontendAttrs: map[string]string{"filename": filepath.Base(abs)},
		LocalMounts:   map[string]fsutil.FS{"dockerfile": specDir, "context": specDir},
	}
	if o.target != "" {
		so.FrontendAttrs["target"] = o.target
	}
	if o.noCache {
		so.FrontendAttrs["no-cache"] = ""
	}
	if so.CacheImports, err = parseCacheOptions("--cache-from", o.cacheFrom); err != nil {
		return client.SolveOpt{}, noop, err
	}
	if so.CacheExports, err = parseCacheOptions("--cache-to", o.cacheTo); err != nil {
		return client.SolveOpt{}, noop, err
	}
	if so.Session, err = sessionAttachables(o.secrets); err != nil {
		return client.SolveOpt{}, noop, err
	}
	for _, kv := range o.buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			// Like buildx: a bare name takes its value from the environment.
			v, ok = os.LookupEnv(k)
			if !ok {
				continue
			}
		}
		so.FrontendAttrs["build-arg:"+k] = v
	}
	if epoch, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok {
		if _, set := so.FrontendAttrs["build-arg:SOURCE_DATE_EPOCH"]; !set {
			so.FrontendAttrs["build-arg:SOURCE_DATE_EPOCH"] = epoch
		}
	}

	contexts := append([]string{}, o.contexts...)
	if o.toolsImg != "" {
		contexts = append(contexts, frontend.ContextTools+"=docker-image://"+o.toolsImg)
	}
	if err := addContexts(&so, contexts); err != nil {
		return client.SolveOpt{}, noop, err
	}
	cleanup, err := addOwnBinary(&so)
	if err != nil {
		return client.SolveOpt{}, noop, err
	}
	if o.output != "" {
		export, err := parseOutput(o.output)
		if err != nil {
			cleanup()
			return client.SolveOpt{}, noop, err
		}
		so.Exports = []client.ExportEntry{export}
	}
	return so, cleanup, nil
}

// parseOutput accepts a directory, or buildx's type=local,dest=DIR and
// type=tar,dest=FILE forms. A tar keeps a whole tree in one stream, which
// is what a root filesystem wants.
func parseOutput(s string) (client.ExportEntry, error) {
	if !strings.Contains(s, "=") {
		return client.ExportEntry{Type: client.ExporterLocal, OutputDir: s}, nil
	}
	fields := map[string]string{}
	for _, f := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	dest := fields["dest"]
	if dest == "" {
		return client.ExportEntry{}, fmt.Errorf("-o %s: missing dest=", s)
	}
	switch fields["type"] {
	case "", client.ExporterLocal:
		return client.ExportEntry{Type: client.ExporterLocal, OutputDir: dest}, nil
	case client.ExporterTar:
		// The file is opened by a fileExport (exportFilesAtomically), which
		// renames it into place only when the build succeeds.
		return client.ExportEntry{Type: client.ExporterTar, OutputDir: dest}, nil
	default:
		return client.ExportEntry{}, fmt.Errorf("-o %s: strata build exports type=local or type=tar", s)
	}
}
