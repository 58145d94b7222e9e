package spec

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/providers"
)

func TestValidateErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "missing header fields point at the document",
			doc:  "# syntax=x\nos: {kernel: k}\n",
			want: "node.yaml:2:1: apiVersion: required; set it to strata.dev/v1alpha1\n" +
				"node.yaml:2:1: kind: required; set it to NodeImage\n" +
				"node.yaml:2:1: name: required; set a name such as debian-12-k8s",
		},
		{
			name: "wrong apiVersion and kind",
			doc:  "apiVersion: v1\nkind: Pod\nname: t\n",
			want: "node.yaml:1:1: apiVersion: unsupported apiVersion \"v1\"; use strata.dev/v1alpha1\n" +
				"node.yaml:2:1: kind: unsupported kind \"Pod\"; use NodeImage",
		},
		{
			name: "bad name",
			doc:  "apiVersion: strata.dev/v1alpha1\nkind: NodeImage\nname: Debian_12\n",
			want: `node.yaml:3:1: name: invalid name "Debian_12"; use up to 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
		},
		{
			name: "name too long",
			doc:  "apiVersion: strata.dev/v1alpha1\nkind: NodeImage\nname: " + strings.Repeat("a", 64) + "\n",
			want: `node.yaml:3:1: name: invalid name "` + strings.Repeat("a", 64) + `"; use up to 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
		},
		{
			name: "bad base image",
			doc:  header + "os:\n  base: Debian:12\n",
			want: `node.yaml:5:3: os.base: invalid image reference "Debian:12"; use a reference such as docker.io/library/debian:bookworm, or leave os.base out to use the build context os-base`,
		},
		{
			name: "unknown distro",
			doc:  header + "os:\n  distro: arch\n",
			want: `node.yaml:5:3: os.distro: unknown distro "arch"; known: debian, ubuntu`,
		},
		{
			name: "duplicate package",
			doc:  header + "os:\n  packages:\n    - chrony\n    - curl\n    - chrony\n",
			want: `node.yaml:8:7: os.packages[2]: duplicate package "chrony", already listed as os.packages[0]; list each package once`,
		},
		{
			name: "bad package names",
			doc:  header + "os:\n  packages: [\"open ssh\", -y]\n",
			want: "node.yaml:5:14: os.packages[0]: invalid package name \"open ssh\"; use a name such as openssh-server, without spaces and not starting with '-'\n" +
				"node.yaml:5:26: os.packages[1]: invalid package name \"-y\"; use a name such as openssh-server, without spaces and not starting with '-'",
		},
		{
			name: "bad file mode",
			doc:  header + "os:\n  files:\n    - path: /etc/motd\n      mode: \"0999\"\n",
			want: `node.yaml:7:7: os.files[0].mode: invalid mode "0999"; use an octal string from 0000 to 7777, such as "0644"`,
		},
		{
			name: "unquoted octal mode out of range",
			doc:  header + "os:\n  files: [{path: /a, mode: 17777}]\n",
			want: `node.yaml:5:22: os.files[0].mode: invalid mode "17777"; use an octal string from 0000 to 7777, such as "0644"`,
		},
		{
			name: "bad file paths",
			doc:  header + "os:\n  files:\n    - {path: etc/motd}\n    - {path: /etc/../motd}\n    - {path: /}\n    - {content: x}\n",
			want: "node.yaml:6:8: os.files[0].path: invalid path \"etc/motd\"; use an absolute, clean path to a file, such as /etc/motd\n" +
				"node.yaml:7:8: os.files[1].path: invalid path \"/etc/../motd\"; use an absolute, clean path to a file, such as /etc/motd\n" +
				"node.yaml:8:8: os.files[2].path: invalid path \"/\"; use an absolute, clean path to a file, such as /etc/motd\n" +
				"node.yaml:9:7: os.files[3].path: required; set an absolute path such as /etc/motd",
		},
		{
			name: "duplicate file path",
			doc:  header + "os:\n  files:\n    - path: /etc/motd\n    - path: /etc/motd\n",
			want: `node.yaml:7:7: os.files[1].path: duplicate path "/etc/motd", already written by os.files[0]; write each file once`,
		},
		{
			name: "bad sysctl",
			doc:  header + "os:\n  sysctl:\n    net ipv4: 1\n    vm.swappiness: \"\"\n    kernel.x: ~\n",
			want: "node.yaml:6:5: os.sysctl.net ipv4: invalid sysctl name \"net ipv4\"; use a name such as net.ipv4.ip_forward (letters, digits, '.', '_', '-' and '/')\n" +
				"node.yaml:7:5: os.sysctl.vm.swappiness: empty value; give a value such as \"1\"\n" +
				"node.yaml:8:5: os.sysctl.kernel.x: empty value; give a value such as \"1\"",
		},
		{
			name: "bad module",
			doc:  header + "os:\n  modules: [overlay, br.netfilter]\n",
			want: `node.yaml:5:22: os.modules[1]: invalid module name "br.netfilter"; use a kernel module name such as br_netfilter (letters, digits, '_' and '-')`,
		},
		{
			name: "unit in both lists, short and long form",
			doc:  header + "os:\n  services:\n    enable: [chrony, ssh.socket]\n    disable: [chrony.service, ssh]\n",
			want: `node.yaml:7:15: os.services.disable[0]: unit "chrony.service" is also in os.services.enable[0]; keep it in one list`,
		},
		{
			name: "bad unit names",
			doc:  header + "os:\n  services:\n    enable: [\"a b\", openvpn@client.conf]\n",
			want: "node.yaml:6:14: os.services.enable[0]: invalid unit name \"a b\"; use a systemd unit such as chrony or apt-daily.timer\n" +
				"node.yaml:6:21: os.services.enable[1]: unknown unit type in \"openvpn@client.conf\"; use a suffix .service, .socket, .device, .mount, .automount, .swap, .target, .path, .timer, .slice, .scope, or none for a service",
		},
		{
			name: "empty run command",
			doc:  header + "os:\n  run: [\"echo ok\", \"  \"]\n",
			want: `node.yaml:5:20: os.run[1]: empty command; remove the entry or give a shell command`,
		},
		{
			name: "disk too small",
			doc:  header + "disk:\n  size: 512MiB\n",
			want: `node.yaml:5:3: disk.size: 512MiB is too small; use at least 1GiB`,
		},
		{
			name: "disk not whole MiB",
			doc:  header + "disk:\n  size: 1073742848\n",
			want: `node.yaml:5:3: disk.size: 1073742848 bytes is not a whole number of MiB; use e.g. 1025MiB`,
		},
		{
			name: "unsupported boot bios",
			doc:  header + "disk:\n  boot: bios\n",
			want: `node.yaml:5:3: disk.boot: boot mode "bios" is not supported yet; use uefi`,
		},
		{
			name: "unsupported boot hybrid",
			doc:  header + "disk: {boot: hybrid}\n",
			want: `node.yaml:4:8: disk.boot: boot mode "hybrid" is not supported yet; use uefi`,
		},
		{
			name: "unknown boot mode",
			doc:  header + "disk: {boot: efi}\n",
			want: `node.yaml:4:8: disk.boot: unknown boot mode "efi"; allowed: uefi, bios, hybrid`,
		},
		{
			name: "unknown bootloader",
			doc:  header + "disk: {bootloader: lilo}\n",
			want: `node.yaml:4:8: disk.bootloader: unknown bootloader "lilo"; allowed: systemd-boot, grub`,
		},
		{
			name: "unknown filesystem",
			doc:  header + "disk: {root: {filesystem: xfs}}\n",
			want: `node.yaml:4:15: disk.root.filesystem: unknown filesystem "xfs"; allowed: ext4`,
		},
		{
			name: "label too long",
			doc:  header + "disk:\n  root:\n    label: this-label-is-too-long\n",
			want: `node.yaml:6:5: disk.root.label: label "this-label-is-too-long" is 22 bytes; ext4 labels are at most 16 bytes`,
		},
		{
			name: "unknown and duplicate outputs",
			doc:  header + "outputs:\n  - qemu\n  - ami\n  - qemu\n",
			want: "node.yaml:6:5: outputs[1]: unknown output \"ami\"; allowed: disk, raw, qemu, aws, azure, gcp, vsphere, openstack\n" +
				"node.yaml:7:5: outputs[2]: duplicate output \"qemu\", already listed as outputs[0]; list each output once",
		},
		{
			name: "a disk size gcp rejects",
			doc:  header + "disk:\n  size: 1500MiB\noutputs: [qemu, gcp]\n",
			want: "node.yaml:5:3: disk.size: gcp needs a disk size that is a multiple of 1GiB (GCE imports disk.raw of whole GiB, at most 2 TiB); " +
				"1500MiB is not: use 2GiB (listed as outputs[1]); set disk.size to a size gcp accepts",
		},
		{
			name: "a disk too large for azure",
			doc:  header + "disk:\n  size: 3TiB\noutputs:\n  - azure\n",
			want: "node.yaml:5:3: disk.size: azure accepts disks of at most 2040GiB (an Azure upload is at least 20 MiB, and a VHD holds at most 2040 GiB); " +
				"3072GiB is too large (listed as outputs[0]); set disk.size to a size azure accepts",
		},
		{
			name: "a format the provider does not import",
			doc:  header + "providers:\n  aws:\n    format: vhd\n",
			want: "node.yaml:6:5: providers.aws.format: format vhd does not apply to provider aws, which imports vmdk or raw",
		},
		{
			name: "VM options for a provider without a VM",
			doc:  header + "providers:\n  gcp: {cpus: 4}\n  vsphere: {format: vmdk, memory: 8GiB}\n",
			want: "node.yaml:5:9: providers.gcp.cpus: describes the virtual machine inside an OVA, and gcp's gce output has none (its VM is sized where it is created); remove it\n" +
				"node.yaml:6:27: providers.vsphere.memory: describes the virtual machine inside an OVA, and vsphere's vmdk output has none (its VM is sized where it is created); remove it",
		},
		{
			name: "bad OVA sizes",
			doc:  header + "providers:\n  vsphere: {cpus: many, memory: 100MiB}\n",
			want: "node.yaml:5:13: providers.vsphere.cpus: invalid CPU count \"many\"; use a whole number from 1 to 768\n" +
				"node.yaml:5:25: providers.vsphere.memory: 100MiB is not a whole number of MiB of at least 256MiB; use e.g. 4GiB",
		},
		{
			name: "an unknown provider",
			doc:  header + "providers:\n  ec2: {format: vmdk}\n",
			want: `node.yaml:5:3: providers.ec2: unknown field "ec2" in providers; allowed: raw, qemu, aws, azure, gcp, vsphere, openstack (did you mean "gcp"?)`,
		},
		{
			name: "kubernetes version without v and patch",
			doc:  header + "kubernetes:\n  version: 1.36\n" + k8sPinsBlock,
			want: `node.yaml:5:3: kubernetes.version: invalid version "1.36"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2`,
		},
		{
			name: "kubernetes version with x",
			doc:  header + "kubernetes:\n  version: v1.36.x\n" + k8sPinsBlock,
			want: `node.yaml:5:3: kubernetes.version: invalid version "v1.36.x"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2`,
		},
		{
			name: "kubernetes version without v",
			doc:  header + "kubernetes:\n  version: 1.36.3\n" + k8sPinsBlock,
			want: `node.yaml:5:3: kubernetes.version: invalid version "1.36.3"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2 (did you mean "v1.36.3"?)`,
		},
		{
			name: "kubernetes version missing",
			doc:  header + "kubernetes:\n" + k8sPinsBlock,
			want: `node.yaml:4:1: kubernetes.version: required; set a release such as v1.31.2`,
		},
		{
			name: "kubernetes companions are required",
			doc:  header + "kubernetes: {version: v1.31.2}\n",
			want: "node.yaml:4:1: kubernetes.containerd: required; pin the containerd release, e.g. 1.7.22\n" +
				"node.yaml:4:1: kubernetes.runc: required; pin the runc release, e.g. 1.1.14\n" +
				"node.yaml:4:1: kubernetes.crictl: required; pin the crictl release, e.g. 1.31.1\n" +
				"node.yaml:4:1: kubernetes.cni: required; pin the cni release, e.g. 1.5.1",
		},
		{
			name: "empty kubernetes section",
			doc:  header + "kubernetes: {}\n",
			want: "node.yaml:4:1: kubernetes.version: required; set a release such as v1.31.2\n" +
				"node.yaml:4:1: kubernetes.containerd: required; pin the containerd release, e.g. 1.7.22\n" +
				"node.yaml:4:1: kubernetes.runc: required; pin the runc release, e.g. 1.1.14\n" +
				"node.yaml:4:1: kubernetes.crictl: required; pin the crictl release, e.g. 1.31.1\n" +
				"node.yaml:4:1: kubernetes.cni: required; pin the cni release, e.g. 1.5.1",
		},
		{
			name: "kubernetes version and some companions missing",
			doc:  header + "kubernetes: {containerd: 1.7.22}\n",
			want: "node.yaml:4:1: kubernetes.version: required; set a release such as v1.31.2\n" +
				"node.yaml:4:1: kubernetes.runc: required; pin the runc release, e.g. 1.1.14\n" +
				"node.yaml:4:1: kubernetes.crictl: required; pin the crictl release, e.g. 1.31.1\n" +
				"node.yaml:4:1: kubernetes.cni: required; pin the cni release, e.g. 1.5.1",
		},
		{
			name: "empty companion values point at their keys",
			doc:  header + "kubernetes:\n  version: v1.31.2\n  containerd: \"\"\n  runc: ~\n  crictl:\n  cni: 1.5.1\n",
			want: "node.yaml:6:3: kubernetes.containerd: required; pin the containerd release, e.g. 1.7.22\n" +
				"node.yaml:7:3: kubernetes.runc: required; pin the runc release, e.g. 1.1.14\n" +
				"node.yaml:8:3: kubernetes.crictl: required; pin the crictl release, e.g. 1.31.1",
		},
		{
			name: "containerd major other than 1 or 2",
			doc:  header + "kubernetes:\n  version: v1.31.2\n  containerd: 3.0.0\n  runc: 1.1.14\n  crictl: 1.31.1\n  cni: 1.5.1\n",
			want: `node.yaml:6:3: kubernetes.containerd: containerd 3.0.0: strata knows the config schema of containerd 1.x (version 2) and 2.x (version 3) only; use a 1.x or 2.x release`,
		},
		{
			name: "containerd major 0",
			doc:  header + "kubernetes: {version: v1.31.2, containerd: 0.2.10, runc: 1.1.14, crictl: 1.31.1, cni: 1.5.1}\n",
			want: `node.yaml:4:32: kubernetes.containerd: containerd 0.2.10: strata knows the config schema of containerd 1.x (version 2) and 2.x (version 3) only; use a 1.x or 2.x release`,
		},
		{
			name: "containerd major with more digits",
			doc:  header + "kubernetes: {version: v1.31.2, containerd: 10.0.0, runc: 1.1.14, crictl: 1.31.1, cni: 1.5.1}\n",
			want: `node.yaml:4:32: kubernetes.containerd: containerd 10.0.0: strata knows the config schema of containerd 1.x (version 2) and 2.x (version 3) only; use a 1.x or 2.x release`,
		},
		{
			name: "malformed containerd version gets one error, not two",
			doc:  header + "kubernetes: {version: v1.31.2, containerd: v3.0.0, runc: 1.1.14, crictl: 1.31.1, cni: 1.5.1}\n",
			want: `node.yaml:4:32: kubernetes.containerd: invalid version "v3.0.0"; use MAJOR.MINOR.PATCH without a leading v, e.g. 1.7.22`,
		},
		{
			name: "artifact URLs",
			doc: header + "kubernetes:\n  version: v1.31.2\n" + k8sPinsBlock + // lines 4-9
				"  artifacts:\n" +
				"    kubelet: {url: ftp://mirror.example/kubelet}\n" +
				"    kubeadm: {url: mirror.example/kubeadm}\n" +
				"    kubectl: {url: \"https://\"}\n" +
				"    runc: {url: \"http://[::1\"}\n" +
				"    cni: {url: file:///srv/cni.tgz}\n",
			want: "node.yaml:11:15: kubernetes.artifacts.kubelet.url: invalid URL \"ftp://mirror.example/kubelet\"; use an http:// or https:// URL\n" +
				"node.yaml:12:15: kubernetes.artifacts.kubeadm.url: invalid URL \"mirror.example/kubeadm\"; use an http:// or https:// URL\n" +
				"node.yaml:13:15: kubernetes.artifacts.kubectl.url: invalid URL \"https://\"; use an http:// or https:// URL\n" +
				"node.yaml:14:12: kubernetes.artifacts.runc.url: invalid URL \"http://[::1\"; use an http:// or https:// URL\n" +
				"node.yaml:15:11: kubernetes.artifacts.cni.url: invalid URL \"file:///srv/cni.tgz\"; use an http:// or https:// URL",
		},
		{
			name: "artifact sha256 pins",
			doc: header + "kubernetes:\n  version: v1.31.2\n" + k8sPinsBlock + // lines 4-9
				"  artifacts:\n" +
				"    kubelet: {sha256: " + strings.ToUpper(testSum) + "}\n" +
				"    kubeadm: {sha256: \"sha256:" + testSum + "\"}\n" +
				"    kubectl: {sha256: " + testSum[:63] + "}\n" +
				"    containerd: {sha256: " + testSum + "0}\n" +
				"    crictl: {sha256: \" " + testSum + "\"}\n" +
				"    cni: {sha256: " + testSum[:63] + "g}\n",
			want: "node.yaml:11:15: kubernetes.artifacts.kubelet.sha256: invalid sha256 \"" + strings.ToUpper(testSum) + "\"; use the 64 lowercase hex digits (as sha256sum prints them)\n" +
				"node.yaml:12:15: kubernetes.artifacts.kubeadm.sha256: invalid sha256 \"sha256:" + testSum + "\"; use the 64 lowercase hex digits (as sha256sum prints them)\n" +
				"node.yaml:13:15: kubernetes.artifacts.kubectl.sha256: invalid sha256 \"" + testSum[:63] + "\"; use the 64 lowercase hex digits (as sha256sum prints them)\n" +
				"node.yaml:14:18: kubernetes.artifacts.containerd.sha256: invalid sha256 \"" + testSum + "0\"; use the 64 lowercase hex digits (as sha256sum prints them)\n" +
				"node.yaml:15:14: kubernetes.artifacts.crictl.sha256: invalid sha256 \" " + testSum + "\"; use the 64 lowercase hex digits (as sha256sum prints them)\n" +
				"node.yaml:16:11: kubernetes.artifacts.cni.sha256: invalid sha256 \"" + testSum[:63] + "g\"; use the 64 lowercase hex digits (as sha256sum prints them)",
		},
		{
			name: "bad URL and pin of one artifact, in document order",
			doc: header + "kubernetes:\n" +
				"  artifacts:\n" +
				"    containerd:\n" +
				"      sha256: abc\n" +
				"      url: s3://bucket/containerd.tgz\n" +
				"  version: v1.31.2\n" + k8sPinsBlock,
			want: "node.yaml:7:7: kubernetes.artifacts.containerd.sha256: invalid sha256 \"abc\"; use the 64 lowercase hex digits (as sha256sum prints them)\n" +
				"node.yaml:8:7: kubernetes.artifacts.containerd.url: invalid URL \"s3://bucket/containerd.tgz\"; use an http:// or https:// URL",
		},
		{
			name: "kubernetes components",
			doc:  header + "kubernetes:\n  version: v1.31.2\n  containerd: v1.7.22\n  runc: 1.1\n  crictl: latest\n  cni: 1.5.1\n",
			want: "node.yaml:6:3: kubernetes.containerd: invalid version \"v1.7.22\"; use MAJOR.MINOR.PATCH without a leading v, e.g. 1.7.22\n" +
				"node.yaml:7:3: kubernetes.runc: invalid version \"1.1\"; use MAJOR.MINOR.PATCH without a leading v, e.g. 1.1.14\n" +
				"node.yaml:8:3: kubernetes.crictl: invalid version \"latest\"; use MAJOR.MINOR.PATCH without a leading v, e.g. 1.31.1",
		},
		{
			name: "kubernetes source",
			doc:  header + "kubernetes: {version: v1.31.2, source: ftp://mirror.example, containerd: 1.7.22, runc: 1.1.14, crictl: 1.31.1, cni: 1.5.1}\n",
			want: `node.yaml:4:32: kubernetes.source: invalid URL "ftp://mirror.example"; use an http:// or https:// URL such as https://dl.k8s.io`,
		},
		{
			name: "kubernetes install",
			doc:  header + "kubernetes:\n  version: v1.31.2\n  install: tarball\n" + k8sPinsBlock,
			want: `node.yaml:6:3: kubernetes.install: unknown install mode "tarball"; allowed: rootfs, sysext`,
		},
	})
}

