package nosync

import (
	"os"
	"os/exec"
	"testing"
)

// TestMain wires Init in as strata's main does, so that Command can start
// the test binary as the program.
func TestMain(m *testing.M) {
	Init()
	os.Exit(m.Run())
}

// TestSyncsSucceed: fsync on /dev/null fails (EINVAL), so coreutils' sync
// reports an error; under Command the call does nothing and succeeds.
func TestSyncsSucceed(t *testing.T) {
	if auditArch == 0 {
		t.Skip("no filter for this architecture")
	}
	if out, err := exec.Command("sync", "/dev/null").CombinedOutput(); err == nil {
		t.Skipf("plain sync /dev/null succeeds here (%s): the test cannot tell", out)
	}
	out, err := Command(t.Context(), "sync", "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("sync under Command: %v: %s", err, out)
	}
}

// TestCommandRunsTheProgram: the program gets the arguments, and a
// failing one still fails.
func TestCommandRunsTheProgram(t *testing.T) {
	out, err := Command(t.Context(), "sh", "-c", `echo "$0 $1"`, "zero", "one").CombinedOutput()
	if err != nil || string(out) != "zero one\n" {
		t.Errorf("got %q, %v; want \"zero one\"", out, err)
	}
	if err := Command(t.Context(), "false").Run(); err == nil {
		t.Error("false succeeded")
	}
}
