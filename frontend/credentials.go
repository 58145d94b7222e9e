package frontend

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/client/llb"
	"github.com/strata-dev/strata/layers/kubernetes"
)

// refused reports whether a fetch failed because the server wants
// credentials or turned down the ones it got, in the words of BuildKit's
// HTTP source and of containerd's registry client.
func refused(msg string) bool {
	for _, s := range []string{"invalid response status 401", "invalid response status 403", "401 Unauthorized", "403 Forbidden"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// baseImageHint says what to check when os.base cannot be resolved: a
// login, when the registry refused access (registry credentials come from
// the client's docker config, never from the spec), else the reference.
func baseImageHint(ref string, err error) string {
	if !refused(err.Error()) {
		return "check the reference and registry access, or pass --build-context " + ContextOSBase + "=..."
	}
	host := "the registry"
	if named, perr := reference.ParseNormalizedNamed(ref); perr == nil {
		host = reference.Domain(named)
	}
	return "the registry refused access: log in with docker login " + host +
		" (strata build, like buildx, reads $DOCKER_CONFIG/config.json or ~/.docker/config.json)"
}

// checksumSource is the download of a's checksum file. It goes to the same
// mirror as the artifact, so it carries the same Authorization secret.
func checksumSource(a kubernetes.Artifact, filename string) llb.State {
	opts := []llb.HTTPOption{llb.Filename(filename),
		llb.WithCustomName(fmt.Sprintf("[kubernetes] fetch checksum of %s: %s", a.Label(), a.ChecksumURL))}
	if a.Secret != "" {
		opts = append(opts, llb.AuthHeaderSecret(a.Secret))
	}
	return llb.HTTP(a.ChecksumURL, opts...)
}

// secretProblem tells a fetch that failed over credentials from any
// other: BuildKit could not get the secret from the client, or the mirror
// refused what was sent (or that nothing was). It returns the field to
// blame and what to do, or ok false.
func secretProblem(a kubernetes.Artifact, err error) (field, hint string, ok bool) {
	msg := err.Error()
	refused := refused(msg)
	switch {
	case a.Secret != "" && strings.Contains(msg, "auth secret "+a.Secret):
		// BuildKit's own words are "failed to retrieve HTTP auth secret
		// ID: secret ID: not found".
		return "kubernetes.sourceSecret", fmt.Sprintf("the build was not given the secret %q that kubernetes.sourceSecret names; pass it with --secret id=%s,env=VAR or --secret id=%s,src=FILE (strata build or docker buildx build), its value the whole Authorization header, e.g. \"Bearer TOKEN\"", a.Secret, a.Secret, a.Secret), true
	case a.Secret != "" && refused:
		return "kubernetes.sourceSecret", fmt.Sprintf("the mirror refused the Authorization header from the secret %q: check its value, which is sent as the whole header (\"Bearer TOKEN\", \"Basic BASE64\")", a.Secret), true
	case refused:
		return "kubernetes.source", "the mirror wants credentials: set kubernetes.sourceSecret to the ID of a secret holding the Authorization header, and pass it with --secret", true
	}
	return "", "", false
}
