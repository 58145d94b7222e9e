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
