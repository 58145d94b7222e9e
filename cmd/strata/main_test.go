package main

import (
	"errors"
	"io"
	"testing"
)

// TestUsageErrorsExitWith2: docs/cli.md promises exit status 2 for a wrong
// command line and 1 for a failed build.
func TestUsageErrorsExitWith2(t *testing.T) {
	for _, args := range [][]string{
		{"build", "--no-such-flag", "x.yaml"},
		{"build"},
		{"targets", "extra"},
		{"assemble", "--rootfs", "x", "-o", "y", "--size", "lots"},
		{"assemble", "-o", "y"},
		{"add-layer", "--tree", "x", "-o", "y"},
		{"add-layer", "base.raw", "-o", "y"},
	} {
		root := newRootCmd()
		root.SetArgs(args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		var ec exitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 2 {
			t.Errorf("strata %q: err %v, want exit status 2", args, err)
		}
	}
	root := newRootCmd()
	root.SetArgs([]string{"outline", "/nonexistent/node.yaml"})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	var ec exitCoder
	if err := root.Execute(); err == nil || errors.As(err, &ec) {
		t.Errorf("a missing spec: err %v, want a plain error (exit status 1)", err)
	}
}
