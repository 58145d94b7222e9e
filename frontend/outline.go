package frontend

import (
	"context"
	"fmt"

	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"
	"github.com/strata-dev/strata/spec"
)

// outlineFor answers `--call outline` from the spec the build reads.
func outlineFor(bc *dockerui.Client) func(context.Context) (*outline.Outline, error) {
	return func(ctx context.Context) (*outline.Outline, error) {
		src, err := bc.ReadEntrypoint(ctx, "yaml")
		if err != nil {
			return nil, fmt.Errorf("reading the spec: %w", err)
		}
		sp, err := loadSpec(src, bc.BuildArgs)
		if err != nil {
			return nil, err
		}
		return Outline(sp, src.Data, bc.Target)
	}
}

// Outline lists the build args the spec accepts for target, each with its
// current value (after the build args given and the defaults) and the YAML
// line that sets it, if any. data is the spec file, which locations index.
func Outline(sp *spec.Spec, data []byte, target string) (*outline.Outline, error) {
	t, err := lookupTarget(target)
	if err != nil {
		return nil, err
	}
	o := &outline.Outline{Name: t.name, Description: t.description, Sources: [][]byte{data}}
	for _, a := range spec.Overridable() {
		value, _ := sp.Value(a.Field)
		arg := outline.Arg{Name: a.Name, Description: a.Description + " (" + a.Field + ")", Value: value}
		if pos, ok := sp.Position(a.Field); ok {
			arg.Location = &pb.Location{SourceIndex: 0, Ranges: []*pb.Range{lineRange(pos)}}
		}
		o.Args = append(o.Args, arg)
	}
	return o, nil
}

// Targets lists what a build can produce, as `--call targets` does.
func Targets() *targets.List {
	list, _ := listTargets(context.Background())
	return list
}
