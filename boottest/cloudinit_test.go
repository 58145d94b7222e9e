package boottest

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestWhyNoSeed(t *testing.T) {
	cloudInit := &fstest.MapFile{Data: []byte("#!/usr/bin/python3\n"), Mode: 0o755}
	logging := &fstest.MapFile{Data: []byte("_log:\n - &log_base |\n   [loggers]\n")}
	for _, tt := range []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"no cloud-init", fstest.MapFS{"usr/bin/sh": cloudInit}, "the image has no cloud-init (/usr/bin/cloud-init)"},
		{"disabled", fstest.MapFS{"usr/bin/cloud-init": cloudInit, "etc/cloud/cloud-init.disabled": {}}, "cloud-init is disabled"},
		{"no list", fstest.MapFS{"usr/bin/cloud-init": cloudInit, "etc/cloud/cloud.cfg": {Data: []byte("users: [default]\n")}}, ""},
		{"qemu provider", fstest.MapFS{"usr/bin/cloud-init": cloudInit,
			"etc/cloud/cloud.cfg.d/05_logging.cfg":     logging,
			"etc/cloud/cloud.cfg.d/90-strata-qemu.cfg": {Data: []byte("datasource_list: [ NoCloud, None ]\n")}}, ""},
		{"aws provider", fstest.MapFS{"usr/bin/cloud-init": cloudInit,
			"etc/cloud/cloud.cfg":                     {Data: []byte("datasource_list: [ NoCloud, None ]\n")},
			"etc/cloud/cloud.cfg.d/05_logging.cfg":    logging,
			"etc/cloud/cloud.cfg.d/90-strata-aws.cfg": {Data: []byte("datasource_list: [ Ec2, None ]\n")},
			"etc/cloud/cloud.cfg.d/README":            {Data: []byte("datasource_list: [ NoCloud ]\n")},
			"etc/cloud/cloud.cfg.d/broken.cfg":        {Data: []byte("datasource_list: [\n")}},
			"cloud-init's datasource_list is [Ec2, None] (/etc/cloud/cloud.cfg.d/90-strata-aws.cfg), without NoCloud"},
		// A file that sorts later wins.
		{"overridden", fstest.MapFS{"usr/bin/cloud-init": cloudInit,
			"etc/cloud/cloud.cfg.d/90-strata-aws.cfg": {Data: []byte("datasource_list: [ Ec2, None ]\n")},
			"etc/cloud/cloud.cfg.d/99-local.cfg":      {Data: []byte("datasource_list: [ NoCloud, Ec2 ]\n")}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			why, err := WhyNoSeed(tt.fs)
			if err != nil {
				t.Fatal(err)
			}
			if (tt.want == "") != (why == "") || !strings.HasPrefix(why, tt.want) {
				t.Errorf("WhyNoSeed = %q, want %q", why, tt.want)
			}
		})
	}
}
