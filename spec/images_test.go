package spec

import (
	"reflect"
	"strings"
	"testing"
)

// k8sImages starts a kubernetes section in block style; its images key is
// on line 10 and the first entry goes on line 11.
const k8sImages = header + "kubernetes:\n  version: v1.31.2\n" + k8sPinsBlock + "  images:\n"

func TestImagesDecoding(t *testing.T) {
	doc := k8sImages +
		"    - kube-proxy\n" + // line 11
		"    - name: pause\n" +
		"      url: https://mirror.example/images/pause-3.10.tar\n" +
		"      x-note: built in-house\n" +
		"    - {name: kube-apiserver, sha256: &sum " + testSum + "}\n" + // line 15
		"    - {name: coredns, url: 'http://10.0.0.1/coredns.tar', sha256: *sum}\n"
	s := mustLoad(t, "node.yaml", []byte(doc), nil)
	want := []Image{
		{Name: "kube-proxy"},
		{Name: "pause", URL: "https://mirror.example/images/pause-3.10.tar"},
		{Name: "kube-apiserver", SHA256: testSum},
		{Name: "coredns", URL: "http://10.0.0.1/coredns.tar", SHA256: testSum},
	}
	if got := s.Image.Kubernetes.Images; !reflect.DeepEqual(got, want) {
		t.Errorf("images %#v\nwant %#v", got, want)
	}
	for field, want := range map[string]Pos{
		"kubernetes.images":            {10, 3},
		"kubernetes.images[0]":         {11, 7},
		"kubernetes.images[1].url":     {13, 7},
		"kubernetes.images[2].sha256":  {15, 30},
		"kubernetes.images[3].name":    {16, 8},
		"kubernetes.images[1].x-note":  {},
		"kubernetes.images[0].name":    {},
		"kubernetes.images[4]":         {},
		"kubernetes.images[2].missing": {},
	} {
		got, ok := s.Position(field)
		if got != want || ok != (want != Pos{}) {
			t.Errorf("Position(%q) = %v, %v; want %v", field, got, ok, want)
		}
	}
}

func TestImagesErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "unknown release image, with a suggestion",
			doc:  k8sImages + "    - kube-prxy\n",
			want: `node.yaml:11:7: kubernetes.images[0]: unknown release image "kube-prxy"; release images are kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy (did you mean "kube-proxy"?); for any other image write {name: kube-prxy, url: <tarball URL>, sha256: <64 hex>}`,
		},
		{
			name: "another image without a url",
			doc:  k8sImages + "    - {name: coredns, sha256: " + testSum + "}\n",
			want: `node.yaml:11:8: kubernetes.images[0].name: unknown release image "coredns"; release images are kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy; for any other image write {name: coredns, url: <tarball URL>, sha256: <64 hex>}`,
		},
		{
			name: "missing name, bad url and bad sha256, all at once",
			doc: k8sImages +
				"    - url: https://mirror.example/x.tar\n" +
				"    - {name: Pause, url: ftp://mirror.example/pause.tar, sha256: " + strings.ToUpper(testSum) + "}\n" +
				"    - {name: etcd, url: 'https://mirror.example/images/'}\n",
			want: "node.yaml:11:7: kubernetes.images[0].name: required; name a release image (kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy), or name the tarball given by url\n" +
				`node.yaml:12:8: kubernetes.images[1].name: invalid image name "Pause"; use up to 63 lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit (it names /usr/lib/strata/images/NAME.tar)` + "\n" +
				`node.yaml:12:21: kubernetes.images[1].url: invalid URL "ftp://mirror.example/pause.tar"; use the http:// or https:// URL of the image tarball` + "\n" +
				`node.yaml:12:58: kubernetes.images[1].sha256: invalid sha256 "` + strings.ToUpper(testSum) + `"; use the 64 lowercase hex digits (as sha256sum prints them)` + "\n" +
				`node.yaml:13:20: kubernetes.images[2].url: invalid URL "https://mirror.example/images/"; use the http:// or https:// URL of the image tarball`,
		},
		{
			name: "duplicate image in both forms",
			doc:  k8sImages + "    - kube-proxy\n    - {name: kube-proxy, sha256: " + testSum + "}\n",
			want: `node.yaml:12:8: kubernetes.images[1].name: duplicate image "kube-proxy", already listed as kubernetes.images[0]; list each image once`,
		},
		{
			name: "unknown field in an entry",
			doc:  k8sImages + "    - {name: pause, uri: https://mirror.example/pause.tar}\n",
			want: `node.yaml:11:21: kubernetes.images[0].uri: unknown field "uri" in kubernetes.images[0]; allowed: name, url, sha256 (did you mean "url"?)`,
		},
		{
			name: "a list where an entry goes",
			doc:  k8sImages + "    - [kube-proxy]\n",
			want: `node.yaml:11:7: kubernetes.images[0]: must be a release image name such as kube-proxy, or a mapping with fields name, url, sha256, got a list`,
		},
		{
			name: "a mapping where the list goes",
			doc:  header + "kubernetes: {" + k8sPins + ", images: {kube-proxy: true}}\n",
			want: `node.yaml:4:94: kubernetes.images: must be a list of images, each a release image name such as kube-proxy, or a mapping with fields name, url, sha256, got a mapping`,
		},
		{
			name: "null entry",
			doc:  k8sImages + "    - kube-proxy\n    -\n",
			want: `node.yaml:12:6: kubernetes.images[1]: must be a release image name such as kube-proxy, or a mapping with fields name, url, sha256, got null; remove the empty entry`,
		},
	})
}

