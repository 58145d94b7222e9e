package formats

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
)

// benchDisks writes a base disk of 512 MiB holding 176 MiB of real data
// (the Go installation's files: binaries, text, archives) and a disk built
// on it as a Kubernetes node disk is built on its OS disk: 44 MiB of new
// files in its holes and 180 rewritten metadata blocks, which leaves about
// 75% of the derived disk's clusters equal to the base's.
func benchDisks(b *testing.B) (base, derived string) {
	b.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skipf("go env GOROOT: %v", err)
	}
	data := testdisk.TreeBytes(b, strings.TrimSpace(string(out)), 220<<20)
	dir := b.TempDir()
	base = testdisk.Filled(b, dir, "base.raw", 512<<20, data[:176<<20])
	derived = testdisk.Derived(b, dir, base, testdisk.Change{Seed: 1, Added: 44 << 20, Rewrites: 180, Data: data[176<<20:]})
	return base, derived
}

// BenchmarkConvertReuse converts the derived disk of benchDisks without and
// with the base's conversion as reuse image, for each format that reuses,
// and reports both wall times and their ratio (fresh/reuse: how many times
// faster reuse is). One op is both conversions.
func BenchmarkConvertReuse(b *testing.B) {
	base, derived := benchDisks(b)
	for _, name := range []string{"qcow2-compressed", "vmdk"} {
		b.Run(name, func(b *testing.B) {
			f, _ := Lookup(name)
			dir := b.TempDir()
			at := func(sub string) string {
				testdisk.MkdirAll(b, filepath.Join(dir, sub))
				return filepath.Join(dir, sub, f.OutputName(derived))
			}
			baseImg := filepath.Join(dir, f.OutputName(base))
			if _, err := Convert(context.Background(), base, baseImg, f, Options{}); err != nil {
				b.Fatal(err)
			}
			var fresh, reused time.Duration
			var res *Result
			for b.Loop() {
				start := time.Now()
				if _, err := Convert(context.Background(), derived, at("fresh"), f, Options{}); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				var err error
				if res, err = Convert(context.Background(), derived, at("reused"), f, Options{Reuse: &Reuse{Raw: base, Image: baseImg}}); err != nil {
					b.Fatal(err)
				}
				fresh, reused = fresh+mid.Sub(start), reused+time.Since(mid)
			}
			testdisk.SameFile(b, at("fresh"), at("reused"))
			s := res.Reuse
			if s.Ignored != "" {
				b.Fatalf("reuse image ignored: %s", s.Ignored)
			}
			n := float64(b.N)
			b.ReportMetric(fresh.Seconds()/n, "fresh-s/op")
			b.ReportMetric(reused.Seconds()/n, "reuse-s/op")
			b.ReportMetric(fresh.Seconds()/reused.Seconds(), "fresh/reuse")
			b.ReportMetric(100*float64(s.Reused)/float64(s.Reused+s.Compressed), "%reused")
		})
	}
}
