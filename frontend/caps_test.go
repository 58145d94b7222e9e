package frontend

import (
	"strings"
	"testing"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
	apicapspb "github.com/moby/buildkit/util/apicaps/pb"
)

// capsWithout is every capability this BuildKit has, minus drop.
func capsWithout(list *apicaps.CapList, drop apicaps.CapID) apicaps.CapSet {
	var caps []*apicapspb.APICap
	for _, c := range list.All() {
		if c.ID != string(drop) {
			caps = append(caps, c)
		}
	}
	return list.CapSet(caps)
}

func TestRequireCaps(t *testing.T) {
	full := gwclient.BuildOpts{LLBCaps: pb.Caps.CapSet(pb.Caps.All()), Caps: gwpb.Caps.CapSet(gwpb.Caps.All())}
	if err := requireCaps(full); err != nil {
		t.Fatalf("a current buildkitd is refused: %v", err)
	}

	old := full
	old.LLBCaps = capsWithout(&pb.Caps, pb.CapMergeOp)
	err := requireCaps(old)
	if err == nil || !strings.Contains(err.Error(), `buildkitd lacks the capability "mergeop" (merging the layers (MergeOp)), which BuildKit has had since v0.10.0: upgrade buildkitd`) {
		t.Errorf("without mergeop: %v", err)
	}

	old = full
	old.Caps = capsWithout(&gwpb.Caps, gwpb.CapGatewayEvaluateSolve)
	if err := requireCaps(old); err == nil || !strings.Contains(err.Error(), `"gateway.solve.evaluate"`) {
		t.Errorf("without gateway.solve.evaluate: %v", err)
	}
}
