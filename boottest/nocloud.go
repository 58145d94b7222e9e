package boottest

import (
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// NoCloudSeed is what cloud-init's NoCloud datasource reads from a volume
// labelled "cidata": the files a cloud's metadata service would serve.
type NoCloudSeed struct {
	// UserData is the user-data document, e.g. "#cloud-config\n...".
	UserData string
	// MetaData holds instance-id, which tells cloud-init a first boot from
	// a later one, and optionally local-hostname.
	MetaData string
	// NetworkConfig, if set, is written as network-config.
	NetworkConfig string
}

// seedSize is the smallest FAT32 go-diskfs makes with 512-byte clusters
// comfortably above the 65,525 clusters FAT32 needs; the file is sparse.
const seedSize = 40 << 20

// Write makes the seed image at path, a FAT32 filesystem without a
// partition table, which cloud-init finds by its label and mounts read-only.
func (s NoCloudSeed) Write(path string) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating the NoCloud seed: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing the NoCloud seed: %w", cerr)
		}
	}()
	if err := f.Truncate(seedSize); err != nil {
		return fmt.Errorf("sizing the NoCloud seed: %w", err)
	}
	fs, err := fat32.Create(file.New(f, false), seedSize, 0, 512, "cidata", false)
	if err != nil {
		return fmt.Errorf("making the NoCloud seed's filesystem: %w", err)
	}
	files := map[string]string{"user-data": s.UserData, "meta-data": s.MetaData}
	if s.NetworkConfig != "" {
		files["network-config"] = s.NetworkConfig
	}
	for name, content := range files {
		w, err := fs.OpenFile("/"+name, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
		if err != nil {
			return fmt.Errorf("NoCloud seed %s: %w", name, err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			return fmt.Errorf("NoCloud seed %s: %w", name, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("NoCloud seed %s: %w", name, err)
		}
	}
	return nil
}
