package spec

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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
		// The new kubernetes fields: a default spelt out, and the ways of
		// overriding no artifact at all.
		{"kubernetes: {" + k8sPins + ", sandboxImage: registry.k8s.io/pause:3.10}\n", "kubernetes: {" + k8sPins + "}\n"},
		{"kubernetes: {" + k8sPins + ", sandboxImage: ''}\n", "kubernetes: {" + k8sPins + "}\n"},
		{"kubernetes: {" + k8sPins + ", artifacts: ~}\n", "kubernetes: {" + k8sPins + "}\n"},
		{"kubernetes: {" + k8sPins + ", artifacts: {}}\n", "kubernetes: {" + k8sPins + "}\n"},
		{"kubernetes: {" + k8sPins + ", artifacts: {kubelet: {}, cni: {url: '', sha256: ~}}}\n", "kubernetes: {" + k8sPins + "}\n"},
		{"kubernetes: {" + k8sPins + ", artifacts: {kubelet: {url: 'https://m.example/k', x-a: 1}, runc: {}}}\n",
			"kubernetes: {" + k8sPins + ", artifacts: {kubelet: {url: 'https://m.example/k'}}}\n"},
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
	if v.Type() == checkListType {
		// One thing to change: the list, by an entry more.
		if hit() {
			v.Set(reflect.ValueOf(appendCheck(v.Interface().(CheckList), "module: added")))
			return path + " (appended)", true
		}
		return "", false
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
		if v.IsNil() {
			// A section the example leaves out (os.baseDisk) counts
			// once: by adding it empty.
			if hit() {
				v.Set(reflect.New(v.Type().Elem()))
				return path + " (added)", true
			}
			return "", false
		}
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

// TestDigestNewKubernetesFields checks that sandboxImage and each artifact
// override reach the digest, and that a value counts the same whether the
// file or a build arg sets it.
func TestDigestNewKubernetesFields(t *testing.T) {
	base := "kubernetes: {" + k8sPins
	docs := []string{
		base + "}\n",
		base + ", sandboxImage: registry.k8s.io/pause:3.9}\n",
		base + ", artifacts: {kubelet: {url: 'https://m.example/bin'}}}\n",
		base + ", artifacts: {kubeadm: {url: 'https://m.example/bin'}}}\n", // same URL, other artifact
		base + ", artifacts: {kubelet: {url: 'https://m.example/bin', sha256: " + testSum + "}}}\n",
		base + ", artifacts: {kubelet: {sha256: " + testSum + "}}}\n",
		base + ", artifacts: {cni: {sha256: " + testSum + "}}}\n",
		base + ", artifacts: {cni: {url: 'https://m.example/bin'}}}\n",
	}
	seen := map[string]int{}
	for i, doc := range docs {
		d := mustLoad(t, "node.yaml", []byte(header+doc), nil).Digest()
		if j, dup := seen[d]; dup {
			t.Errorf("same digest for\n%s---\n%s", docs[j], doc)
		}
		seen[d] = i
	}

	file := mustLoad(t, "node.yaml", []byte(header+base+", sandboxImage: mirror.example/pause:3.10}\n"), nil)
	arg := mustLoad(t, "node.yaml", []byte(header+base+"}\n"), map[string]string{"KUBERNETES_SANDBOX_IMAGE": "mirror.example/pause:3.10"})
	if file.Digest() != arg.Digest() {
		t.Error("sandboxImage from the file and from KUBERNETES_SANDBOX_IMAGE give different digests")
	}
}

// TestDigestEncodingWithoutNewFields: the new kubernetes fields add nothing
// to the encoding while they are unset, so full.yaml keeps its golden digest
// (TestDigestStable) and a kubernetes spec written before they existed
// differs only by the defaulted pause image, which is part of the image.
func TestDigestEncodingWithoutNewFields(t *testing.T) {
	// full-k8s.yaml as it was before sandboxImage and artifacts, and its
	// digest then.
	const before = "sha256:454a449b6f510e4f2c23ce2e1dba9d474a65ddc4d4680d31f623663d1516fb8f"
	full := string(readTestdata(t, "full.yaml"))
	doc := strings.Replace(full, "name: debian-12\n", "name: debian-12-k8s\n", 1)
	doc = strings.Replace(doc, "disk:\n", "kubernetes:\n"+
		"  version: v1.36.3\n  containerd: 2.3.2\n  runc: 1.4.3\n  crictl: 1.36.0\n  cni: 1.9.1\n"+
		"  source: https://dl.k8s.io\n  install: rootfs\n"+
		"disk:\n", 1)
	s := mustLoad(t, "old-k8s.yaml", []byte(doc), nil)
	if s.Image.Kubernetes.SandboxImage != "registry.k8s.io/pause:3.10.2" || s.Image.Kubernetes.Artifacts != nil {
		t.Fatalf("unexpected kubernetes section %#v", s.Image.Kubernetes)
	}
	withDefault := s.Digest()
	s.Image.Kubernetes.SandboxImage = ""
	s.Image.Kubernetes.Bootstrap = ""
	if got := s.Digest(); got != before {
		t.Errorf("without sandboxImage, digest %s; want the old %s", got, before)
	}
	if withDefault == before {
		t.Error("the defaulted sandboxImage does not reach the digest")
	}
}

func TestOSDigestLeavesKubernetesOut(t *testing.T) {
	load := func(y string) *Spec { return mustLoad(t, "node.yaml", []byte(header+y), nil) }
	a := load("kubernetes: {" + k8sPins + "}\n")
	b := load("kubernetes: {" + strings.Replace(k8sPins, "version: v1.31.2", "version: v1.31.3", 1) + "}\n")
	if a.Digest() == b.Digest() {
		t.Fatal("the test specs should differ in their kubernetes version")
	}
	if a.OSDigest() != b.OSDigest() {
		t.Error("a Kubernetes version bump changed the OS digest")
	}
	if c := load("os: {packages: [curl]}\nkubernetes: {" + k8sPins + "}\n"); c.OSDigest() == a.OSDigest() {
		t.Error("an OS package change left the OS digest alone")
	}
	if plain := load("os: {packages: [curl]}\n"); plain.OSDigest() != plain.Digest() {
		t.Error("without a kubernetes section the OS digest should be the digest")
	}
	if a.Image.Kubernetes == nil {
		t.Error("OSDigest changed the spec")
	}
}

// appendCheck returns l with one more entry, given in YAML.
func appendCheck(l CheckList, entry string) CheckList {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("- "+entry+"\n"), &doc); err != nil {
		panic(err)
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	if l.node != nil {
		seq.Content = append(seq.Content, l.node.Content...)
	}
	seq.Content = append(seq.Content, doc.Content[0].Content...)
	return CheckList{node: seq}
}

// TestDigestValidate: the validate: list reaches the digest, entry by
// entry, and not through how it is written; and it stays out of the OS
// digest, since the OS disk does not carry the checks file.
func TestDigestValidate(t *testing.T) {
	load := func(y string) *Spec { return mustLoad(t, "node.yaml", []byte(header+y), nil) }
	none := load("")
	if load("validate: []\n").Digest() != none.Digest() || load("validate: ~\n").Digest() != none.Digest() {
		t.Error("an empty validate: list changes the digest")
	}
	same := []struct{ a, b string }{
		{"validate: [{sysctl: net.ipv4.ip_forward, value: 1}]\n", "validate:\n  # a comment\n  - value: '1'\n    sysctl: net.ipv4.ip_forward\n    x-why: extension keys do not count\n"},
		{"validate: [{file: /a, contains: &w [x]}, {file: /b, contains: *w}]\n", "validate: [{file: /a, contains: [x]}, {file: /b, contains: [x]}]\n"},
	}
	for _, tt := range same {
		if load(tt.a).Digest() != load(tt.b).Digest() {
			t.Errorf("digests differ for\n%s---\n%s", tt.a, tt.b)
		}
	}
	seen := map[string]string{none.Digest(): "none"}
	for _, y := range []string{
		"validate: [{file: /etc/hostname}]\n",
		"validate: [{file: /etc/hostnam}]\n",
		"validate: [{file: /etc/hostname, absent: true}]\n",
		"validate: [{file: /etc/hostname}, {file: /etc/hostname}]\n",
		"validate: [{module: overlay}]\n",
		"validate: [{module: overlay, name: mine}]\n",
		"validate: [{service: kubelet, state: [enabled]}]\n",
		"validate: [{service: kubelet, state: [enabled, static]}]\n",
	} {
		s := load(y)
		if prev, dup := seen[s.Digest()]; dup {
			t.Errorf("same digest for\n%s---\n%s", prev, y)
		}
		seen[s.Digest()] = y
		if s.OSDigest() != none.OSDigest() {
			t.Errorf("validate: changes the OS digest:\n%s", y)
		}
	}
}
