package frontend

import (
	"context"
	"strings"
	"testing"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/strata-dev/strata/spec"
)

// panickingClient is a gateway client whose every call panics, standing in
// for a bug anywhere below Build.
type panickingClient struct{ gwclient.Client }

func (panickingClient) BuildOpts() gwclient.BuildOpts { panic("boom: a bug in the frontend") }

func TestBuildRecoversPanics(t *testing.T) {
	res, err := Build(context.Background(), panickingClient{})
	if res != nil {
		t.Errorf("got a result from a panicking build")
	}
	if err == nil || !strings.Contains(err.Error(), "strata frontend panicked") || !strings.Contains(err.Error(), "boom: a bug in the frontend") {
		t.Fatalf("error does not carry the panic: %v", err)
	}
}

func TestLookupTarget(t *testing.T) {
	for name, want := range map[string]string{"": "disk", "disk": "disk", "os": "os", "rootfs": "rootfs", "kubernetes": "kubernetes",
		"kubernetes-sysext": "kubernetes-sysext", "validate": "validate", "aws": "aws", "raw": "raw", "vsphere": "vsphere"} {
		got, err := lookupTarget(name)
		if err != nil || got.name != want {
			t.Errorf("lookupTarget(%q) = %q, %v; want %q", name, got.name, err, want)
		}
	}
	_, err := lookupTarget("ami")
	if err == nil || err.Error() != `unknown target "ami": strata builds os, kubernetes, kubernetes-sysext, rootfs, disk, validate, raw, qemu, aws, azure, gcp, vsphere, openstack` {
		t.Errorf("lookupTarget(ami) error = %v", err)
	}
}

func TestTargetForOutputs(t *testing.T) {
	for _, tc := range []struct {
		flag    string
		outputs []string
		want    string
	}{
		{"", nil, "disk"},
		{"", []string{"gcp"}, "gcp"},
		{"", []string{"disk", "aws"}, "outputs"},
		{"rootfs", []string{"disk", "aws"}, "rootfs"},
	} {
		sp := &spec.Spec{Image: spec.NodeImage{Outputs: tc.outputs}}
		got, err := targetFor(tc.flag, sp)
		if err != nil || got.name != tc.want {
			t.Errorf("targetFor(%q, outputs %v) = %q, %v; want %q", tc.flag, tc.outputs, got.name, err, tc.want)
		}
	}
}

// TestGrubRefusedForDisksOnly: a spec whose bootloader is grub (the RHEL
// family's default) builds its os and rootfs targets, and every target
// that assembles a disk is refused before any solve.
func TestGrubRefusedForDisksOnly(t *testing.T) {
	sp := &spec.Spec{Image: spec.NodeImage{Disk: spec.Disk{Bootloader: "grub", Size: 8 * spec.GiB}}}
	for _, tg := range append(allTargets, outputsTarget([]string{"disk", "qemu"})) {
		var err error
		if tg.check != nil {
			err = tg.check(sp)
		}
		assembles := tg.name != "os" && tg.name != "rootfs" && !strings.HasPrefix(tg.name, "kubernetes")
		switch {
		case assembles && (err == nil || !strings.Contains(err.Error(), "GRUB support in the disk assembler is pending")):
			t.Errorf("target %s: got %v, want the pending-GRUB error", tg.name, err)
		case !assembles && err != nil:
			t.Errorf("target %s refused: %v", tg.name, err)
		}
	}
}