func TestValidateManyErrors(t *testing.T) {
	want := `many-errors.yaml:5:3: os.distro: unknown distro "arch"; known: debian, ubuntu
many-errors.yaml:8:7: os.packages[1]: invalid package name "bad name"; use a name such as openssh-server, without spaces and not starting with '-'
many-errors.yaml:9:7: os.packages[2]: duplicate package "chrony", already listed as os.packages[0]; list each package once
many-errors.yaml:11:7: os.files[0].path: invalid path "etc/motd"; use an absolute, clean path to a file, such as /etc/motd
many-errors.yaml:12:7: os.files[0].mode: invalid mode "999"; use an octal string from 0000 to 7777, such as "0644"
many-errors.yaml:14:7: os.files[2].path: duplicate path "/etc/motd", already written by os.files[1]; write each file once
many-errors.yaml:15:22: os.modules[1]: invalid module name "br netfilter"; use a kernel module name such as br_netfilter (letters, digits, '_' and '-')
many-errors.yaml:16:42: os.services.disable[0]: unit "chrony.service" is also in os.services.enable[0]; keep it in one list
many-errors.yaml:17:1: kubernetes.runc: required; pin the runc release, e.g. 1.1.14
many-errors.yaml:17:1: kubernetes.crictl: required; pin the crictl release, e.g. 1.31.1
many-errors.yaml:17:1: kubernetes.cni: required; pin the cni release, e.g. 1.5.1
many-errors.yaml:18:3: kubernetes.version: invalid version "1.36"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2
many-errors.yaml:19:3: kubernetes.containerd: invalid version "v2.3.2"; use MAJOR.MINOR.PATCH without a leading v, e.g. 1.7.22
many-errors.yaml:20:3: kubernetes.install: unknown install mode "tarball"; allowed: rootfs, sysext
many-errors.yaml:22:3: disk.size: 512MiB is too small; use at least 1GiB
many-errors.yaml:23:3: disk.boot: boot mode "bios" is not supported yet; use uefi
many-errors.yaml:24:3: disk.bootloader: unknown bootloader "lilo"; allowed: systemd-boot, grub
many-errors.yaml:25:10: disk.root.label: label "this-label-is-far-too-long" is 26 bytes; ext4 labels are at most 16 bytes
many-errors.yaml:26:17: outputs[1]: unknown output "ami"; allowed: disk, raw, qemu, aws, azure, gcp, vsphere, openstack`
	_, err := Load("many-errors.yaml", readTestdata(t, "many-errors.yaml"), nil, testDistros)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	if got := err.Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if list, ok := err.(ErrorList); !ok || len(list) != 19 {
		t.Errorf("got %T, want an ErrorList of 19", err)
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"no os.base: the os-base context is used", header},
		{"kubernetes is validated, not refused", header + "kubernetes: {" + k8sPins + "}\n"},
		{"containerd 2.x", header + "kubernetes: {version: v1.31.2, containerd: 2.0.0, runc: 1.2.0, crictl: 1.31.1, cni: 1.5.1}\n"},
		{"sandbox image override", header + "kubernetes: {" + k8sPins + ", sandboxImage: localhost:5000/pause:3.9}\n"},
		{"empty artifacts", header + "kubernetes: {" + k8sPins + ", artifacts: {}}\n"},
		{"artifact URLs and pins", header + "kubernetes:\n  version: v1.31.2\n" + k8sPinsBlock +
			"  artifacts:\n" +
			"    kubelet: {url: \"https://mirror.example/k8s/kubelet?arch=amd64\", sha256: " + testSum + "}\n" +
			"    kubeadm: {url: \"http://10.0.0.1:8080/kubeadm\"}\n" +
			"    kubectl: {sha256: " + testSum + "}\n" +
			"    containerd: {url: \"https://[2001:db8::1]/containerd.tar.gz\"}\n" +
			"    runc: {url: ~, sha256: ~}\n" +
			"    crictl: {}\n" +
			"    cni: {sha256: \"" + testSum + "\"}\n"},
		{"image references", header + "os: {base: localhost:5000/my/base:v1}\n"},
		{"image by digest only", header + "os: {base: registry.example.com/base@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}\n"},
		{"three-digit mode, 1MiB granularity", header + "os: {files: [{path: /a, mode: \"755\"}]}\ndisk: {size: 1025MiB}\n"},
		{"units with types and templates", header + "os: {services: {enable: [getty@tty1, systemd-networkd.socket], disable: [apt-daily.timer, apt-daily-upgrade.timer]}}\n"},
		{"package versions and arches", header + "os: {packages: [\"libc6:amd64\", \"curl=7.88.1-10+deb12u5\", g++]}\n"},
		{"every output", header + "outputs: [disk, raw, qemu, aws, azure, gcp, vsphere, openstack]\n"},
		{"16-byte label", header + "disk: {root: {label: abcdefghijklmnop}}\n"},
		{"other distro", header + "os: {distro: ubuntu}\n"},
		{"grub, for the targets that assemble no disk", header + "disk: {bootloader: grub}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load("node.yaml", []byte(tt.doc), nil, testDistros); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCheckDisk: a spec with bootloader grub loads, and the disk targets
// are refused at its line with what is missing.
func TestCheckDisk(t *testing.T) {
	s, err := Load("node.yaml", []byte(header+"disk:\n  bootloader: grub\n"), nil, testDistros)
	if err != nil {
		t.Fatal(err)
	}
	want := `node.yaml:5:3: disk.bootloader: bootloader "grub" is not supported yet: GRUB support in the disk assembler is pending, and it installs systemd-boot only; use systemd-boot`
	if err := s.CheckDisk(); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	s, err = Load("node.yaml", []byte(header+"disk:\n  bootloader: grub\n"), map[string]string{"DISK_BOOTLOADER": "systemd-boot"}, testDistros)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckDisk(); err != nil {
		t.Errorf("systemd-boot refused: %v", err)
	}
}

func TestValidateKernelRequired(t *testing.T) {
	distros := map[string]Distro{"bare": {Name: "bare"}}
	_, err := Load("node.yaml", []byte(header+"os: {distro: bare}\n"), nil, distros)
	want := `node.yaml:4:1: os.kernel: required: distro "bare" has no default kernel; name the kernel package`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestValidateNoDistros(t *testing.T) {
	_, err := Load("node.yaml", []byte(header), nil, nil)
	want := `node.yaml:1:1: os.distro: unknown distro "debian"; known: none (no distro overlays are registered)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// testSum is a well-formed sha256 pin (that of the empty file).
const testSum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestSandboxImageValidated(t *testing.T) {
	doc := header + "kubernetes:\n" + k8sPinsBlock + "  sandboxImage: \"pause 3.10\"\n"
	_, err := Load("node.yaml", []byte(doc), nil, testDistros)
	if err == nil || !strings.Contains(err.Error(), `kubernetes.sandboxImage: invalid image reference "pause 3.10"; use a reference such as registry.k8s.io/pause:3.10`) {
		t.Fatalf("err = %v", err)
	}
}

func TestSysextSection(t *testing.T) {
	base := header + "kubernetes:\n  version: v1.31.2\n" + k8sPinsBlock
	for _, tc := range []struct{ name, doc, want string }{
		{"valid", base + "  install: sysext\n  sysext:\n    format: erofs\n    updates: https://example.com/sysext/\n", ""},
		{"bad format", base + "  install: sysext\n  sysext:\n    format: ext4\n",
			`node.yaml:12:5: kubernetes.sysext.format: unknown sysext format "ext4"; allowed: squashfs, erofs`},
		{"bad url", base + "  install: sysext\n  sysext:\n    updates: ftp://example.com/\n",
			`node.yaml:12:5: kubernetes.sysext.updates: invalid URL "ftp://example.com/"`},
		{"updates without sysext install", base + "  sysext:\n    updates: https://example.com/\n",
			`node.yaml:11:5: kubernetes.sysext.updates: only applies with install: sysext`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load("node.yaml", []byte(tc.doc), nil, testDistros)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := s.Image.Kubernetes.SysextImage(); got.Format != "erofs" || got.Updates != "https://example.com/sysext/" {
					t.Fatalf("SysextImage() = %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestSysextFormatDefault(t *testing.T) {
	s, err := Load("node.yaml", []byte(header+"kubernetes:\n  version: v1.31.2\n"+k8sPinsBlock), nil, testDistros)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Image.Kubernetes.SysextImage().Format; got != "squashfs" {
		t.Fatalf("default sysext format = %q, want squashfs", got)
	}
	if s.Image.Kubernetes.Sysext != nil {
		t.Fatal("defaults must not add a sysext section: it would change the digest of specs without one")
	}
}

// TestProvidersFieldPerProvider: the spec's providers section has a field
// for every provider, in the providers package's order, and no other.
func TestProvidersFieldPerProvider(t *testing.T) {
	if got, want := fieldNames(reflect.TypeOf(Providers{})), providers.Names(); !slices.Equal(got, want) {
		t.Errorf("providers fields %v, want %v", got, want)
	}
}
