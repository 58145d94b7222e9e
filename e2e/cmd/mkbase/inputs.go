package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-dev/strata/e2e/ocilayout"
)

// layoutFormat is part of the cache key. Bump it when the layout mkbase
// writes changes for the same tar (for example a new image config field),
// so stale caches are not reused.
const layoutFormat = "ocilayout-v1"

// aptSourcesDir and aptSourcesList are where apt on the host reads its
// sources from.
const (
	aptSourcesList = "/etc/apt/sources.list"
	aptSourcesDir  = "/etc/apt/sources.list.d"
)

// inputs is everything that decides the content of the base image.
type inputs struct {
	Suite   string
	Variant string
	// Include is sorted and free of duplicates, so the order given on the
	// command line does not change the key.
	Include []string
	// GoRoot, when set, is a Go toolchain on the host copied to
	// /usr/local/go, which makes the image stand in for the official golang
	// image; GoVersion (its VERSION file) goes into the key.
	GoRoot    string
	GoVersion string
	// HostCA copies the host's CA bundle into the image, for builds inside
	// it that fetch over TLS through whatever the host trusts (a proxy's
	// CA, say); HostCADigest goes into the key.
	HostCA       bool
	HostCADigest string

	MmdebstrapVersion string
	SourceDateEpoch   string

	// SourcesDigest covers every apt source file on the host, so a mirror
	// change busts the cache. It is a digest because the files may name
	// private mirrors that must not show up in logs.
	SourcesDigest string
	// Sources are the host's apt source files that serve Suite. mmdebstrap
	// copies them into the image, so the build fetches from the mirror the
	// host is set up for, and apt inside BuildKit later does too.
	Sources []string
	// SuiteFrom is set when no host source serves Suite: it is the host's
	// own suite, which Sources then serve, and mmdebstrap gets them with
	// that suite renamed to Suite (see sourcesFor). Debian's archive serves
	// every release under the same URIs, so a bookworm host builds a trixie
	// base from the mirror it is set up for.
	SuiteFrom string
}

// gatherHost fills in the facts taken from the host: mmdebstrap's version,
// SOURCE_DATE_EPOCH and the apt sources among paths.
func (in *inputs) gatherHost(ctx context.Context, paths []string) error {
	out, err := exec.CommandContext(ctx, "mmdebstrap", "--version").Output()
	if err != nil {
		return fmt.Errorf("mmdebstrap --version: %w", err)
	}
	in.MmdebstrapVersion = strings.TrimSpace(string(out))

	if v, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
		}
		in.SourceDateEpoch = v
	}
	return in.readSources(paths, hostSuite())
}

// hostSuite is the host's release codename (VERSION_CODENAME in
// os-release), or "" when it has none.
func hostSuite() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// readSources digests the apt source files at paths and picks those that
// serve the suite or, when none does, those that serve hostSuite.
func (in *inputs) readSources(paths []string, hostSuite string) error {
	h := sha256.New()
	in.Sources, in.SuiteFrom = nil, ""
	var fromHost []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read apt sources: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
		h.Write(data)
		suites := sourceSuites(p, data)
		if slices.ContainsFunc(suites, func(s string) bool { return inSuite(s, in.Suite) }) {
			in.Sources = append(in.Sources, p)
		}
		if hostSuite != "" && slices.ContainsFunc(suites, func(s string) bool { return inSuite(s, hostSuite) }) {
			fromHost = append(fromHost, p)
		}
	}
	in.SourcesDigest = hex.EncodeToString(h.Sum(nil))
	if len(in.Sources) == 0 && len(fromHost) > 0 {
		in.Sources, in.SuiteFrom = fromHost, hostSuite
	}
	return nil
}

// inSuite reports whether an apt suite belongs to the release called
// suite: the suite itself or its -updates, -security, -backports
// companions.
func inSuite(s, suite string) bool {
	return s == suite || strings.HasPrefix(s, suite+"-") || strings.HasPrefix(s, suite+"/")
}

