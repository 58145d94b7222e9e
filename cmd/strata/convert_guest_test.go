package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/providers"
)

// TestConvertGuestApplied: the manifest lists the guest configuration the
// build applied: all of it, the datasources alone (a vendor's disk), or
// none for a disk the user brought.
func TestConvertGuestApplied(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "disk.raw")
	must(t, os.WriteFile(raw, nil, 0o644))
	must(t, os.Truncate(raw, 1<<30))
	for flag, want := range map[string]string{
		"":                              "",
		"--guest-applied":               `{"cloud_init_datasources":["Ec2","None"],"cmdline":["console=ttyS0,115200n8","nvme_core.io_timeout=4294967295"],"initrd_modules":["nvme","ena"]}`,
		"--guest-applied=datasources":   `{"cloud_init_datasources":["Ec2","None"]}`,
		"--guest-applied=whatever-else": "error",
	} {
		t.Run(strings.TrimPrefix(flag, "--"), func(t *testing.T) {
			out := t.TempDir()
			args := []string{"convert", "--provider", "aws", "--seed", "t", "-o", out, raw}
			if flag != "" {
				args = append(args, flag)
			}
			root := newRootCmd()
			root.SetArgs(args)
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			err := root.Execute()
			if want == "error" {
				if err == nil {
					t.Fatal("an unknown --guest-applied value was taken")
				}
				return
			}
			must(t, err)
			data, err := os.ReadFile(filepath.Join(out, providers.ManifestFile))
			must(t, err)
			var m struct {
				Guest json.RawMessage `json:"guest"`
			}
			must(t, json.Unmarshal(data, &m))
			if got := compactJSON(t, m.Guest); got != want {
				t.Errorf("manifest guest %s, want %s", got, want)
			}
		})
	}
}

func compactJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if len(raw) == 0 {
		return ""
	}
	var v any
	must(t, json.Unmarshal(raw, &v))
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}
