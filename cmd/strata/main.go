// Command strata builds bootable VM and cloud disk images for Kubernetes
// nodes from a YAML spec, with BuildKit.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/disk/nosync"
)

func main() {
	nosync.Init()
	// SIGINT or SIGTERM cancels the command's context: it stops, removes
	// its temporary files and exits. A second signal, with the default
	// handling back, kills it at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := newRootCmd().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		var ec exitCoder
		switch {
		case interrupted:
			// As a shell reports a command SIGINT stopped; the temporary
			// files are gone by now.
			fmt.Fprintln(os.Stderr, "strata: interrupted:", err)
			os.Exit(130)
		case errors.As(err, &ec):
			fmt.Fprintln(os.Stderr, "strata:", err)
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "strata:", err)
		os.Exit(1)
	}
}

// exitCoder lets a command choose its exit status (2 for usage errors).
type exitCoder interface{ ExitCode() int }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Build bootable VM and cloud disk images for Kubernetes nodes with BuildKit",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newBuildCmd(),
		newAssembleCmd(),
		newAddLayerCmd(),
		newImportDiskCmd(),
		newSysextCmd(),
		newTargetsCmd(),
		newOutlineCmd(),
		newSchemaCmd(),
		newConvertCmd(),
		newInspectCmd(),
		newBootTestCmd(),
		newExtentsCmd(),
		newFrontendCmd(),
		newVersionCmd(),
	)
	// Usage errors exit with 2, build and spec errors with 1, as documented
	// in docs/cli.md; scripts tell "fix the command" from "fix the spec".
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badFlagError{err} })
	// cobra reports a missing required flag after the persistent hooks,
	// and without the flag error func; check first, as a usage error.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := cmd.ValidateRequiredFlags(); err != nil {
			return badFlagError{err}
		}
		return nil
	}
	for _, c := range root.Commands() {
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return badFlagError{err}
				}
				return nil
			}
		}
	}
	return root
}
