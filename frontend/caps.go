package frontend

import (
	"fmt"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
)

// testedBuildKit is the buildkitd version the e2e tier runs against.
const testedBuildKit = "v0.26.3"

// capability is a BuildKit feature strata's graphs or solves rely on.
type capability struct {
	id    apicaps.CapID
	what  string
	since string // the first BuildKit release with it, where known
}

// llbCaps are needed by the graphs, gatewayCaps by the frontend's own calls.
var (
	llbCaps = []capability{
		{pb.CapMergeOp, "merging the layers (MergeOp)", "v0.10.0"},
		{pb.CapSourceHTTPChecksum, "checksum-verified downloads", ""},
		{pb.CapSourceHTTPPerm, "executable downloads", ""},
		{pb.CapExecMountCache, "apt cache mounts", ""},
		{pb.CapExecMetaNetwork, "steps without network", ""},
		{pb.CapExecMountContentCache, "assembling without hashing the whole tree for the cache key", ""},
		{pb.CapFileBase, "file operations", ""},
	}
	gatewayCaps = []capability{
		{gwpb.CapGatewayEvaluateSolve, "fetching checksum files during the build", ""},
		{gwpb.CapReadFile, "reading checksum files and build contexts", ""},
	}
)

// requireCaps fails before any solve when buildkitd is too old, naming what
// is missing instead of letting a solve fail obscurely halfway.
func requireCaps(opts gwclient.BuildOpts) error {
	check := func(set apicaps.CapSet, caps []capability) error {
		for _, c := range caps {
			if err := set.Supports(c.id); err != nil {
				since := ""
				if c.since != "" {
					since = ", which BuildKit has had since " + c.since
				}
				return fmt.Errorf("buildkitd lacks the capability %q (%s)%s: upgrade buildkitd (strata is tested with BuildKit %s)",
					c.id, c.what, since, testedBuildKit)
			}
		}
		return nil
	}
	if err := check(opts.LLBCaps, llbCaps); err != nil {
		return err
	}
	return check(opts.Caps, gatewayCaps)
}
