package spec

import (
	"errors"
	"strings"
	"testing"
)

// errorCase is shared by the parse and validate tables: a document and the
// exact text Load must return.
type errorCase struct {
	name string
	doc  string
	want string
}

func runErrorCases(t *testing.T, tests []errorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load("node.yaml", []byte(tt.doc), nil, testDistros)
			if err == nil {
				t.Fatalf("Load succeeded with %#v; want error:\n%s", s.Image, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("wrong error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "unknown top-level field",
			doc:  header + "outputz: [qemu]\n",
			want: `node.yaml:4:1: outputz: unknown field "outputz" at the top level; allowed: apiVersion, kind, name, os, kubernetes, disk, outputs, providers, validate (did you mean "outputs"?)`,
		},
		{
			name: "unknown field without a close match",
			doc:  header + "flavour: vanilla\n",
			want: `node.yaml:4:1: flavour: unknown field "flavour" at the top level; allowed: apiVersion, kind, name, os, kubernetes, disk, outputs, providers, validate`,
		},
		{
			name: "typo in os",
			doc:  header + "os:\n  pakages: [chrony]\n",
			want: `node.yaml:5:3: os.pakages: unknown field "pakages" in os; allowed: base, baseDisk, distro, kernel, packages, packageSecret, files, sysctl, modules, services, run (did you mean "packages"?)`,
		},
		{
			name: "typo nested two levels",
			doc:  header + "disk:\n  root:\n    lable: boot\n",
			want: `node.yaml:6:5: disk.root.lable: unknown field "lable" in disk.root; allowed: filesystem, label (did you mean "label"?)`,
		},
		{
			name: "typo in a list element",
			doc:  header + "os:\n  files:\n    - path: /etc/motd\n      mod: \"0600\"\n",
			want: `node.yaml:7:7: os.files[0].mod: unknown field "mod" in os.files[0]; allowed: path, content, mode (did you mean "mode"?)`,
		},
		{
			name: "wrong case of a field",
			doc:  "apiversion: strata.dev/v1alpha1\n",
			want: `node.yaml:1:1: apiversion: unknown field "apiversion" at the top level; allowed: apiVersion, kind, name, os, kubernetes, disk, outputs, providers, validate (did you mean "apiVersion"?)`,
		},
		{
			name: "typo of sandboxImage",
			doc:  header + "kubernetes:\n  sandbox_image: registry.k8s.io/pause:3.10\n",
			want: `node.yaml:5:3: kubernetes.sandbox_image: unknown field "sandbox_image" in kubernetes; allowed: version, containerd, runc, crictl, cni, source, sourceSecret, install, bootstrap, sandboxImage, artifacts, images, sysext (did you mean "sandboxImage"?)`,
		},
		{
			name: "wrong case of sandboxImage",
			doc:  header + "kubernetes:\n  sandboximage: registry.k8s.io/pause:3.10\n",
			want: `node.yaml:5:3: kubernetes.sandboximage: unknown field "sandboximage" in kubernetes; allowed: version, containerd, runc, crictl, cni, source, sourceSecret, install, bootstrap, sandboxImage, artifacts, images, sysext (did you mean "sandboxImage"?)`,
		},
		{
			name: "unknown artifact",
			doc:  header + "kubernetes:\n  artifacts:\n    kubelett: {url: https://mirror.example/kubelet}\n",
			want: `node.yaml:6:5: kubernetes.artifacts.kubelett: unknown field "kubelett" in kubernetes.artifacts; allowed: kubelet, kubeadm, kubectl, containerd, runc, crictl, cni (did you mean "kubelet"?)`,
		},
		{
			name: "artifact that has no override",
			doc:  header + "kubernetes:\n  artifacts:\n    etcd: {url: https://mirror.example/etcd}\n",
			want: `node.yaml:6:5: kubernetes.artifacts.etcd: unknown field "etcd" in kubernetes.artifacts; allowed: kubelet, kubeadm, kubectl, containerd, runc, crictl, cni`,
		},
		{
			name: "unknown field in an artifact",
			doc:  header + "kubernetes:\n  artifacts:\n    kubelet:\n      url: https://mirror.example/kubelet\n      checksum: abc\n",
			want: `node.yaml:8:7: kubernetes.artifacts.kubelet.checksum: unknown field "checksum" in kubernetes.artifacts.kubelet; allowed: url, sha256`,
		},
		{
			name: "typo in an artifact",
			doc:  header + "kubernetes:\n  artifacts:\n    cni: {sha265: abc}\n",
			want: `node.yaml:6:11: kubernetes.artifacts.cni.sha265: unknown field "sha265" in kubernetes.artifacts.cni; allowed: url, sha256 (did you mean "sha256"?)`,
		},
		{
			name: "duplicate field in an artifact",
			doc:  header + "kubernetes:\n  artifacts:\n    runc:\n      url: http://a.example/runc\n      url: http://b.example/runc\n",
			want: `node.yaml:8:7: kubernetes.artifacts.runc.url: duplicate field "url" in kubernetes.artifacts.runc (first at line 7); keep one`,
		},
		{
			name: "artifact given a URL string",
			doc:  header + "kubernetes:\n  artifacts:\n    kubelet: https://mirror.example/kubelet\n",
			want: `node.yaml:6:5: kubernetes.artifacts.kubelet: must be a mapping with fields url, sha256, got a string`,
		},
		{
			name: "artifacts given a list",
			doc:  header + "kubernetes:\n  artifacts: [kubelet]\n",
			want: `node.yaml:5:3: kubernetes.artifacts: must be a mapping with fields kubelet, kubeadm, kubectl, containerd, runc, crictl, cni, got a list`,
		},
		{
			name: "sha256 given a list",
			doc:  header + "kubernetes:\n  artifacts: {crictl: {sha256: [a, b]}}\n",
			want: `node.yaml:5:24: kubernetes.artifacts.crictl.sha256: must be a string, got a list`,
		},
		{
			name: "list given a mapping",
			doc:  header + "os:\n  packages: {chrony: true}\n",
			want: `node.yaml:5:3: os.packages: must be a list of strings, got a mapping`,
		},
		{
			name: "list given a string",
			doc:  header + "outputs: qemu\n",
			want: `node.yaml:4:1: outputs: must be a list of strings, got a string`,
		},
		{
			name: "mapping given a string",
			doc:  header + "os: debian\n",
			want: `node.yaml:4:1: os: must be a mapping with fields base, baseDisk, distro, kernel, packages, packageSecret, files, sysctl, modules, services, run, got a string`,
		},
		{
			name: "string given a list",
			doc:  header + "disk:\n  cmdline: [quiet]\n",
			want: `node.yaml:5:3: disk.cmdline: must be a string, got a list`,
		},
		{
			name: "list of mappings given strings",
			doc:  header + "os:\n  files: [/etc/motd]\n",
			want: `node.yaml:5:11: os.files[0]: must be a mapping with fields path, content, mode, got a string`,
		},
		{
			name: "several type errors in document order",
			doc:  header + "os:\n  packages: [chrony, [a], ~]\n  sysctl: {vm.swappiness: {x: 1}}\n",
			want: "node.yaml:5:22: os.packages[1]: must be a string, got a list\n" +
				"node.yaml:5:27: os.packages[2]: must be a string, got null; remove the empty entry\n" +
				"node.yaml:6:12: os.sysctl.vm.swappiness: must be a string, got a mapping",
		},
		{
			name: "bad size unit",
			doc:  header + "disk:\n  size: 8GB\n",
			want: `node.yaml:5:3: disk.size: invalid size "8GB"; use a whole number with a unit KiB, MiB, GiB or TiB (e.g. 8GiB), or a plain number of bytes`,
		},
		{
			name: "fractional size",
			doc:  header + "disk:\n  size: 1.5GiB\n",
			want: `node.yaml:5:3: disk.size: invalid size "1.5GiB"; use a whole number with a unit KiB, MiB, GiB or TiB (e.g. 8GiB), or a plain number of bytes`,
		},
		{
			name: "size given a list",
			doc:  header + "disk:\n  size: [8GiB]\n",
			want: `node.yaml:5:3: disk.size: must be a size such as 8GiB, got a list`,
		},
		{
			name: "duplicate field",
			doc:  header + "os:\n  kernel: a\n  distro: debian\n  kernel: b\n",
			want: `node.yaml:7:3: os.kernel: duplicate field "kernel" in os (first at line 5); keep one`,
		},
		{
			name: "duplicate top-level field",
			doc:  header + "name: again\n",
			want: `node.yaml:4:1: name: duplicate field "name" at the top level (first at line 3); keep one`,
		},
		{
			name: "duplicate sysctl key",
			doc:  header + "os:\n  sysctl:\n    vm.swappiness: 1\n    vm.swappiness: 2\n",
			want: `node.yaml:7:5: os.sysctl.vm.swappiness: duplicate key "vm.swappiness" in os.sysctl (first at line 6); keep one`,
		},
		{
			name: "merge key",
			doc:  header + "x-base: &b {kernel: k}\nos:\n  <<: *b\n",
			want: `node.yaml:6:3: os: merge keys (<<) are not supported; write the fields out (anchors and aliases are fine)`,
		},
		{
			name: "non-string key",
			doc:  header + "os:\n  ? [a, b]\n  : c\n",
			want: `node.yaml:5:5: os: keys must be plain strings, got a list`,
		},
		{
			name: "syntax error",
			doc:  header + "os:\n  packages: [chrony\n",
			want: `node.yaml:5: invalid YAML: did not find expected ',' or ']'`,
		},
		{
			name: "bad indentation",
			doc:  header + "os:\n  kernel: k\n distro: debian\n",
			want: `node.yaml:6: invalid YAML: did not find expected key`,
		},
		{
			name: "scanner error",
			doc:  header + "name: a: b\n",
			want: `node.yaml:4: invalid YAML: mapping values are not allowed in this context`,
		},
		{
			name: "parser error on the first line",
			doc:  "os: [a\n",
			want: `node.yaml:2: invalid YAML: did not find expected ',' or ']'`,
		},
		{
			name: "tab indentation",
			doc:  header + "os:\n\tkernel: k\n",
			want: `node.yaml:5: invalid YAML: found character that cannot start any token`,
		},
		{
			name: "empty file",
			doc:  "# syntax=example.com/strata\n",
			want: `node.yaml:1:1: the file has no YAML document; start it with apiVersion: strata.dev/v1alpha1`,
		},
		{
			name: "document is a list",
			doc:  "- apiVersion: strata.dev/v1alpha1\n",
			want: `node.yaml:1:1: the document must be a mapping with fields apiVersion, kind, name, os, kubernetes, disk, outputs, providers, validate, got a list`,
		},
		{
			name: "two documents",
			doc:  header + "---\n" + header,
			want: `node.yaml:4:1: the file holds more than one YAML document; keep one NodeImage per file and remove the "---" separator`,
		},
	})
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(*NodeImage) bool
	}{
		{
			name: "x- fields at every level, with any content",
			doc:  header + "x-top: {anything: [1, 2]}\nos:\n  x-a: 1\n  files:\n    - path: /a\n      x-b: [z]\ndisk:\n  root:\n    x-c: ~\n    label: sys\nkubernetes:\n  x-d: e\n  version: v1.31.2\n",
			check: func(i *NodeImage) bool {
				return i.Disk.Root.Label == "sys" && i.OS.Files[0].Path == "/a" && i.Kubernetes.Version == "v1.31.2"
			},
		},
		{
			name:  "x- fields may repeat",
			doc:   header + "x-a: 1\nx-a: 2\n",
			check: func(i *NodeImage) bool { return i.Name == "t" },
		},
		{
			name:  "syntax line, document marker and trailing separator",
			doc:   "# syntax=ghcr.io/strata-dev/strata:v0\n---\n" + header + "---\n",
			check: func(i *NodeImage) bool { return i.Name == "t" },
		},
		{
			name: "numbers and booleans are kept as written",
			doc:  header + "os:\n  kernel: 0123\n  files: [{path: /a, mode: 0755}]\n  sysctl: {a.b: 1, c.d: 1.50, e.f: true}\n",
			check: func(i *NodeImage) bool {
				return i.OS.Kernel == "0123" && i.OS.Files[0].Mode == "0755" && i.OS.Sysctl["c.d"] == "1.50" && i.OS.Sysctl["e.f"] == "true"
			},
		},
		{
			name:  "null means unset",
			doc:   header + "os:\nkubernetes: ~\ndisk:\n  size:\n",
			check: func(i *NodeImage) bool { return i.Kubernetes == nil && i.Disk.Size == 0 },
		},
		{
			name:  "plain byte count",
			doc:   header + "disk: {size: 2147483648}\n",
			check: func(i *NodeImage) bool { return i.Disk.Size == 2*GiB },
		},
		{
			name:  "anchors and aliases",
			doc:   header + "x-pkgs: &pkgs [a, b]\nos:\n  packages: *pkgs\n",
			check: func(i *NodeImage) bool { return len(i.OS.Packages) == 2 && i.OS.Packages[1] == "b" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("node.yaml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(&s.Image) {
				t.Errorf("unexpected image %#v", s.Image)
			}
		})
	}
}

