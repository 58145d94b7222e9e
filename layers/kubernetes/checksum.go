package kubernetes

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	digest "github.com/opencontainers/go-digest"
)

var hexDigest = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// checksumFormats is what ParseChecksum accepts, for its error messages.
const checksumFormats = `want a sha256 hex digest, or sha256sum lines "<digest>  <file>"`

// ParseChecksum reads a published checksum file. Two formats exist
// upstream: a bare hex digest (dl.k8s.io, crictl, CNI) and sha256sum lines
// "<hex>  <file>" (containerd, runc), where the line for file is used.
//
// Every line must be well formed, not only the one for file: a file that
// is partly something else (an HTML error page, a sha512 list) is not the
// one upstream published, and trusting any line of it would be a guess.
// Errors name the offending line by number, counted in the file as served.
func ParseChecksum(data []byte, file string) (digest.Digest, error) {
	raw := string(data)
	text := strings.TrimSpace(raw)
	if text == "" {
		return "", fmt.Errorf("the file is empty; %s", checksumFormats)
	}
	if hexDigest.MatchString(text) {
		return digest.NewDigestFromEncoded(digest.SHA256, strings.ToLower(text)), nil
	}
	// Leading blank lines were trimmed; count them so line numbers match
	// what a user sees with curl.
	first := strings.Count(raw[:len(raw)-len(strings.TrimLeftFunc(raw, unicode.IsSpace))], "\n") + 1
	lines := strings.Split(text, "\n")
	var found digest.Digest
	for i, line := range lines {
		fields := strings.Fields(line)
		if len(fields) != 2 || !hexDigest.MatchString(fields[0]) {
			return "", fmt.Errorf("line %d is in an unexpected format: %s; got %q", first+i, checksumFormats, clip(line))
		}
		name := strings.TrimPrefix(fields[1], "*") // sha256sum's binary-mode marker
		if found == "" && (name == file || strings.HasSuffix(name, "/"+file)) {
			found = digest.NewDigestFromEncoded(digest.SHA256, strings.ToLower(fields[0]))
		}
	}
	if found == "" {
		return "", fmt.Errorf("no line for %s among its %d lines", file, len(lines))
	}
	return found, nil
}

// clip shortens a line for an error message; a stray binary or HTML file
// can have very long ones.
func clip(line string) string {
	line = strings.TrimSpace(line)
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return line
}
