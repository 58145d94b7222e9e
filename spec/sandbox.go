package spec

import (
	"strconv"
	"strings"
)

// pauseVersions is the pause image each Kubernetes minor's kubeadm asks
// for (PauseVersion in cmd/kubeadm/app/constants of its release branch):
// containerd must pin the same one, or an air-gapped node lacks the
// sandbox image kubeadm pre-pulled and kubelet expects. Kubernetes moves
// it only with a minor release.
var pauseVersions = map[int]string{
	30: "3.9",
	31: "3.10",
	32: "3.10",
	33: "3.10",
	34: "3.10.1",
	35: "3.10.1",
	36: "3.10.2",
	37: "3.10.2",
}

// SandboxImageFor is the pause image kubeadm of Kubernetes version (such as
// v1.36.3) uses, or "" for a release strata has no entry for.
func SandboxImageFor(version string) string {
	minor, ok := kubernetesMinor(version)
	if !ok {
		return ""
	}
	tag, ok := pauseVersions[minor]
	if !ok {
		return ""
	}
	return "registry.k8s.io/pause:" + tag
}

// knownSandboxMinors names the first and last minor of pauseVersions for
// error messages.
func knownSandboxMinors() (first, last int) {
	first, last = -1, -1
	for m := range pauseVersions {
		if first < 0 || m < first {
			first = m
		}
		if m > last {
			last = m
		}
	}
	return first, last
}

func kubernetesMinor(version string) (int, bool) {
	rest, ok := strings.CutPrefix(version, "v1.")
	if !ok {
		return 0, false
	}
	minor, _, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(minor)
	return n, err == nil
}
