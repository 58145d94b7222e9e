package boottest

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// CloudInitBinary is how an image shows it has cloud-init.
const CloudInitBinary = "/usr/bin/cloud-init"

// cloudInitOff is the file that keeps cloud-init from running at all
// (cloud-init's systemd generator looks for it).
const cloudInitOff = "/etc/cloud/cloud-init.disabled"

// cloudConfigs are where cloud-init reads its datasource_list from: the
// main file, then every *.cfg of the directory in lexical order, a later
// setting replacing an earlier one.
const (
	cloudConfig    = "/etc/cloud/cloud.cfg"
	cloudConfigDir = "/etc/cloud/cloud.cfg.d"
)

// WhyNoSeed reports, from the image's root filesystem, why the guest
// would not read a NoCloud seed: no cloud-init, cloud-init disabled, or a
// datasource_list that leaves NoCloud out (strata's provider images pin
// their cloud's datasource: aws has [Ec2, None]). It returns "" when the
// seed will be read, as far as the image's files tell (the kernel
// command line can still say otherwise).
func WhyNoSeed(root fs.FS) (string, error) {
	has := func(p string) (bool, error) {
		_, err := fs.Stat(root, strings.TrimPrefix(p, "/"))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	if ok, err := has(CloudInitBinary); err != nil || !ok {
		return "the image has no cloud-init (" + CloudInitBinary + "), which the checks come in through", err
	}
	if off, err := has(cloudInitOff); err != nil || off {
		return "cloud-init is disabled (" + cloudInitOff + ")", err
	}
	list, from, err := datasourceList(root)
	if err != nil || len(list) == 0 || slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, "NoCloud") }) {
		return "", err
	}
	return fmt.Sprintf("cloud-init's datasource_list is [%s] (%s), without NoCloud: it would not read the seed the checks come in",
		strings.Join(list, ", "), from), nil
}

// datasourceList is the datasource_list cloud-init's configuration ends
// up with, and the file that set it. A file that is no YAML mapping is
// passed over, as cloud-init itself warns and goes on.
func datasourceList(root fs.FS) (list []string, from string, err error) {
	files := []string{cloudConfig}
	entries, err := fs.ReadDir(root, strings.TrimPrefix(cloudConfigDir, "/"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".cfg") {
			files = append(files, path.Join(cloudConfigDir, e.Name()))
		}
	}
	for _, f := range files {
		data, err := fs.ReadFile(root, strings.TrimPrefix(f, "/"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		var cfg struct {
			DatasourceList []string `yaml:"datasource_list"`
		}
		if yaml.Unmarshal(data, &cfg) == nil && cfg.DatasourceList != nil {
			list, from = cfg.DatasourceList, f
		}
	}
	return list, from, nil
}
