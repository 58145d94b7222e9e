package spec

import (
	"reflect"
	"sort"
	"testing"
)

// goldenFullDigest pins the canonical encoding: disk GUIDs and filesystem
// UUIDs derive from the digest, so a change here changes every built disk
// and must be deliberate.
const goldenFullDigest = "sha256:61df87853f749532194884a3afc4974fb7501a5b9e3ef19d859918710863dea1"

func TestDigestStable(t *testing.T) {
	full := mustLoad(t, "full.yaml", readTestdata(t, "full.yaml"), nil)
	if got := full.Digest(); got != goldenFullDigest {
		t.Errorf("full.yaml digest %s, want %s", got, goldenFullDigest)
	}
	if !digestPattern.MatchString(full.Digest()) {
		t.Errorf("digest %q is not sha256:<hex>", full.Digest())
	}

	// The same image written differently has the same digest.
	same := []struct{ a, b string }{
		{"os: {sysctl: {a.b: '1', c.d: '2', e.f: '3'}}\n", "os:\n  sysctl:\n    e.f: 3\n    a.b: 1\n    c.d: 2\n"},
		{"disk: {size: 8192MiB}\n", "disk: {size: 8GiB}\n"},
		{"disk: {size: 8GiB}\n", ""}, // the default
		{"os: {packages: []}\n", "x-note: extension fields do not count\n# nor do comments\n"},
		{"os: {distro: debian}\n", ""},
	}
	for _, tt := range same {
		a := mustLoad(t, "a.yaml", []byte(header+tt.a), nil)
		b := mustLoad(t, "b.yaml", []byte(header+tt.b), nil)
		if a.Digest() != b.Digest() {
			t.Errorf("digests differ for\n%s---\n%s", tt.a, tt.b)
		}
	}
}

// TestDigestSensitive changes every field of the full example, one at a
// time, and expects a new digest each time.
func TestDigestSensitive(t *testing.T) {
	data := readTestdata(t, "full-k8s.yaml")
	seen := map[string]string{mustLoad(t, "full-k8s.yaml", data, nil).Digest(): "original"}
	for i := 0; ; i++ {
		s := mustLoad(t, "full-k8s.yaml", data, nil)
		n := i
		path, ok := mutateNth(reflect.ValueOf(&s.Image).Elem(), "", &n)
		if !ok {
			if len(seen) < 40 {
				t.Errorf("only %d mutations; the walk missed fields", len(seen)-1)
			}
			t.Logf("%d mutations, all with distinct digests", len(seen)-1)
			return
		}
		d := s.Digest()
		if prev, dup := seen[d]; dup {
			t.Errorf("changing %s gives the same digest as %s", path, prev)
		}
		seen[d] = path
	}
}

// mutateNth changes the *n-th changeable thing in v (counting down *n)
// and reports its path. Each leaf, each list (by appending) and each map
// (by adding a key) counts once.
func mutateNth(v reflect.Value, path string, n *int) (string, bool) {
	hit := func() bool {
		if *n == 0 {
			return true
		}
		*n--
		return false
	}
	switch v.Kind() {
	case reflect.String:
		if hit() {
			v.SetString(v.String() + "x")
			return path, true
		}
	case reflect.Int64:
		if hit() {
			v.SetInt(v.Int() + int64(MiB))
			return path, true
		}
	case reflect.Pointer:
		if hit() {
			v.Set(reflect.Zero(v.Type()))
			return path + " (removed)", true
		}
		return mutateNth(v.Elem(), path, n)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if p, ok := mutateNth(v.Field(i), joinPath(path, fieldNames(v.Type())[i]), n); ok {
				return p, true
			}
		}
	case reflect.Slice:
		if hit() {
			v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
			return path + " (appended)", true
		}
		for i := 0; i < v.Len(); i++ {
			if p, ok := mutateNth(v.Index(i), index(path, i), n); ok {
				return p, true
			}
		}
	case reflect.Map:
		if hit() {
			v.SetMapIndex(reflect.ValueOf("added.key"), reflect.ValueOf("1"))
			return path + " (added)", true
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			if hit() {
				v.SetMapIndex(k, reflect.ValueOf(v.MapIndex(k).String()+"x"))
				return path + "." + k.String(), true
			}
		}
	}
	return "", false
}
