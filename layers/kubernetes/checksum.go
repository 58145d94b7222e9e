package kubernetes

import (
	"fmt"
	"regexp"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

var hexDigest = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// ParseChecksum reads a published checksum file. Two formats exist
// upstream: a bare hex digest (dl.k8s.io, crictl, CNI) and sha256sum lines
// "<hex>  <file>" (containerd, runc), where the line for file is used.
func ParseChecksum(data []byte, file string) (digest.Digest, error) {
	text := strings.TrimSpace(string(data))
	if hexDigest.MatchString(text) {
		return digest.NewDigestFromEncoded(digest.SHA256, strings.ToLower(text)), nil
	}
	lines := strings.Split(text, "\n")
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) != 2 || !hexDigest.MatchString(fields[0]) {
			return "", fmt.Errorf("unexpected format: want a sha256 hex digest, or sha256sum lines \"<digest>  <file>\"; got %q", firstLine(text))
		}
		name := strings.TrimPrefix(fields[1], "*") // sha256sum's binary-mode marker
		if name == file || strings.HasSuffix(name, "/"+file) {
			return digest.NewDigestFromEncoded(digest.SHA256, strings.ToLower(fields[0])), nil
		}
	}
	return "", fmt.Errorf("no line for %s among %d entries", file, len(lines))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return line
}
