package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// strata runs the CLI with args and returns what it printed.
func strata(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	root.SetArgs(args)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	err := root.Execute()
	return out.String(), err
}

// relatedDisks writes base.raw, 8 MiB of compressible data, and disk.raw,
// the same with its last 2 MiB rewritten and 1 MiB added past the data.
func relatedDisks(t *testing.T, dir string) (base, disk string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	text := func(n int) []byte {
		b := make([]byte, 0, n)
		for len(b) < n {
			b = fmt.Appendf(b, "%d kubelet %x\n", rng.IntN(1000), rng.Uint32())
		}
		return b[:n]
	}
	data := text(8 << 20)
	base, disk = filepath.Join(dir, "base.raw"), filepath.Join(dir, "disk.raw")
	for _, f := range []struct {
		path string
		data []byte
	}{
		{base, data},
		{disk, append(append(data[:6<<20:6<<20], text(2<<20)...), text(1<<20)...)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f.path, 16<<20); err != nil {
			t.Fatal(err)
		}
	}
	return base, disk
}

var reusedRE = regexp.MustCompile(`reused (\d+) of (\d+) clusters`)

func TestConvertReuse(t *testing.T) {
	dir := t.TempDir()
	base, disk := relatedDisks(t, dir)
	out := func(name string) string { return filepath.Join(dir, name) }
	for _, args := range [][]string{
		{"convert", "--provider", "qemu", "--seed", "s", "-o", out("base"), base},
		{"convert", "--provider", "qemu", "--seed", "s", "-o", out("fresh"), disk},
	} {
		if _, err := strata(t, args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, reuse := range []string{out("base"), out("base/base.qcow2")} {
		stdout, err := strata(t, "convert", "--provider", "qemu", "--seed", "s", "-o", out("reused"),
			"--reuse", reuse, "--reuse-raw", base, disk)
		if err != nil {
			t.Fatal(err)
		}
		m := reusedRE.FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("no reuse figures in:\n%s", stdout)
		}
		// 6 of the 9 MiB of data are the base's.
		if reused, _ := strconv.Atoi(m[1]); reused != 96 || m[2] != "144" {
			t.Errorf("reused %s of %s clusters, want 96 of 144", m[1], m[2])
		}
		for _, f := range []string{"disk.qcow2", "manifest.json"} {
			a, _ := os.ReadFile(filepath.Join(out("fresh"), f))
			b, _ := os.ReadFile(filepath.Join(out("reused"), f))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("--reuse %s: %s differs from the conversion without reuse", reuse, f)
			}
		}
	}
}

func TestConvertReuseFlags(t *testing.T) {
	dir := t.TempDir()
	base, disk := relatedDisks(t, dir)
	_, err := strata(t, "convert", "--format", "vmdk", "--reuse", base, "-o", dir, disk)
	var ec exitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != 2 {
		t.Errorf("--reuse without --reuse-raw: %v, want exit status 2", err)
	}
	stdout, err := strata(t, "convert", "--format", "vhd", "--reuse", base, "--reuse-raw", base, "-o", dir, disk)
	if err != nil || !regexp.MustCompile(`reuse image ignored: VHD compresses nothing`).MatchString(stdout) {
		t.Errorf("vhd with --reuse: %v\n%s", err, stdout)
	}
}
