package main

import (
	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"
	"github.com/spf13/cobra"
	"github.com/strata-dev/strata/frontend"
)

// newFrontendCmd is the entrypoint of the frontend image: BuildKit starts it
// with the gateway API on stdio.
func newFrontendCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "frontend",
		Short:  "Run as a BuildKit gateway frontend (the frontend image's entrypoint)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return grpcclient.RunFromEnvironment(appcontext.Context(), frontend.Build)
		},
	}
}
