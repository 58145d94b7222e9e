package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/layers/node"
)

// newExtentsCmd lists files' data extents. strata build runs it inside the
// builder on a result's raw disks, so that it reads only their data.
func newExtentsCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:    "extents -o FILE.json FILE...",
		Short:  "List the data extents of sparse files, as JSON",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			all := map[string][]rawdisk.Extent{}
			for _, name := range args {
				ext, err := dataExtents(name)
				if err != nil {
					return err
				}
				all[name] = ext
			}
			b, err := json.Marshal(all)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(output, b, 0o644); err != nil {
				return fmt.Errorf("writing the extents: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "the JSON file to write")
	cmd.MarkFlagRequired("output")
	return cmd
}

func dataExtents(name string) ([]rawdisk.Extent, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ext, err := rawdisk.DataExtents(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if ext == nil {
		// All holes: an empty list, which is not "unknown".
		ext = []rawdisk.Extent{}
	}
	return ext, nil
}

// extentsMount is where the extents step sees the result.
const extentsMount = "/result"

// extents lists the data extents of the files of at least
// directReadExtentsMin, by running strata extents on the result in the tools
// environment. Files it has no extents for are read whole; so are all of
// them, with a note in the progress, if the step fails.
func (d directRead) extents(ctx context.Context, c gwclient.Client, ref gwclient.Reference, files []resultFile) map[string][]rawdisk.Extent {
	var paths []string
	for _, f := range files {
		if f.stat.Size >= directReadExtentsMin {
			paths = append(paths, extentsMount+f.name)
		}
	}
	if len(paths) == 0 || d.tools == nil {
		return nil
	}
	byPath, err := d.listExtents(ctx, c, ref, paths)
	if err != nil {
		d.progress(ctx, fmt.Sprintf("reading %s whole: its data extents could not be listed: %v", strings.Join(paths, ", "), err), func() error { return nil })
		return nil
	}
	extents := map[string][]rawdisk.Extent{}
	for p, ext := range byPath {
		extents[strings.TrimPrefix(p, extentsMount)] = ext
	}
	return extents
}

// listExtents runs strata extents on paths, under extentsMount.
func (d directRead) listExtents(ctx context.Context, c gwclient.Client, ref gwclient.Reference, paths []string) (map[string][]rawdisk.Extent, error) {
	tools, err := d.tools(ctx, c)
	if err != nil {
		return nil, err
	}
	st, err := ref.ToState()
	if err != nil {
		return nil, err
	}
	run := tools.Run(llb.Args(append([]string{node.ToolsBinary, "extents", "-o", "/out/extents.json"}, paths...)),
		llb.Network(pb.NetMode_NONE),
		llb.AddMount(extentsMount, st, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff)),
		llb.WithCustomName("list the data extents of "+strings.Join(paths, ", ")))
	def, err := run.AddMount("/out", llb.Scratch()).Marshal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return nil, err
	}
	out, err := res.SingleRef()
	if err != nil {
		return nil, err
	}
	list, err := out.ReadFile(ctx, gwclient.ReadRequest{Filename: "/extents.json"})
	if err != nil {
		return nil, fmt.Errorf("reading extents.json: %w", err)
	}
	var byPath map[string][]rawdisk.Extent
	if err := json.Unmarshal(list, &byPath); err != nil {
		return nil, fmt.Errorf("extents.json: %w", err)
	}
	return byPath, nil
}