// sourcesFor returns the source files to hand mmdebstrap: Sources, or
// with SuiteFrom set, copies of them written to dir with the suite
// renamed.
func (in *inputs) sourcesFor(dir string) ([]string, error) {
	if in.SuiteFrom == "" {
		return in.Sources, nil
	}
	var out []string
	for i, p := range in.Sources {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read apt sources: %w", err)
		}
		dst := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, filepath.Base(p)))
		if err := os.WriteFile(dst, renameSuite(p, data, in.SuiteFrom, in.Suite), 0o644); err != nil {
			return nil, fmt.Errorf("write apt sources: %w", err)
		}
		out = append(out, dst)
	}
	return out, nil
}

// renameSuite rewrites the suites of an apt source file that belong to
// release from (see inSuite) to the same suites of release to, in either
// format; everything else, mirror URIs included, stays as it is.
func renameSuite(path string, data []byte, from, to string) []byte {
	return mapSuites(path, data, func(s string) string {
		if inSuite(s, from) {
			return to + s[len(from):]
		}
		return s
	})
}

// mapSuites calls rename with each suite an apt source file names, in
// either format, and returns the file with the suites rename returned.
func mapSuites(path string, data []byte, rename func(string) string) []byte {
	deb822 := strings.HasSuffix(path, ".sources")
	lines := strings.SplitAfter(string(data), "\n")
	for i, line := range lines {
		body, comment, hasComment := strings.Cut(strings.TrimRight(line, "\n"), "#")
		var fields []string
		if deb822 {
			key, value, ok := strings.Cut(body, ":")
			if !ok || !strings.EqualFold(strings.TrimSpace(key), "Suites") {
				continue
			}
			for _, s := range strings.Fields(value) {
				fields = append(fields, rename(s))
			}
			body = key + ": " + strings.Join(fields, " ")
		} else {
			fields = strings.Fields(body)
			at := suiteField(fields)
			if at < 0 {
				continue
			}
			fields[at] = rename(fields[at])
			body = strings.Join(fields, " ")
		}
		if hasComment {
			body += " #" + comment
		}
		lines[i] = body + "\n"
	}
	return []byte(strings.Join(lines, ""))
}

// suiteField is the index of the suite in a one-line source's fields
// ("deb [options] URI SUITE COMPONENTS..."), or -1 for other lines.
func suiteField(fields []string) int {
	if len(fields) == 0 || (fields[0] != "deb" && fields[0] != "deb-src") {
		return -1
	}
	i := 1
	if i < len(fields) && strings.HasPrefix(fields[i], "[") {
		for i < len(fields) && !strings.HasSuffix(fields[i], "]") {
			i++
		}
		i++
	}
	if i+1 >= len(fields) {
		return -1
	}
	return i + 1
}

// sourceSuites lists the suites an apt source file names, in either the
// deb822 (.sources) or the one-line format.
func sourceSuites(path string, data []byte) []string {
	var suites []string
	mapSuites(path, data, func(s string) string {
		suites = append(suites, s)
		return s
	})
	return suites
}

// hostSourcePaths lists the files apt on the host reads its sources from.
// Files in sources.list.d with other suffixes are ignored by apt, and so by
// the key.
func hostSourcePaths() []string {
	paths := []string{aptSourcesList}
	entries, err := os.ReadDir(aptSourcesDir)
	if err != nil {
		return paths
	}
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources")) {
			paths = append(paths, filepath.Join(aptSourcesDir, n))
		}
	}
	return paths
}

