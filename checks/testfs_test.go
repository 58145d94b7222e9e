package checks

import (
	"context"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

// A tree for a test: paths (without the leading slash) to entries.
func file(content string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(content), Mode: 0o644, Sys: &syscall.Stat_t{}}
}

func owned(content string, mode fs.FileMode, uid, gid uint32) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(content), Mode: mode, Sys: &syscall.Stat_t{Uid: uid, Gid: gid}}
}

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777, Sys: &syscall.Stat_t{}}
}

func dir() *fstest.MapFile {
	return &fstest.MapFile{Mode: fs.ModeDir | 0o755, Sys: &syscall.Stat_t{}}
}

// merged is the merged-/usr layout of Debian 12: /lib and /bin are links.
func merged(t fstest.MapFS) fstest.MapFS {
	t["lib"] = link("usr/lib")
	t["bin"] = link("usr/bin")
	t["usr/lib"] = dir()
	t["dev/null"] = &fstest.MapFile{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, Sys: &syscall.Stat_t{}}
	return t
}

// evaluate runs checks against a tree, with a boot entry's command line.
func evaluate(t *testing.T, tree fstest.MapFS, cmdline string, list ...Assertion) []Result {
	t.Helper()
	var cs []Check
	for _, a := range list {
		cs = append(cs, Check{Source: "test", Assert: a})
	}
	img := Image{Root: tree, Cmdline: cmdline}
	if cmdline != "" {
		img.BootEntry = "/loader/entries/test.conf"
	}
	return Run(context.Background(), img, cs)
}

func evaluateOne(t *testing.T, tree fstest.MapFS, a Assertion) Result {
	t.Helper()
	return evaluate(t, tree, "", a)[0]
}

// wantStatus checks one result's status and that its detail mentions
// every word given.
func wantStatus(t *testing.T, r Result, st Status, words ...string) {
	t.Helper()
	if r.Status != st {
		t.Errorf("%s: %s (%s), want %s", r.Name, r.Status, r.Detail, st)
		return
	}
	for _, w := range words {
		if !containsText(r.Detail, w) {
			t.Errorf("%s: detail %q lacks %q", r.Name, r.Detail, w)
		}
	}
}

func containsText(s, sub string) bool { return strings.Contains(s, sub) }
