package main

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/session/secrets"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
)

func TestParseSecret(t *testing.T) {
	t.Setenv("STRATA_TEST_TOKEN", "x")
	good := map[string]secretsprovider.Source{
		"id=apt,src=/run/apt.conf":              {ID: "apt", FilePath: "/run/apt.conf"},
		"id=apt,source=/run/apt.conf,type=file": {ID: "apt", FilePath: "/run/apt.conf"},
		"id=k8s,env=STRATA_TEST_TOKEN":          {ID: "k8s", Env: "STRATA_TEST_TOKEN"},
		"type=env,id=k8s,src=STRATA_TEST_TOKEN": {ID: "k8s", Env: "STRATA_TEST_TOKEN"},
		"id=STRATA_TEST_TOKEN":                  {ID: "STRATA_TEST_TOKEN"},
	}
	for in, want := range good {
		got, err := parseSecret(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"src=/run/apt.conf":                  "missing id=",
		"id=apt,file=/run/apt.conf":          `unknown key "file"`,
		"id=apt,type=ssh":                    `type "ssh"`,
		"id=apt,/run/apt.conf":               "is not key=value",
		"id=k8s,env=STRATA_TEST_UNSET_XYZ":   "STRATA_TEST_UNSET_XYZ is not set",
		"id=k8s,env=STRATA_TEST_TOKEN,src=f": "both src= and env=",
	}
	for in, want := range bad {
		if _, err := parseSecret(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", in, err, want)
		}
	}
}

// TestSessionAttachables: the session answers buildkitd's questions the
// way buildctl's does: registry credentials from $DOCKER_CONFIG, and
// each --secret by its ID.
func TestSessionAttachables(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("STRATA_TEST_TOKEN", "Bearer t0ken")
	userPass := base64.StdEncoding.EncodeToString([]byte("builder:pa55"))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"localhost:5000":{"auth":"`+userPass+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "apt.conf")
	if err := os.WriteFile(file, []byte("machine http://mirror.example login u password p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	atts, err := sessionAttachables([]string{"id=apt,src=" + file, "id=k8s,env=STRATA_TEST_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var gotAuth, gotSecrets bool
	for _, a := range atts {
		switch a := a.(type) {
		case auth.AuthServer:
			gotAuth = true
			resp, err := a.Credentials(ctx, &auth.CredentialsRequest{Host: "localhost:5000"})
			if err != nil || resp.Username != "builder" || resp.Secret != "pa55" {
				t.Errorf("credentials for localhost:5000: %+v, %v", resp, err)
			}
			if resp, err := a.Credentials(ctx, &auth.CredentialsRequest{Host: "other.example"}); err != nil || resp.Username != "" {
				t.Errorf("credentials for a host the config does not name: %+v, %v", resp, err)
			}
		case secrets.SecretsServer:
			gotSecrets = true
			for id, want := range map[string]string{"apt": "machine http://mirror.example login u password p\n", "k8s": "Bearer t0ken"} {
				resp, err := a.GetSecret(ctx, &secrets.GetSecretRequest{ID: id})
				if err != nil || string(resp.GetData()) != want {
					t.Errorf("secret %s: %q, %v; want %q", id, resp.GetData(), err, want)
				}
			}
			if _, err := a.GetSecret(ctx, &secrets.GetSecretRequest{ID: "other"}); err == nil {
				t.Error("a secret never given was served")
			}
		}
	}
	if !gotAuth || !gotSecrets {
		t.Errorf("attachables %T: auth provider %v, secrets provider %v", atts, gotAuth, gotSecrets)
	}

	if _, err := sessionAttachables([]string{"id=apt,src=" + filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "--secret") {
		t.Errorf("a missing secret file: %v", err)
	}
}

func TestSecretHint(t *testing.T) {
	err := secretHint(errors.New("failed to solve: secret apt-mirror: not found"))
	want := `failed to solve: secret apt-mirror: not found; the build needs the secret "apt-mirror" (the spec names it in os.packageSecret or kubernetes.sourceSecret): pass it with --secret id=apt-mirror,src=FILE or --secret id=apt-mirror,env=VAR`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	for _, plain := range []error{nil, errors.New("process did not complete successfully"),
		errors.New("secret k8s-mirror: not found; pass it with --secret id=k8s-mirror,env=VAR")} {
		if got := secretHint(plain); got != plain {
			t.Errorf("%v became %v", plain, got)
		}
	}
}
