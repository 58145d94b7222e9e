package spec

import "regexp"

// secretIDPattern is what a secret ID may be. BuildKit itself takes any
// string, but an ID is also written on the command line as
// --secret id=ID,src=FILE, where a comma or '=' would split it.
var secretIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// maxSecretIDLen keeps IDs readable in errors and progress; BuildKit has
// no limit of its own.
const maxSecretIDLen = 128

// secretID checks a field that names a BuildKit secret. The spec holds
// the ID only, never a value: the value comes with each build (--secret)
// and so changes no digest.
func (v *validator) secretID(field, id string) {
	if id == "" {
		return
	}
	if len(id) > maxSecretIDLen || !secretIDPattern.MatchString(id) {
		v.fail(field, "invalid secret ID %q; use up to %d letters, digits, '.', '_' and '-', starting with a letter or digit, and pass the secret with --secret id=ID,src=FILE", id, maxSecretIDLen)
	}
}

// sourceSecret checks kubernetes.sourceSecret against kubernetes.source:
// the header goes only to the mirror, never to the upstream hosts.
func (v *validator) sourceSecret(k *Kubernetes) {
	v.secretID("kubernetes.sourceSecret", k.SourceSecret)
	if k.SourceSecret != "" && k.Source == "" {
		v.fail("kubernetes.sourceSecret", "only applies to downloads below kubernetes.source, and none is set; set kubernetes.source to the mirror's URL (the header is never sent to dl.k8s.io or github.com)")
	}
}
