package disk

import (
	"fmt"
	"strings"
)

// ESP layout. The kernel and initrd go under /<entryToken>/<version>/, the
// Boot Loader Specification's recommended shape, so a later A/B or
// multi-kernel layout can add versions side by side without renaming files.
// The token is fixed rather than a machine-id because the image is generic:
// it gets its machine-id on first boot.
const (
	entryToken     = "strata"
	espFallbackEFI = "/EFI/BOOT/BOOTX64.EFI"
	espSystemdEFI  = "/EFI/systemd/systemd-bootx64.efi"
	espLoaderConf  = "/loader/loader.conf"
	espEntriesDir  = "/loader/entries"
)

// loaderEntry is one Boot Loader Specification type #1 entry.
type loaderEntry struct {
	// ID is the entry file name without ".conf"; it is lower case because
	// systemd-boot lower-cases entry IDs before matching `default`.
	ID      string
	Title   string
	Version string
	Linux   string // ESP path of the kernel
	Initrd  string // ESP path of the initrd
	Options string // kernel command line
}

// newLoaderEntry builds the entry for a kernel version: paths on the ESP
// and the command line rooting the system at the root partition by PARTUUID
// (stable across device renames, unlike /dev/vda2, and known before mkfs).
func newLoaderEntry(title, version, rootPartUUID, cmdline string) loaderEntry {
	dir := "/" + entryToken
	id := entryToken
	if version != "" {
		v := sanitizeVersion(version)
		dir += "/" + v
		id += "-" + v
	}
	opts := "root=PARTUUID=" + strings.ToLower(rootPartUUID) + " rw"
	if c := strings.Join(strings.Fields(cmdline), " "); c != "" {
		opts += " " + c
	}
	return loaderEntry{
		ID:      id,
		Title:   title,
		Version: version,
		Linux:   dir + "/vmlinuz",
		Initrd:  dir + "/initrd.img",
		Options: opts,
	}
}

// Path is where the entry file lives on the ESP.
func (e loaderEntry) Path() string { return espEntriesDir + "/" + e.ID + ".conf" }

// Conf renders the entry file.
func (e loaderEntry) Conf() string {
	var b strings.Builder
	fmt.Fprintf(&b, "title %s\n", e.Title)
	if e.Version != "" {
		fmt.Fprintf(&b, "version %s\n", e.Version)
	}
	fmt.Fprintf(&b, "linux %s\n", e.Linux)
	fmt.Fprintf(&b, "initrd %s\n", e.Initrd)
	fmt.Fprintf(&b, "options %s\n", e.Options)
	return b.String()
}

// loaderConf renders loader/loader.conf. "timeout 0" boots the default
// entry at once (holding a key still shows the menu), and "console-mode
// keep" leaves the firmware's console mode alone, which is what serial
// consoles on cloud VMs need.
func loaderConf(defaultEntry loaderEntry) string {
	return fmt.Sprintf("timeout 0\ndefault %s.conf\nconsole-mode keep\n", defaultEntry.ID)
}

// sanitizeVersion keeps a kernel version usable as a FAT directory name and
// an entry ID: lower case, and anything outside [a-z0-9._+-] becomes "_".
func sanitizeVersion(v string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '+':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '_'
	}, v)
}

// parseLoaderConf reads "key value" lines as systemd-boot does: the first
// word is the key, the rest of the line (trimmed) the value; '#' starts a
// comment line. Repeated keys keep the first value except "initrd", which
// may legitimately repeat and is joined with spaces.
func parseLoaderConf(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key := strings.Fields(line)[0]
		value := strings.TrimSpace(line[len(key):])
		if old, ok := m[key]; ok {
			if key == "initrd" {
				m[key] = old + " " + value
			}
			continue
		}
		m[key] = value
	}
	return m
}
