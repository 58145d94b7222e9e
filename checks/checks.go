// Package checks verifies the content of a built image offline: a
// declarative list of checks (files, packages, services, sysctls, kernel
// modules, the kernel command line) and built-in hygiene checks, run
// against the image's root filesystem as an io/fs file system, with no
// boot. It is Goss parity for image pipelines (image-builder runs Goss in a
// booted VM), without the VM.
//
// Any package can supply checks: build a []Check in Go with a Source that
// says who asked ("spec", "kubernetes layer"), or Load a YAML check file,
// whose checks carry "FILE:LINE" as their source unless an entry names its
// own (source:). Marshal writes such a file, ParseList reads a list of
// entries held in another document (a spec's validate: list). Run
// evaluates checks and every Result repeats its check's name and source.
package checks

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Check is one assertion about an image's content and where it came from.
type Check struct {
	// Name identifies the check in reports. Empty means Assert.Describe(),
	// such as "file /etc/hostname".
	Name string
	// Source says who asked for the check: "hygiene", "spec",
	// "kubernetes layer", "checks.yaml:12".
	Source string
	// Assert is what is checked: a File, Package, Service, Sysctl, Module
	// or Cmdline, or one of the hygiene checks.
	Assert Assertion
}

// Assertion is a kind of check. The kinds are this package's types.
type Assertion interface {
	// Describe names what is checked, for reports: "file /etc/hostname".
	Describe() string
	// validate reports a malformed assertion (a bad mode, a regexp that
	// does not compile) before anything is read.
	validate() error
	// evaluate runs the check against the image.
	evaluate(e *env) Outcome
}

// Validate reports a malformed check (a bad mode, a regexp that does not
// compile, contradicting fields) without reading any image, so that code
// building checks can fail early; Run reports the same as an Error result.
func (c Check) Validate() error {
	if c.Assert == nil {
		return fmt.Errorf("check %q from %s has no assertion", c.Name, c.Source)
	}
	return c.Assert.validate()
}

// wanter is an Assertion that knows up front which paths it reads, so Run
// can fetch them for all checks at once.
type wanter interface {
	wants() []string
}

// Image is what checks run against.
type Image struct {
	// Root is the root filesystem. It should implement fs.ReadLinkFS
	// (Lstat and ReadLink; debugfs.FS, os.DirFS and fstest.MapFS do), and
	// its FileInfo.Sys should be a *syscall.Stat_t for owner checks.
	Root fs.FS
	// Cmdline is the kernel command line of the default boot entry, and
	// BootEntry the file it was read from (on the ESP). With BootEntry
	// empty, cmdline checks report an error: the command line is unknown.
	Cmdline   string
	BootEntry string
}

// Prefetcher is implemented by file systems on which every read is costly
// (debugfs.FS starts a process per read); Run and the checks tell them in
// advance what they will read, in io/fs names.
type Prefetcher interface {
	// Prefetch reads the entries at names, and the contents of the small
	// regular files and the listings of the directories among them.
	Prefetch(names []string) error
	// PrefetchTree reads every entry under a directory.
	PrefetchTree(name string) error
}

// BulkReader is implemented by file systems that stream the contents of
// many files faster than one ReadFile each; the secret scan uses it.
type BulkReader interface {
	ReadFiles(names []string, fn func(name string, r io.Reader) error) error
}

// Status is a check's result.
type Status string

// The statuses. Fail and Error both fail the run: Error means the check
// could not be evaluated (the image lacks what it needs to be judged, or
// reading failed), which a pipeline must not take for a pass.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Error Status = "error"
	Skip  Status = "skip"
)

// Outcome is what evaluating an assertion found.
type Outcome struct {
	Status Status
	// Path is where in the image the finding is, if anywhere.
	Path string
	// Expected and Found say what the check wanted and what the image
	// has, for failures (and Found for passes, where it helps).
	Expected string
	Found    string
	// Detail is a one-line summary; empty means one made of the above.
	Detail string
}

// Result is a check's outcome, with the check's name and source.
type Result struct {
	Name     string `json:"name"`
	Source   string `json:"source"`
	Status   Status `json:"status"`
	Path     string `json:"path,omitempty"`
	Expected string `json:"expected,omitempty"`
	Found    string `json:"found,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// Failed counts the results that fail a run (Fail and Error).
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if r.Status == Fail || r.Status == Error {
			n++
		}
	}
	return n
}

// Run evaluates the checks in order against img. It reads the paths the
// checks name in one batch first, when img.Root is a Prefetcher.
func Run(ctx context.Context, img Image, list []Check) []Result {
	e := newEnv(ctx, img)
	var wanted []string
	for _, c := range list {
		if w, ok := c.Assert.(wanter); ok {
			wanted = append(wanted, w.wants()...)
		}
	}
	e.prefetch(wanted...)
	results := make([]Result, 0, len(list))
	for _, c := range list {
		results = append(results, runOne(e, c))
	}
	return results
}

func runOne(e *env, c Check) Result {
	name := c.Name
	if name == "" && c.Assert != nil {
		name = c.Assert.Describe()
	}
	var o Outcome
	switch err := c.Validate(); {
	case e.ctx.Err() != nil:
		o = errorOutcome("", e.ctx.Err())
	case err != nil:
		o = errorOutcome("", err)
	default:
		o = c.Assert.evaluate(e)
	}
	if o.Detail == "" {
		o.Detail = summary(o)
	}
	return Result{Name: name, Source: c.Source, Status: o.Status, Path: o.Path, Expected: o.Expected, Found: o.Found, Detail: o.Detail}
}

// summary is the detail of an outcome that has none of its own.
func summary(o Outcome) string {
	s := ""
	if o.Path != "" {
		s = o.Path + ": "
	}
	switch {
	case o.Status == Pass && o.Found != "":
		return s + o.Found
	case o.Expected != "" || o.Found != "":
		return s + "want " + o.Expected + ", found " + o.Found
	}
	return o.Path
}

func pass(path, found string) Outcome { return Outcome{Status: Pass, Path: path, Found: found} }

func fail(path, expected, found string) Outcome {
	return Outcome{Status: Fail, Path: path, Expected: expected, Found: found}
}

func errorOutcome(path string, err error) Outcome {
	d := err.Error()
	if path != "" && !strings.Contains(d, path) {
		d = path + ": " + d
	}
	return Outcome{Status: Error, Path: path, Detail: d}
}