// describe renders the inputs as the text the cache key hashes.
func (in *inputs) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "format: %s\n", layoutFormat)
	fmt.Fprintf(&b, "suite: %s\n", in.Suite)
	fmt.Fprintf(&b, "variant: %s\n", in.Variant)
	fmt.Fprintf(&b, "include: %s\n", strings.Join(in.Include, ","))
	fmt.Fprintf(&b, "mmdebstrap: %s\n", in.MmdebstrapVersion)
	fmt.Fprintf(&b, "SOURCE_DATE_EPOCH: %s\n", in.SourceDateEpoch)
	fmt.Fprintf(&b, "apt sources digest: %s\n", in.SourcesDigest)
	fmt.Fprintf(&b, "apt sources used: %s\n", strings.Join(in.Sources, " "))
	if in.SuiteFrom != "" {
		// Only then, so that keys of host-suite images stay as they were.
		fmt.Fprintf(&b, "apt sources renamed from suite: %s\n", in.SuiteFrom)
	}
	if in.GoRoot != "" {
		// Only then, so that keys of images without Go stay as they were.
		fmt.Fprintf(&b, "go: %s from %s\n", in.GoVersion, in.GoRoot)
	}
	if in.HostCA {
		fmt.Fprintf(&b, "host CA bundle: %s\n", in.HostCADigest)
	}
	return b.String()
}

// key is the cache directory name: a short digest of describe. 16 hex
// digits keep paths readable while collisions stay out of reach for a
// handful of fixtures.
func (in *inputs) key() string {
	sum := sha256.Sum256([]byte(in.describe()))
	return hex.EncodeToString(sum[:])[:16]
}

// refName is the layout's org.opencontainers.image.ref.name; the digest is
// what BuildKit resolves, so the name only needs to tell fixtures apart.
func (in *inputs) refName() string {
	return "strata-e2e-base:" + in.Suite + "-" + in.Variant + "-" + in.key()
}

// mmdebstrapArgs returns mmdebstrap's arguments to write a tar to out.
// Without host sources serving the suite, mmdebstrap falls back to its
// built-in default mirror.
func (in *inputs) mmdebstrapArgs(out string, sources []string) []string {
	args := []string{"--variant=" + in.Variant}
	if len(in.Include) > 0 {
		args = append(args, "--include="+strings.Join(in.Include, ","))
	}
	if in.GoRoot != "" {
		args = append(args, `--customize-hook=mkdir -p "$1/usr/local" && cp -a `+in.GoRoot+` "$1/usr/local/go"`)
	}
	if in.HostCA {
		args = append(args, `--customize-hook=mkdir -p "$1/etc/ssl/certs" && cp `+hostCABundle+` "$1/etc/ssl/certs/ca-certificates.crt"`)
	}
	args = append(args, in.Suite, out)
	return append(args, sources...)
}

// splitList parses a comma-separated package list into a sorted set.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// goImageEnv is the environment of the official golang image, which an
// image with GoRoot stands in for.
var goImageEnv = []string{"PATH=/go/bin:/usr/local/go/bin:" + ocilayout.DefaultPath, "GOPATH=/go", "GOTOOLCHAIN=local"}

// env is the image config's environment.
func (in *inputs) env() []string {
	if in.GoRoot != "" {
		return goImageEnv
	}
	return nil
}

// hostCABundle is where Debian keeps the CAs the host trusts.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// gatherHostCA digests the bundle the image will get.
func (in *inputs) gatherHostCA() error {
	if !in.HostCA {
		return nil
	}
	data, err := os.ReadFile(hostCABundle)
	if err != nil {
		return fmt.Errorf("-host-ca: %w", err)
	}
	sum := sha256.Sum256(data)
	in.HostCADigest = hex.EncodeToString(sum[:])
	return nil
}

// gatherGo reads the toolchain's version, which names it in the key.
func (in *inputs) gatherGo() error {
	if in.GoRoot == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(in.GoRoot, "VERSION"))
	if err != nil {
		return fmt.Errorf("-goroot %s is not a Go toolchain: %w", in.GoRoot, err)
	}
	in.GoVersion, _, _ = strings.Cut(string(data), "\n")
	return nil
}
