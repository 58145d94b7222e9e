package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// debSource is a Debian package that stands in for an upstream release
// artifact: the real program, built by Debian from the same upstream
// version, repacked into the upstream layout.
type debSource struct {
	// Package is the apt package name.
	Package string
	// Dir is where the package installs the files the artifact is made of.
	Dir string
	// Require are files in Dir the artifact cannot do without; the build
	// fails when Debian stops shipping one of them.
	Require []string
}

// The Debian packages behind the tree. Debian installs the CNI plugins in
// /usr/lib/cni, not upstream's /opt/cni/bin; only the tarball's members
// matter here, and they sit at its top either way.
var (
	containerdDeb = debSource{
		Package: "containerd",
		Dir:     "usr/bin",
		Require: []string{"containerd", "containerd-shim-runc-v2", "ctr"},
	}
	runcDeb = debSource{
		Package: "runc",
		Dir:     "usr/sbin",
		Require: []string{"runc"},
	}
	cniDeb = debSource{
		Package: "containernetworking-plugins",
		Dir:     "usr/lib/cni",
		Require: []string{"bridge", "host-local", "loopback", "portmap"},
	}
)

var debSources = []debSource{containerdDeb, runcDeb, cniDeb}

// debPin is a package at the exact version apt would install.
type debPin struct {
	Package string
	Version string // Debian version, such as 1.6.20~ds1-1+deb12u3
}

// upstreamVersion is the upstream release a Debian version packages: the
// version without epoch, Debian revision and repack suffix
// ("1:1.6.20~ds1-1+deb12u3" -> "1.6.20"). Debian marks a repacked upstream
// tarball with "~ds" or "+ds" (for "dfsg"); the tree serves the artifact
// under the upstream name.
func upstreamVersion(debVersion string) string {
	v := debVersion
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexAny(v, "~+"); i >= 0 {
		v = v[:i]
	}
	return v
}

// resolveDebs finds the version apt would install of each package. Without
// package lists (a fresh machine) it runs apt-get update once and asks
// again.
func resolveDebs(ctx context.Context, sources []debSource) ([]debPin, error) {
	var names []string
	for _, s := range sources {
		names = append(names, s.Package)
	}
	pins, err := candidates(ctx, names)
	if err == nil {
		return pins, nil
	}
	log.Printf("%v; running apt-get update", err)
	cmd := exec.CommandContext(ctx, "apt-get", "update")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("apt-get update: %w", err)
	}
	return candidates(ctx, names)
}

// candidates reads the candidate versions from apt-cache policy.
func candidates(ctx context.Context, names []string) ([]debPin, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", append([]string{"policy"}, names...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache policy: %w", exitDetail(err))
	}
	found := parsePolicy(out)
	var pins []debPin
	for _, n := range names {
		v := found[n]
		if v == "" || v == "(none)" {
			return nil, fmt.Errorf("apt has no candidate for %s", n)
		}
		pins = append(pins, debPin{Package: n, Version: v})
	}
	return pins, nil
}

// parsePolicy maps package names to their "Candidate:" versions in
// apt-cache policy output. A package apt does not know is missing.
func parsePolicy(out []byte) map[string]string {
	found := map[string]string{}
	var pkg string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":") {
			pkg = strings.TrimSuffix(line, ":")
			continue
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok && pkg != "" {
			found[pkg] = strings.TrimSpace(v)
		}
	}
	return found
}

// fetchDeb downloads the pinned package into dir and unpacks it into
// dir/root, returning that root. It needs no root privileges: apt-get
// download and dpkg-deb -x only write files.
func fetchDeb(ctx context.Context, pin debPin, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	args := []string{"download", pin.Package + "=" + pin.Version}
	if os.Geteuid() == 0 {
		// As root, apt drops to the _apt user for downloads, which cannot
		// write to a private temporary directory; it would warn and carry
		// on as root anyway.
		args = append([]string{"-o", "APT::Sandbox::User=root"}, args...)
	}
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apt-get download %s=%s: %w", pin.Package, pin.Version, err)
	}
	debs, err := filepath.Glob(filepath.Join(dir, pin.Package+"_*.deb"))
	if err != nil || len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s: expected one .deb, found %d", pin.Package, len(debs))
	}
	root := filepath.Join(dir, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", filepath.Base(debs[0]), err, bytes.TrimSpace(out))
	}
	return root, nil
}

// files lists the regular files in the source's directory of an unpacked
// package, sorted, checking that the required ones are there.
func (s debSource) files(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(s.Dir)))
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", s.Package, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, r := range s.Require {
		if !slices.Contains(names, r) {
			return nil, fmt.Errorf("package %s no longer ships /%s/%s", s.Package, s.Dir, r)
		}
	}
	return names, nil
}
