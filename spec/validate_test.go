package spec

import (
	"strings"
	"testing"
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
			name: "unsupported bootloader",
			doc:  header + "disk: {bootloader: grub}\n",
			want: `node.yaml:4:8: disk.bootloader: bootloader "grub" is not supported yet; use systemd-boot`,
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
			name: "kubernetes version without v and patch",
			doc:  header + "kubernetes:\n  version: 1.36\n",
			want: `node.yaml:5:3: kubernetes.version: invalid version "1.36"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2`,
		},
		{
			name: "kubernetes version with x",
			doc:  header + "kubernetes:\n  version: v1.36.x\n",
			want: `node.yaml:5:3: kubernetes.version: invalid version "v1.36.x"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2`,
		},
		{
			name: "kubernetes version without v",
			doc:  header + "kubernetes:\n  version: 1.36.3\n",
			want: `node.yaml:5:3: kubernetes.version: invalid version "1.36.3"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2 (did you mean "v1.36.3"?)`,
		},
		{
			name: "kubernetes version missing",
			doc:  header + "kubernetes: {containerd: 1.7.22}\n",
			want: `node.yaml:4:1: kubernetes.version: required; set a release such as v1.31.2`,
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
			doc:  header + "kubernetes: {version: v1.31.2, source: ftp://mirror.example}\n",
			want: `node.yaml:4:32: kubernetes.source: invalid URL "ftp://mirror.example"; use an http:// or https:// URL such as https://dl.k8s.io`,
		},
		{
			name: "kubernetes install",
			doc:  header + "kubernetes:\n  version: v1.31.2\n  install: tarball\n",
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
many-errors.yaml:18:3: kubernetes.version: invalid version "1.36"; use vMAJOR.MINOR.PATCH, e.g. v1.31.2
many-errors.yaml:19:3: kubernetes.containerd: invalid version "v2.3.2"; use MAJOR.MINOR.PATCH without a leading v, e.g. 1.7.22
many-errors.yaml:20:3: kubernetes.install: unknown install mode "tarball"; allowed: rootfs, sysext
many-errors.yaml:22:3: disk.size: 512MiB is too small; use at least 1GiB
many-errors.yaml:23:3: disk.boot: boot mode "bios" is not supported yet; use uefi
many-errors.yaml:24:3: disk.bootloader: bootloader "grub" is not supported yet; use systemd-boot
many-errors.yaml:25:10: disk.root.label: label "this-label-is-far-too-long" is 26 bytes; ext4 labels are at most 16 bytes
many-errors.yaml:26:17: outputs[1]: unknown output "ami"; allowed: disk, raw, qemu, aws, azure, gcp, vsphere, openstack`
	_, err := Load("many-errors.yaml", readTestdata(t, "many-errors.yaml"), nil, testDistros)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	if got := err.Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if list, ok := err.(ErrorList); !ok || len(list) != 16 {
		t.Errorf("got %T, want an ErrorList of 16", err)
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"no os.base: the os-base context is used", header},
		{"kubernetes is validated, not refused", header + "kubernetes: {version: v1.31.2}\n"},
		{"sysext install", header + "kubernetes: {version: v1.31.2, install: sysext, source: http://10.0.0.1:8080/k8s}\n"},
		{"image references", header + "os: {base: localhost:5000/my/base:v1}\n"},
		{"image by digest only", header + "os: {base: registry.example.com/base@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}\n"},
		{"three-digit mode, 1MiB granularity", header + "os: {files: [{path: /a, mode: \"755\"}]}\ndisk: {size: 1025MiB}\n"},
		{"units with types and templates", header + "os: {services: {enable: [getty@tty1, systemd-networkd.socket], disable: [apt-daily.timer, apt-daily-upgrade.timer]}}\n"},
		{"package versions and arches", header + "os: {packages: [\"libc6:amd64\", \"curl=7.88.1-10+deb12u5\", g++]}\n"},
		{"every output", header + "outputs: [disk, raw, qemu, aws, azure, gcp, vsphere, openstack]\n"},
		{"16-byte label", header + "disk: {root: {label: abcdefghijklmnop}}\n"},
		{"other distro", header + "os: {distro: ubuntu}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load("node.yaml", []byte(tt.doc), nil, testDistros); err != nil {
				t.Error(err)
			}
		})
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
