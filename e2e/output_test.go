package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOutputTimesFollowSourceDateEpoch: with SOURCE_DATE_EPOCH, every file
// strata build writes into -o DIR has that time, the image it reads
// directly from the builder as well as the files the export's tar brings,
// as BuildKit's exporter gives them.
func TestOutputTimesFollowSourceDateEpoch(t *testing.T) {
	r, srv := requireRelease(t)
	const epoch = 1700000000
	out := filepath.Join(env.workDir, "sysext-epoch")
	log, err := strataBuild(k8sSpec, "kubernetes-sysext", out,
		append(versionArgs(r, srv.URL()), "--build-arg", "SOURCE_DATE_EPOCH=1700000000")...)
	if err != nil {
		t.Fatalf("strata build: %v\n%s", err, tail(log, 80))
	}
	image := sysextFile(r.Kubernetes)
	if !strings.Contains(log, "copying /"+image+" to ") {
		t.Fatalf("the build did not read %s directly:\n%s", image, tail(log, 40))
	}
	for _, name := range []string{image, "SHA256SUMS"} {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(time.Unix(epoch, 0)) {
			t.Errorf("%s has mtime %v, want SOURCE_DATE_EPOCH %v", name, fi.ModTime().UTC(), time.Unix(epoch, 0).UTC())
		}
	}
}