func TestImagesBuildArg(t *testing.T) {
	base := header + "kubernetes: {" + k8sPins + ", images: [kube-proxy, {name: pause, url: 'https://m.example/p.tar'}]}\n"
	s := mustLoad(t, "node.yaml", []byte(base), map[string]string{"KUBERNETES_IMAGES": " kube-apiserver,kube-scheduler ,,"})
	want := []Image{{Name: "kube-apiserver"}, {Name: "kube-scheduler"}}
	if got := s.Image.Kubernetes.Images; !reflect.DeepEqual(got, want) {
		t.Errorf("images %#v, want %#v", got, want)
	}
	if p, ok := s.Position("kubernetes.images[1].url"); ok {
		t.Errorf("stale position %v for a replaced entry", p)
	}
	cleared := mustLoad(t, "node.yaml", []byte(base), map[string]string{"KUBERNETES_IMAGES": ""})
	if cleared.Image.Kubernetes.Images != nil {
		t.Errorf("an empty KUBERNETES_IMAGES left %#v", cleared.Image.Kubernetes.Images)
	}
	none := mustLoad(t, "node.yaml", []byte(header+"kubernetes: {"+k8sPins+"}\n"), nil)
	if cleared.Digest() != none.Digest() {
		t.Error("a cleared images list hashes unlike no list")
	}

	_, err := Load("node.yaml", []byte(base), map[string]string{"KUBERNETES_IMAGES": "kube-proxy,pause"}, testDistros)
	const msg = `node.yaml:4:94: kubernetes.images[1]: unknown release image "pause"; release images are kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy; for any other image write {name: pause, url: <tarball URL>, sha256: <64 hex>} (set by build arg KUBERNETES_IMAGES)`
	if err == nil || err.Error() != msg {
		t.Errorf("err = %v\nwant %s", err, msg)
	}
}

// TestImagesDigest: the list reaches the digest in order, the short and the
// long form of a release image are the same image, and a spec without
// images keeps the digest it had before the field existed.
func TestImagesDigest(t *testing.T) {
	base := header + "kubernetes: {" + k8sPins
	docs := []string{
		base + "}\n",
		base + ", images: [kube-proxy]}\n",
		base + ", images: [kube-proxy, kube-scheduler]}\n",
		base + ", images: [kube-scheduler, kube-proxy]}\n",
		base + ", images: [{name: kube-proxy, sha256: " + testSum + "}]}\n",
		base + ", images: [{name: pause, url: 'https://m.example/p.tar'}]}\n",
		base + ", images: [{name: pause, url: 'https://m.example/q.tar'}]}\n",
	}
	seen := map[string]int{}
	for i, doc := range docs {
		d := mustLoad(t, "node.yaml", []byte(doc), nil).Digest()
		if j, dup := seen[d]; dup {
			t.Errorf("same digest for\n%s---\n%s", docs[j], doc)
		}
		seen[d] = i
	}
	short := mustLoad(t, "node.yaml", []byte(base+", images: [kube-proxy]}\n"), nil)
	long := mustLoad(t, "node.yaml", []byte(base+", images: [{name: kube-proxy}]}\n"), nil)
	empty := mustLoad(t, "node.yaml", []byte(base+", images: []}\n"), nil)
	none := mustLoad(t, "node.yaml", []byte(base+"}\n"), nil)
	if short.Digest() != long.Digest() {
		t.Error("kube-proxy and {name: kube-proxy} give different digests")
	}
	if empty.Digest() != none.Digest() {
		t.Error("images: [] and no images give different digests")
	}
}
