package guest

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/strata-dev/strata/exporters/providers"
	"github.com/strata-dev/strata/layers/overlays"
)

// script is the shell script of Apply's one exec.
func script(t *testing.T, p providers.Provider, d overlays.Distro) string {
	t.Helper()
	def, err := Apply(llb.Image("example.test/os:1"), p, d).Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if ex := op.GetExec(); ex != nil {
			return ex.Meta.Args[2]
		}
	}
	t.Fatal("no exec")
	return ""
}

// TestInitrdModuleLines: initramfs-tools takes bare module names, dracut
// an add_drivers line per module; each goes to the distro's file before
// its rebuild command.
func TestInitrdModuleLines(t *testing.T) {
	p, err := providers.Lookup("qemu")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		initrd overlays.Initrd
		want   string
	}{
		{overlays.Initrd{ModulesFile: "/etc/initramfs-tools/modules", Rebuild: "update-initramfs -u -k all"},
			"printf '%s\\n' virtio_blk virtio_scsi virtio_pci >> /etc/initramfs-tools/modules\nupdate-initramfs -u -k all\n"},
		{overlays.Initrd{ModulesFile: "/etc/dracut.conf.d/90-strata-drivers.conf", Line: `add_drivers+=" %s "`, Rebuild: "dracut --regenerate-all --force"},
			"printf 'add_drivers+=\" %s \"\\n' virtio_blk virtio_scsi virtio_pci >> /etc/dracut.conf.d/90-strata-drivers.conf\ndracut --regenerate-all --force\n"},
	} {
		if got := script(t, p, overlays.Distro{Initrd: tc.initrd}); !strings.HasSuffix(got, tc.want) {
			t.Errorf("script ends\n%s\nwant it to end\n%s", got, tc.want)
		}
	}
}
