// Package nosync runs a program whose fsync calls do nothing, as
// eatmydata does, with a seccomp filter instead of a preloaded library.
//
// e2fsprogs flushes the image it wrote with fsync before it exits. For an
// image that is a build step's output that buys nothing (BuildKit does not
// sync its snapshots either, and a crash loses the step anyway) and costs a
// lot: debugfs adding a layer waits a quarter of a second or more for its
// 200 MiB of new files to reach the disk, and the next step then reads them
// back from memory.
//
// A process cannot install the filter in a child it starts with os/exec,
// so Command starts this very binary, which installs the filter on itself
// in Init and then becomes the program (execve keeps the filter).
package nosync

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// marker, as the first argument, tells Init that the second names the
// program to become. Arguments, unlike the environment, are not what
// callers of Command set again.
const marker = "--strata-nosync-exec"

// auditArch is how seccomp names this binary's architecture, whose system
// call numbers the filter uses; 0 where the filter is not written for it.
var auditArch = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]

// initialized says Init ran in this binary, so starting it again with
// marker makes it the program.
var initialized bool

// Command is exec.CommandContext for a program whose syncs do nothing. It
// is the plain command in a binary that does not call Init (tests), or
// where this binary or the program cannot be found. The program dies with
// its parent: a strata killed with SIGKILL leaves no mke2fs writing on.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	self, err := os.Executable()
	path, lookErr := exec.LookPath(name)
	var cmd *exec.Cmd
	if !initialized || err != nil || lookErr != nil || auditArch == 0 {
		cmd = exec.CommandContext(ctx, name, args...)
	} else {
		cmd = exec.CommandContext(ctx, self, append([]string{marker, path}, args...)...)
		cmd.Args[0] = name
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Init becomes the program Command asked for, if this process was started
// by Command; otherwise it returns at once. main calls it first.
func Init() {
	initialized = true
	if len(os.Args) < 3 || os.Args[1] != marker {
		return
	}
	target, argv := os.Args[2], append([]string{os.Args[0]}, os.Args[3:]...)
	// The filter is the calling thread's, and execve keeps the calling
	// thread: both must happen on the same one.
	runtime.LockOSThread()
	// Without the filter the program still runs, only with its syncs:
	// slower, never wrong.
	_ = ignoreSyncs()
	err := syscall.Exec(target, argv, os.Environ())
	os.Stderr.WriteString("strata: running " + target + ": " + err.Error() + "\n")
	os.Exit(127)
}

// ignoreSyncs installs a filter that makes fsync, fdatasync, syncfs and
// sync return success without doing anything.
func ignoreSyncs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jumpIfEqual := func(k uint32, jt uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, K: k}
	}
	ignored := []uint32{unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_SYNCFS, unix.SYS_SYNC}
	prog := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, 4), // seccomp_data.arch
		// Another architecture's calls (32-bit ones) have other numbers.
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: uint8(len(ignored) + 1), K: auditArch},
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, 0), // seccomp_data.nr
	}
	for i, nr := range ignored {
		prog = append(prog, jumpIfEqual(nr, uint8(len(ignored)-i)))
	}
	prog = append(prog,
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW),
		// An errno of 0 is a successful return.
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO),
	)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return errno
	}
	return nil
}
