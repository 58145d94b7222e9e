package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/strata-dev/strata/boottest"
	"github.com/strata-dev/strata/exporters/disk"
	"github.com/strata-dev/strata/exporters/formats"
)

// TestMain lets the test binary stand in for QEMU: run with
// STRATA_FAKE_QEMU set, it is fakeQEMU.
func TestMain(m *testing.M) {
	if mode := os.Getenv("STRATA_FAKE_QEMU"); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeQEMU plays a guest booting: it records its arguments, prints a Linux
// boot's lines, and, given a NoCloud seed, reads the check script out of
// its user-data as cloud-init would and prints the lines each check would
// print in a healthy guest ("sysctl-0" mode: every sysctl reads 0). Then
// it idles until Boot kills it.
func fakeQEMU(mode string, args []string) int {
	if p := os.Getenv("FAKE_QEMU_ARGS"); p != "" {
		os.WriteFile(p, []byte(strings.Join(args, "\n")+"\n"), 0o644)
	}
	fmt.Print("BdsDxe: starting Boot0001\r\nLinux version 6.1.0-test\r\n")
	if mode == "panic" {
		fmt.Print("Kernel panic - not syncing: VFS: Unable to mount root fs\r\n")
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Print("[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mmulti-user.target\x1b[0m - Multi-User System.\r\n")
	for i, a := range args {
		if a == "-drive" && strings.HasPrefix(args[i+1], "file=") && strings.Contains(args[i+1], "readonly=on") {
			file, _, _ := strings.Cut(strings.TrimPrefix(args[i+1], "file="), ",if=")
			if err := fakeGuestChecks(mode, file); err != nil {
				fmt.Fprintln(os.Stderr, "fake QEMU:", err)
				return 1
			}
		}
	}
	time.Sleep(time.Minute)
	return 0
}

var checkCall = regexp.MustCompile(`^check_(\w+) (c\d+)`)

func fakeGuestChecks(mode, seed string) error {
	f, err := os.Open(seed)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fs, err := fat32.Read(file.New(f, true), st.Size(), 0, 512)
	if err != nil {
		return err
	}
	r, err := fs.OpenFile("/user-data", os.O_RDONLY)
	if err != nil {
		return err
	}
	userData, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, rest, _ := strings.Cut(string(userData), "printf %s ")
	enc, _, _ := strings.Cut(rest, " ")
	script, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return fmt.Errorf("user-data carries no script: %w", err)
	}
	facts := map[string][]string{
		"system":  {"state running", "failed", "jobs"},
		"service": {"LoadState loaded", "ActiveState active", "SubState running", "Result success"},
		"sysctl":  {"value 1"},
		"module":  {"state loaded"},
		"crictl":  {"crictl /usr/local/bin/crictl", "rc 0", "RuntimeReady true", "NetworkReady false"},
	}
	if mode == "sysctl-0" {
		facts["sysctl"] = []string{"value 0"}
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(string(script)))
	for sc.Scan() {
		m := checkCall.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n++
		for _, fact := range append(facts[m[1]], "end") {
			fmt.Printf("strata-boot-check %s %s\r\n", m[2], fact)
		}
	}
	fmt.Printf("%s %d\r\n", boottest.DoneMarker, n)
	return nil
}

// useFakeBoot makes boot-test run fakeQEMU in mode, with stand-in
// firmware, and returns the file its arguments go to.
func useFakeBoot(t *testing.T, mode string) string {
	t.Helper()
	self, err := filepath.Abs(os.Args[0])
	must(t, err)
	dir := t.TempDir()
	fw := boottest.Firmware{Code: writeFile(t, filepath.Join(dir, "CODE.fd"), ""), Vars: writeFile(t, filepath.Join(dir, "VARS.fd"), "")}
	savedQEMU, savedFW := bootTestQEMU, bootTestFirmware
	bootTestQEMU, bootTestFirmware = self, fw
	t.Cleanup(func() { bootTestQEMU, bootTestFirmware = savedQEMU, savedFW })
	t.Setenv("STRATA_FAKE_QEMU", mode)
	args := filepath.Join(dir, "qemu-args")
	t.Setenv("FAKE_QEMU_ARGS", args)
	return args
}

// bootDisk assembles nodeTree with what boot-test looks for: the checks a
// strata image carries and, withCloudInit, cloud-init.
func bootDisk(t *testing.T, dir string, withCloudInit bool) string {
	t.Helper()
	tree := filepath.Join(dir, "tree")
	nodeTree(t, tree, false)
	files := map[string]string{"usr/lib/strata/checks.yaml": nodeChecks}
	if withCloudInit {
		files["usr/bin/cloud-init"] = "#!/bin/sh\n# a stand-in for cloud-init\n"
	}
	for p, content := range files {
		must(t, os.MkdirAll(filepath.Join(tree, filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(tree, p), []byte(content), 0o755))
	}
	out := filepath.Join(dir, "disk.raw")
	_, err := disk.Assemble(context.Background(), tree, out, disk.Options{
		Size: 160 << 20, ESPSize: 64 << 20, Seed: "boot-test", Cmdline: "console=ttyS0",
		Epoch: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
	})
	must(t, err)
	return out
}

// TestBootTestEveryFormat boots each format strata writes: QEMU gets the
// disk in its own format name (the archives' disk unpacked), with
// snapshot=on and the seed as a read-only drive, and the carried checks
// come back as the table.
func TestBootTestEveryFormat(t *testing.T) {
	dir := t.TempDir()
	raw := bootDisk(t, dir, true)
	images := map[string]string{"raw": raw}
	for _, name := range []string{"qcow2", "vhd", "vmdk", "ova", "gce"} {
		f, err := formats.Lookup(name)
		must(t, err)
		dst := filepath.Join(dir, "disk-"+name+"."+f.Extension)
		_, err = formats.Convert(context.Background(), raw, dst, f, formats.Options{Seed: "boot-test"})
		must(t, err)
		images[name] = dst
	}
	qemuFormat := map[string]string{"raw": "raw", "qcow2": "qcow2", "vhd": "vpc", "vmdk": "vmdk", "ova": "vmdk", "gce": "raw"}
	for name, img := range images {
		t.Run(name, func(t *testing.T) {
			argsFile := useFakeBoot(t, "healthy")
			junit := filepath.Join(t.TempDir(), "boot.xml")
			out, err := strata(t, "boot-test", "--accel", "tcg", "--bus", "scsi", "--junit", junit, img)
			if err != nil {
				t.Fatalf("strata boot-test: %v\n%s", err, out)
			}
			data, err := os.ReadFile(argsFile)
			must(t, err)
			args := string(data)
			drive := regexp.MustCompile(`(?m)^file=(.*),if=none,id=disk0,format=(\w+),snapshot=on$`).FindStringSubmatch(args)
			if drive == nil || drive[2] != qemuFormat[name] {
				t.Fatalf("QEMU was not given the disk as %s on SCSI:\n%s", qemuFormat[name], args)
			}
			// An archive's disk is unpacked for the boot and removed after.
			unpacked := name == "ova" || name == "gce"
			if unpacked == (drive[1] == img) {
				t.Errorf("QEMU boots %s, the image is %s", drive[1], img)
			}
			if _, err := os.Stat(drive[1]); unpacked && err == nil {
				t.Errorf("the unpacked disk %s is still there after the boot", drive[1])
			}
			for _, want := range []string{"-accel\ntcg\n", "-device\nscsi-hd,bus=scsi0.0,drive=disk0\n", ",if=virtio,format=raw,readonly=on\n", "-netdev\nuser,id=net0,restrict=on\n"} {
				if !strings.Contains(args, want) {
					t.Errorf("QEMU's arguments lack %q:\n%s", want, args)
				}
			}
			for _, r := range [][]string{
				{"PASS", "boot", "boot-test", `reached "strata-boot-check-done" after`},
				{"PASS", "systemctl is-system-running", "boot-test", "running"},
				{"PASS", "service kubelet.service", "image:/usr/lib/strata/checks.yaml:8", "active (running)"},
				{"PASS", "sysctl net.ipv4.ip_forward", "image:/usr/lib/strata/checks.yaml:9", "1 (live, /proc/sys/net/ipv4/ip_forward)"},
				{"PASS", "module br_netfilter", "image:/usr/lib/strata/checks.yaml:11", "loaded (/proc/modules)"},
				{"PASS", "crictl info", "boot-test", "RuntimeReady true, NetworkReady false"},
			} {
				wantRow(t, out, r[0], r[1], r[2:]...)
			}
			for _, want := range []string{"booted in", "(3 of the checks the image carries are about its files, packages or command line", "6 checks: 6 passed"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `<testsuites name="strata boot-test" tests="6" failures="0"`) {
				t.Errorf("JUnit (%v):\n%s", err, b)
			}
		})
	}
}

func TestBootTestWithoutCloudInit(t *testing.T) {
	raw := bootDisk(t, t.TempDir(), false)
	argsFile := useFakeBoot(t, "healthy")
	out, err := strata(t, "boot-test", "--accel", "tcg", raw)
	if err != nil {
		t.Fatalf("a boot without checks failed: %v\n%s", err, out)
	}
	wantRow(t, out, "PASS", "boot", "boot-test")
	wantRow(t, out, "SKIP", "booted-state checks", "boot-test", "the image has no cloud-init (/usr/bin/cloud-init)", "5 checks not run, only the boot")
	if data, _ := os.ReadFile(argsFile); strings.Contains(string(data), ",if=virtio,format=raw,readonly=on") {
		t.Errorf("a seed was attached to an image without cloud-init:\n%s", data)
	}

	// --no-checks: the boot alone, not even read for its checks.
	out, err = strata(t, "boot-test", "--accel", "tcg", "--no-checks", "--json", raw)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Path, Format, Bus, Accel string
		Seconds                  float64
		Checks                   []struct{ Name, Status string }
	}
	must(t, json.Unmarshal([]byte(out), &rep))
	if rep.Path != raw || rep.Format != "raw" || rep.Bus != "virtio" || rep.Accel != "tcg" || rep.Seconds <= 0 ||
		len(rep.Checks) != 1 || rep.Checks[0].Name != "boot" || rep.Checks[0].Status != "pass" {
		t.Errorf("--no-checks --json: %+v\n%s", rep, out)
	}
}

func TestBootTestFailures(t *testing.T) {
	raw := bootDisk(t, t.TempDir(), true)
	useFakeBoot(t, "sysctl-0")
	out, err := strata(t, "boot-test", "--accel", "tcg", raw)
	if err == nil || err.Error() != raw+": 1 check(s) failed" {
		t.Errorf("a failed check: err %v\n%s", err, out)
	}
	wantRow(t, out, "FAIL", "sysctl net.ipv4.ip_forward", "image:/usr/lib/strata/checks.yaml:9", "want 1, found 0 (live, /proc/sys/net/ipv4/ip_forward)")

	useFakeBoot(t, "panic")
	console := filepath.Join(t.TempDir(), "console.log")
	out, err = strata(t, "boot-test", "--accel", "tcg", "--console", console, raw)
	if err == nil || !strings.Contains(err.Error(), `the boot failed: qemu: console shows failure "Kernel panic"`) {
		t.Errorf("a kernel panic: err %v\n%s", err, out)
	}
	wantRow(t, out, "FAIL", "boot", "boot-test", `console shows failure "Kernel panic"`)
	if !strings.Contains(out, raw+": raw disk on virtio, TCG: the boot failed after ") {
		t.Errorf("no verdict line:\n%s", out)
	}
	wantRow(t, out, "ERROR", "sysctl net.ipv4.ip_forward", "image:/usr/lib/strata/checks.yaml:9", "no result: the checks did not start")
	if b, err := os.ReadFile(console); err != nil || !strings.Contains(string(b), "Kernel panic") {
		t.Errorf("--console %s (%v): %q", console, err, b)
	}
}

// TestBootTestFlags: wrong values are usage errors (exit status 2),
// found before anything is read or booted.
func TestBootTestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"boot-test"},
		{"boot-test", "a.raw", "b.raw"},
		{"boot-test", "--bus", "ide", "disk.raw"},
		{"boot-test", "--accel", "hvf", "disk.raw"},
		{"boot-test", "--memory", "lots", "disk.raw"},
		{"boot-test", "--memory", "2GiB", "disk.raw"},
		{"boot-test", "--cpus", "0", "disk.raw"},
		{"boot-test", "--timeout", "0s", "disk.raw"},
		{"boot-test", "--stall", "-1s", "disk.raw"},
		{"boot-test", "--marker", "", "disk.raw"},
		{"boot-test", "--timeout", "soon", "disk.raw"},
	} {
		_, err := strata(t, args...)
		var ec exitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 2 {
			t.Errorf("strata %q: err %v, want exit status 2", args, err)
		}
	}
	o := bootTestOptions{bus: "virtio", memory: "4G", accel: "auto", cpus: 1, timeout: time.Minute, markers: defaultMarkers}
	if err := o.validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
	_, err := strata(t, "boot-test", "--accel", "tcg", filepath.Join(t.TempDir(), "none.raw"))
	var ec exitCoder
	if err == nil || errors.As(err, &ec) {
		t.Errorf("a missing disk: err %v, want exit status 1", err)
	}
}
