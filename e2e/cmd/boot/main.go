// Command boot boots a disk image under QEMU (TCG, OVMF) and waits until the
// console shows that systemd reached multi-user.target and the example's
// marker unit ran. It is the last step of the README's quick start.
//
//	go run ./e2e/cmd/boot [-console FILE] [-timeout 12m] [-stall 4m] [-expect TEXT]... disk.raw
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/strata-dev/strata/boottest"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	console := flag.String("console", "", "write the serial console here")
	format := flag.String("format", "raw", "disk format: raw, qcow2, vpc, vmdk")
	bus := flag.String("bus", "virtio", "disk bus: virtio, nvme or scsi (virtio-scsi)")
	timeout := flag.Duration("timeout", 12*time.Minute, "give up after this long (TCG emulation is slow)")
	stall := flag.Duration("stall", 4*time.Minute, "boot once more if the console is silent this long (a TCG guest now and then freezes early in its boot); 0: never")
	verbose := flag.Bool("v", false, "copy the console to stderr as it comes")
	var expect listFlag
	flag.Var(&expect, "expect", "console text that must appear (repeatable; default: multi-user.target and the example's marker)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: boot [flags] DISK")
		os.Exit(2)
	}
	if len(expect) == 0 {
		expect = listFlag{"Linux version", "Multi-User System", "strata-ready: booted"}
	}
	opts := boottest.Options{
		Disk: flag.Arg(0), Format: *format, Bus: *bus, Timeout: *timeout, StallTimeout: *stall, ConsoleLog: *console, Network: true,
		Expect: expect, Fail: []string{"Kernel panic", "emergency mode"},
	}
	if *verbose {
		opts.Stdout = os.Stderr
	}
	fmt.Fprintf(os.Stderr, "booting %s under QEMU (TCG, OVMF); this takes minutes...\n", flag.Arg(0))
	res, err := boottest.Boot(context.Background(), opts)
	if errors.Is(err, boottest.ErrStalled) {
		fmt.Fprintln(os.Stderr, "boot stalled, booting once more:", err)
		res, err = boottest.Boot(context.Background(), opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "boot failed:", err)
		os.Exit(1)
	}
	for _, e := range expect {
		fmt.Printf("  %-24q after %s\n", e, res.Matched[e].Round(100*time.Millisecond))
	}
	fmt.Printf("booted in %s\n", res.Duration.Round(time.Second))
}
