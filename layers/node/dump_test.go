package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/encoding/protojson"
)

// dumpGraph renders a state's LLB as stable text for golden files: one block
// per op in marshal order, inputs by op number rather than by digest, so a
// diff shows what changed instead of a cascade of new hashes.
func dumpGraph(t *testing.T, st llb.State) string {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	index := map[digest.Digest]int{}
	var b strings.Builder
	for i, dt := range def.Def {
		dgst := digest.FromBytes(dt)
		index[dgst] = i
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatalf("unmarshal op %d: %v", i, err)
		}
		var inputs []string
		for _, in := range op.Inputs {
			inputs = append(inputs, fmt.Sprintf("op%d[%d]", index[digest.Digest(in.Digest)], in.Index))
		}
		op.Inputs = nil
		name := ""
		if md, ok := def.Metadata[dgst]; ok && md.Description != nil {
			name = md.Description["llb.customname"]
		}
		fmt.Fprintf(&b, "op%d %q inputs=%v\n%s\n", i, name, inputs, stableJSON(t, &op))
	}
	return b.String()
}

// stableJSON undoes protojson's deliberately unstable whitespace.
func stableJSON(t *testing.T, op *pb.Op) string {
	t.Helper()
	raw, err := protojson.Marshal(op)
	if err != nil {
		t.Fatalf("protojson: %v", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "  ", "  "); err != nil {
		t.Fatalf("indent: %v", err)
	}
	return "  " + out.String()
}

// graphDigest identifies a state's whole graph.
func graphDigest(t *testing.T, st llb.State) digest.Digest {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return digest.FromBytes(def.Def[len(def.Def)-1])
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func itoa(n int) string { return fmt.Sprint(n) }

// compareGolden checks got against the golden file at path, rewriting it
// first under -update.
func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("graph differs from %s (go test ./layers/node -update to accept):\n%s", path, firstDiff(string(want), got))
	}
}
