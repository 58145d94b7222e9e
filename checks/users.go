package checks

import (
	"fmt"
	"strconv"
	"strings"
)

// idDB maps names to numeric ids and back, as read from the image's
// /etc/passwd or /etc/group (name:password:id:...).
type idDB struct {
	file   string
	byName map[string]uint32
	byID   map[uint32]string
}

func loadIDs(e *env, file string) (idDB, error) {
	b, err := e.readFile(file)
	if err != nil {
		return idDB{}, fmt.Errorf("reading the image's %s: %w", file, err)
	}
	return parseIDs(file, string(b)), nil
}

// parseIDs reads passwd(5) or group(5) lines; malformed lines and NIS
// "+"/"-" entries are skipped, as getent skips what it cannot use.
func parseIDs(file, text string) idDB {
	db := idDB{file: file, byName: map[string]uint32{}, byID: map[uint32]string{}}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := db.byName[f[0]]; !dup {
			db.byName[f[0]] = uint32(id)
		}
		if _, dup := db.byID[uint32(id)]; !dup {
			db.byID[uint32(id)] = f[0]
		}
	}
	return db
}

// idFor turns what a check says (a number, or a name looked up in the
// image's database) into an id.
func idFor(want string, db *lazy[idDB]) (uint32, error) {
	if n, err := strconv.ParseUint(want, 10, 32); err == nil {
		return uint32(n), nil
	}
	d, err := db.get()
	if err != nil {
		return 0, err
	}
	id, ok := d.byName[want]
	if !ok {
		return 0, fmt.Errorf("no %q in the image's %s", want, d.file)
	}
	return id, nil
}

// describeID prints an id with its name in the image, when it has one.
func describeID(id uint32, db *lazy[idDB]) string {
	s := strconv.FormatUint(uint64(id), 10)
	if d, err := db.get(); err == nil {
		if name, ok := d.byID[id]; ok {
			return s + " (" + name + ")"
		}
	}
	return s
}
