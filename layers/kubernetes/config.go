package kubernetes

import (
	"fmt"
	"strings"

	"github.com/strata-dev/strata/spec"
)

// containerdConfig returns /etc/containerd/config.toml in the schema the
// pinned containerd reads: version 2 for 1.x, version 3 for 2.x (spec
// validation rejects other majors). Both use the systemd cgroup driver as
// kubelet does, pin the sandbox image so kubelet and containerd agree, read
// registry mirrors from certs.d, and import drop-ins from conf.d.
func containerdConfig(containerdVersion, sandboxImage string) (string, error) {
	major, _, _ := strings.Cut(containerdVersion, ".")
	switch major {
	case "1":
		return fmt.Sprintf(`# written by strata for containerd %s (config schema version 2)
version = 2
imports = ["/etc/containerd/conf.d/*.toml"]

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
`, containerdVersion, sandboxImage), nil
	case "2":
		return fmt.Sprintf(`# written by strata for containerd %s (config schema version 3)
version = 3
imports = ["/etc/containerd/conf.d/*.toml"]

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = %q

[plugins."io.containerd.cri.v1.images".registry]
  config_path = "/etc/containerd/certs.d"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  SystemdCgroup = true
`, containerdVersion, sandboxImage), nil
	default:
		return "", fmt.Errorf("containerd %s: no known config schema", containerdVersion)
	}
}

// containerdUnit runs the binary the release tarball installs under
// /usr/local. It lives in /usr/lib so that a sysext can carry it.
const containerdUnit = `[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`

// containerdDropIn holds the resource settings nodes rely on; a drop-in
// keeps them visible and separate from the unit a sysext may replace.
const containerdDropIn = `[Service]
# keep the runtime alive under memory pressure, and never cap its tasks or files
OOMScoreAdjust=-999
TasksMax=infinity
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
`

const kubeletUnit = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target containerd.service

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`

// kubeadmDropIn is what kubeadm expects around kubelet: its kubeconfigs,
// the config file it writes, its flags file, and the distro's env file for
// the user's extra args.
func kubeadmDropIn(envFile string) string {
	return `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-` + envFile + `
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`
}

const crictlConfig = `runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
timeout: 10
`

// The kernel settings kubeadm's preflight checks and most CNIs need, and
// the ones image-builder gives every node: overcommit as kubelet expects
// it, a node that reboots after a panic or an oops instead of hanging
// half-alive, inotify limits for many pods' watchers, and BBR (the kernel
// loads its module when the setting is applied).
const (
	modulesLoad = "# written by strata for Kubernetes\noverlay\nbr_netfilter\n"
	sysctls     = `# written by strata for Kubernetes
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
net.ipv6.conf.all.forwarding = 1
net.ipv6.conf.all.disable_ipv6 = 0
net.ipv4.tcp_congestion_control = bbr
vm.overcommit_memory = 1
kernel.panic = 10
kernel.panic_on_oops = 1
fs.inotify.max_user_instances = 8192
fs.inotify.max_user_watches = 524288
`
)

// cloudInitOrder makes cloud-init's config and final stages, where
// Cluster API's kubeadm bootstrap runs its runcmd, wait for the container
// runtime and for the pre-pulled images: kubeadm init would otherwise find
// no CRI socket, or pull images an air-gapped node cannot reach.
const cloudInitOrder = `# written by strata: kubeadm runs from cloud-init's runcmd
[Unit]
Wants=containerd.service
After=containerd.service ` + ImportUnit + `
`

// configFiles lists the files the layer writes besides the downloads.
func configFiles(k *spec.Kubernetes, envFile string) ([]spec.File, error) {
	ctrConfig, err := containerdConfig(k.Containerd, k.SandboxImage)
	if err != nil {
		return nil, err
	}
	return append([]spec.File{
		{Path: "/etc/containerd/config.toml", Mode: "0644", Content: ctrConfig},
		{Path: "/etc/containerd/conf.d/.keep", Mode: "0644", Content: ""},
		{Path: "/etc/containerd/certs.d/.keep", Mode: "0644", Content: ""},
		{Path: "/usr/lib/systemd/system/containerd.service", Mode: "0644", Content: containerdUnit},
		{Path: "/etc/systemd/system/containerd.service.d/10-strata.conf", Mode: "0644", Content: containerdDropIn},
		{Path: "/etc/crictl.yaml", Mode: "0644", Content: crictlConfig},
		{Path: "/usr/lib/systemd/system/kubelet.service", Mode: "0644", Content: kubeletUnit},
		{Path: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", Mode: "0644", Content: kubeadmDropIn(envFile)},
		{Path: envFile, Mode: "0644", Content: "KUBELET_EXTRA_ARGS=\n"},
		{Path: "/etc/modules-load.d/kubernetes.conf", Mode: "0644", Content: modulesLoad},
		{Path: "/etc/sysctl.d/99-kubernetes.conf", Mode: "0644", Content: sysctls},
		{Path: "/etc/kubernetes-version", Mode: "0644", Content: k.Version + "\n"},
		{Path: "/etc/kubernetes/manifests/.keep", Mode: "0644", Content: ""},
	}, append(bootstrapFiles(k), imageFiles(k)...)...), nil
}

// bootstrapFiles are what the layer adds for kubernetes.bootstrap; the OS
// layer installs the bootstrap itself.
func bootstrapFiles(k *spec.Kubernetes) []spec.File {
	if k.Bootstrap != "cloud-init" {
		return nil
	}
	return []spec.File{
		{Path: "/etc/systemd/system/cloud-config.service.d/10-strata-kubernetes.conf", Mode: "0644", Content: cloudInitOrder},
		{Path: "/etc/systemd/system/cloud-final.service.d/10-strata-kubernetes.conf", Mode: "0644", Content: cloudInitOrder},
	}
}
