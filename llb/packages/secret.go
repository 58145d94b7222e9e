package packages

import (
	"fmt"

	"github.com/moby/buildkit/client/llb"
)

// WithAuthSecret returns f with the BuildKit secret id mounted at
// f.AuthFile in every install step, so that the package manager logs in
// to a private mirror. A secret mount is a tmpfs file of the step alone:
// the credentials reach no layer, and the steps' cache keys hold the ID,
// never the value.
func (f Family) WithAuthSecret(id string) (Family, error) {
	if f.AuthFile == "" {
		return Family{}, fmt.Errorf("its package manager takes no mirror credentials")
	}
	f.authSecret = id
	return f, nil
}

// authMount is the secret mount of f's install steps. Owner root and mode
// 0600 are what apt_auth.conf(5) asks of the file; apt reads it before it
// drops privileges.
func authMount(f Family) llb.RunOption {
	return llb.AddSecret(f.AuthFile, llb.SecretID(f.authSecret), llb.SecretFileOpt(0, 0, 0o600))
}
