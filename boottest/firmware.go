package boottest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Firmware is a UEFI firmware for QEMU's two pflash devices: read-only code
// and a variable store template. Boot never writes to Vars itself; it works
// on a copy so every run starts with empty NVRAM.
type Firmware struct {
	Code string
	Vars string
}

// firmwareCandidates are the OVMF pairs Debian's ovmf package installs, best
// first. The 4 MiB build is the current one; the 2 MiB pair is kept for older
// releases. Secure Boot builds (.secboot, .ms) need SMM and enrolled keys and
// are left out: the boot tests check that an image boots, not that it is
// signed.
var firmwareCandidates = []Firmware{
	{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd"},
	{Code: "/usr/share/OVMF/OVMF_CODE.fd", Vars: "/usr/share/OVMF/OVMF_VARS.fd"},
}

// FindFirmware returns the first OVMF code/vars pair installed on this
// machine.
func FindFirmware() (Firmware, error) {
	var tried []string
	for _, fw := range firmwareCandidates {
		if isFile(fw.Code) && isFile(fw.Vars) {
			return fw, nil
		}
		tried = append(tried, fw.Code+" + "+fw.Vars)
	}
	return Firmware{}, fmt.Errorf("no OVMF firmware found (install Debian's ovmf package); tried %s", strings.Join(tried, ", "))
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// copyFile copies src to a new file dst.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	_, err = io.Copy(out, in)
	return err
}
