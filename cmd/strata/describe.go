package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/frontend"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/spec"
)

func newTargetsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "targets",
		Short: "List what strata build --target can produce (as docker buildx build --call targets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TARGET\tDESCRIPTION")
			for _, t := range frontend.Targets().Targets {
				name := t.Name
				if t.Default {
					name += " (default)"
				}
				fmt.Fprintf(w, "%s\t%s\n", name, t.Description)
			}
			return w.Flush()
		},
	}
}

func newOutlineCmd() *cobra.Command {
	var target string
	var buildArgs []string
	cmd := &cobra.Command{
		Use:   "outline SPEC",
		Short: "List the build args a spec accepts, with their values and lines (as docker buildx build --call outline)",
		Example: `  strata outline examples/kubernetes-node.yaml
  strata outline examples/kubernetes-node.yaml --build-arg KUBERNETES_VERSION=v1.36.2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			values := map[string]string{}
			for _, kv := range buildArgs {
				k, v, _ := strings.Cut(kv, "=")
				values[k] = v
			}
			sp, err := spec.Load(args[0], data, values, overlays.Defaults())
			if err != nil {
				return err
			}
			o, err := frontend.Outline(sp, data, target)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "TARGET: %s\n\nBUILD ARG\tVALUE\tLINE\tDESCRIPTION\n", o.Name)
			for _, a := range o.Args {
				line := ""
				if a.Location != nil && len(a.Location.Ranges) > 0 {
					line = fmt.Sprint(a.Location.Ranges[0].Start.Line)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.Name, a.Value, line, a.Description)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "the target to outline (default disk)")
	cmd.Flags().StringArrayVar(&buildArgs, "build-arg", nil, "override a spec field, e.g. DISK_SIZE=4GiB (repeatable)")
	return cmd
}

func newSchemaCmd() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the spec's JSON Schema, generated from its Go types (docs/spec.schema.json)",
		Example: `  strata schema > node-image.schema.json   # for editors: yaml-language-server: $schema=...
  strata schema --markdown                  # the field reference of docs/spec.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if markdown {
				_, err := fmt.Fprint(cmd.OutOrStdout(), spec.FieldReference())
				return err
			}
			data, err := spec.SchemaJSON()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the field reference table instead")
	return cmd
}