// TestParseValidate: the loader takes validate: as a list of mappings,
// keeps their positions, and refuses anything else where it is written.
// What the entries say is package checks' to judge (checks.ParseList).
func TestParseValidate(t *testing.T) {
	s := mustLoad(t, "node.yaml", []byte(header+"validate:\n  - file: /etc/hostname\n    contains: node\n  - {service: kubelet, x-note: hi}\n"), nil)
	if n := s.Image.Validate.Len(); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	node := s.Image.Validate.Node()
	if node == nil || node.Content[1].Line != 7 || node.Content[1].Column != 5 {
		t.Errorf("the second entry's node is not at 7:5: %+v", node)
	}
	if p, ok := s.Position("validate[1]"); !ok || p != (Pos{Line: 7, Column: 5}) {
		t.Errorf("validate[1] at %v (%v), want 7:5", p, ok)
	}
	if s := mustLoad(t, "node.yaml", []byte(header+"validate: ~\n"), nil); s.Image.Validate.Node() != nil {
		t.Error("validate: ~ kept a node")
	}
	runErrorCases(t, []errorCase{
		{
			name: "not a list",
			doc:  header + "validate: {file: /etc/hostname}\n",
			want: `node.yaml:4:1: validate: must be a list of checks, each a mapping such as {file: /etc/hostname, contains: node}, got a mapping`,
		},
		{
			name: "an entry that is no mapping",
			doc:  header + "validate:\n  - {file: /etc/hostname}\n  - /etc/hostname\n",
			want: `node.yaml:6:5: validate[1]: must be a check: a mapping such as {file: /etc/hostname, contains: node}, got a string`,
		},
		{
			name: "an empty entry",
			doc:  header + "validate:\n  -\n  - [file]\n",
			want: "node.yaml:5:4: validate[0]: must be a check, got null; remove the empty entry\n" +
				"node.yaml:6:5: validate[1]: must be a check: a mapping such as {file: /etc/hostname, contains: node}, got a list",
		},
	})
}

// TestParseRefusesUTF16: YAML would decode a UTF-16 file and report
// positions in the decoded text, which name no line of the file (a fuzzer
// found it with a line separator that exists only once decoded).
func TestParseRefusesUTF16(t *testing.T) {
	for _, c := range []struct{ data, encoding string }{
		{"\xfe\xff\x00a\x00:\x00 \x00b\x00\n", "UTF-16"},
		{"\xff\xfea\x00:\x00 \x00b\x00\n\x00", "UTF-16"},
		{"\xff\xfe\x00\x00a\x00\x00\x00", "UTF-32"},
	} {
		_, err := Parse("node.yaml", []byte(c.data))
		var e *Error
		if !errors.As(err, &e) || e.Pos != (Pos{Line: 1, Column: 1}) || !strings.Contains(e.Message, c.encoding+" text") || !strings.Contains(e.Message, "save it as UTF-8") {
			t.Errorf("%q: got %v, want an error at 1:1 naming %s", c.data, err, c.encoding)
		}
	}
}
