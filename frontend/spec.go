package frontend

import (
	"errors"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	oslayer "github.com/strata-dev/strata/layers/os"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/spec"
)

// loadSpec parses and validates the spec. Spec errors are the one place where
// positions become BuildKit source info, so that users see node.yaml:12:5
// with the offending line.
func loadSpec(src *dockerui.Source, buildArgs map[string]string) (*spec.Spec, error) {
	sp, err := spec.Load(src.Filename, src.Data, buildArgs, overlays.Defaults())
	if err != nil {
		return nil, withSource(err, src)
	}
	return sp, nil
}

// withSource attaches the location of the first spec error; the message
// still lists every error.
func withSource(err error, src *dockerui.Source) error {
	var first *spec.Error
	var list spec.ErrorList
	switch {
	case errors.As(err, &list) && len(list) > 0:
		first = list[0]
	case errors.As(err, &first):
	default:
		return err
	}
	if first.Pos.Line == 0 {
		return err
	}
	return errdefs.WithSource(err, &errdefs.Source{
		Info:   sourceInfo(src),
		Ranges: []*pb.Range{lineRange(first.Pos)},
	})
}

func sourceInfo(src *dockerui.Source) *pb.SourceInfo {
	info := &pb.SourceInfo{Filename: src.Filename, Data: src.Data, Language: "yaml"}
	if src.Definition != nil {
		info.Definition = src.Definition.ToPB()
	}
	return info
}

func lineRange(p spec.Pos) *pb.Range {
	return &pb.Range{
		Start: &pb.Position{Line: int32(p.Line), Character: int32(p.Column)},
		End:   &pb.Position{Line: int32(p.Line), Character: int32(p.Column)},
	}
}

// locator tags graph steps with the YAML location of the field that caused
// them, so BuildKit points a failing step at its line.
func locator(sp *spec.Spec, src *dockerui.Source) oslayer.Locator {
	return func(field string) llb.ConstraintsOpt {
		pos, ok := sp.Position(field)
		if !ok {
			// A defaulted field has no line; its parent section does.
			if i := strings.LastIndexAny(field, ".["); i > 0 {
				pos, ok = sp.Position(field[:i])
			}
		}
		if !ok || src.SourceMap == nil {
			return nil
		}
		return src.SourceMap.Location([]*pb.Range{lineRange(pos)})
	}
}
