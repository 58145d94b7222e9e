package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// newExtentsCmd lists files' data extents. strata build runs it inside the
// builder on a result's raw disks, so that it reads only their data.
func newExtentsCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:    "extents -o FILE.json FILE...",
		Short:  "List the data extents of sparse files, as JSON",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			all := map[string][]rawdisk.Extent{}
			for _, name := range args {
				ext, err := dataExtents(name)
				if err != nil {
					return err
				}
				all[name] = ext
			}
			b, err := json.Marshal(all)
			if err != nil {
				return err
			}
			return os.WriteFile(output, b, 0o644)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "the JSON file to write")
	cmd.MarkFlagRequired("output")
	return cmd
}

func dataExtents(name string) ([]rawdisk.Extent, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ext, err := rawdisk.DataExtents(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ext, nil
}
