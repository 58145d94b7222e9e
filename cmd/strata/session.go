package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/tonistiigi/go-csvvalue"
)

// sessionAttachables are the services the build's session offers
// buildkitd besides the build contexts, as buildctl and buildx offer
// them: registry credentials from the docker CLI's config (an os.base
// image, --cache-from and --cache-to registries), and the --secret
// values. buildkitd asks for a credential or secret when a step needs
// it, so neither is ever part of the graph.
func sessionAttachables(secrets []string) ([]session.Attachable, error) {
	// $DOCKER_CONFIG/config.json, else ~/.docker/config.json; credential
	// helpers and credsStore work as with docker login. A config that
	// does not parse is reported on stderr and treated as empty, as the
	// docker CLI does.
	dockerConfig := config.LoadDefaultConfigFile(os.Stderr)
	out := []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(dockerConfig),
	})}
	if len(secrets) == 0 {
		return out, nil
	}
	sources := make([]secretsprovider.Source, 0, len(secrets))
	for _, s := range secrets {
		src, err := parseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("--secret %q: %w", s, err)
		}
		sources = append(sources, src)
	}
	store, err := secretsprovider.NewStore(sources)
	if err != nil {
		return nil, fmt.Errorf("--secret: %w", err)
	}
	return append(out, secretsprovider.NewSecretProvider(store)), nil
}

// parseSecret reads one --secret value in buildx's and buildctl's CSV
// form: id=ID[,src=FILE|,env=VAR][,type=file|env]. With neither src nor
// env, the secret comes from the variable named ID if it is set, else from
// the file named ID, as in buildx.
func parseSecret(value string) (secretsprovider.Source, error) {
	fields, err := csvvalue.Fields(value, nil)
	if err != nil {
		return secretsprovider.Source{}, fmt.Errorf("not CSV: %w", err)
	}
	var src secretsprovider.Source
	typ := ""
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return secretsprovider.Source{}, fmt.Errorf("%q is not key=value; use id=ID,src=FILE or id=ID,env=VAR", f)
		}
		switch strings.ToLower(k) {
		case "id":
			src.ID = v
		case "src", "source":
			src.FilePath = v
		case "env":
			src.Env = v
		case "type":
			if v != "file" && v != "env" {
				return secretsprovider.Source{}, fmt.Errorf("type %q: want type=file or type=env", v)
			}
			typ = v
		default:
			return secretsprovider.Source{}, fmt.Errorf("unknown key %q; want id, src, env or type", k)
		}
	}
	if src.ID == "" {
		return secretsprovider.Source{}, fmt.Errorf("missing id=; the ID is what the spec names (os.packageSecret, kubernetes.sourceSecret)")
	}
	// type=env,src=VAR names a variable, as in buildx.
	if typ == "env" && src.Env == "" {
		src.Env, src.FilePath = src.FilePath, ""
	}
	if src.Env != "" && src.FilePath != "" {
		return secretsprovider.Source{}, fmt.Errorf("both src= and env=; give one")
	}
	if src.Env != "" {
		if _, ok := os.LookupEnv(src.Env); !ok {
			return secretsprovider.Source{}, fmt.Errorf("environment variable %s is not set", src.Env)
		}
	}
	return src, nil
}

// missingSecret is how buildkitd words a secret the session does not
// have, for a mount or a download.
var missingSecret = regexp.MustCompile(`secret ([A-Za-z0-9._-]+): not found`)

// secretHint says how to pass a secret the build needed and was not
// given. BuildKit's error names the ID only; the frontend adds the same
// advice where it can (the Kubernetes checksum files), and then it is not
// repeated.
func secretHint(err error) error {
	if err == nil || strings.Contains(err.Error(), "--secret id=") {
		return err
	}
	m := missingSecret.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	return fmt.Errorf("%w; the build needs the secret %q (the spec names it in os.packageSecret or kubernetes.sourceSecret): pass it with --secret id=%s,src=FILE or --secret id=%s,env=VAR", err, m[1], m[1], m[1])
}
