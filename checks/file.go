package checks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// File checks an entry of the root filesystem. Type, Mode, Owner, Group
// and Target describe the entry itself (a symlink is not followed); the
// content checks (Contains, NotContains, Equals, SHA256) read what it
// names, symlinks followed inside the image.
type File struct {
	// Path is absolute and may hold wildcards (path.Match syntax) in any
	// component: then at least one entry must match, and every match
	// must pass; or, with Absent, none may exist.
	Path string
	// Absent wants nothing at Path (not even a dangling symlink).
	Absent bool
	// Type is "file", "directory", "symlink", "fifo", "socket",
	// "char-device" or "block-device"; empty accepts any.
	Type string
	// Mode is the permission bits in octal, setuid, setgid and sticky
	// included: "0644", "4755".
	Mode string
	// Owner and Group are numeric ids or names, resolved through the
	// image's /etc/passwd and /etc/group.
	Owner, Group string
	// Contains and NotContains are substrings the content must (not) have.
	Contains, NotContains []string
	// Equals, when set, is the whole content.
	Equals *string
	// SHA256 is the content's digest in hex.
	SHA256 string
	// Target, when set, is the symlink's target as stored (implies a
	// symlink).
	Target *string
}

// fileTypes names fs.FileMode types the way checks spell them.
var fileTypes = []struct {
	name string
	mode fs.FileMode
}{
	{"file", 0},
	{"directory", fs.ModeDir},
	{"symlink", fs.ModeSymlink},
	{"fifo", fs.ModeNamedPipe},
	{"socket", fs.ModeSocket},
	{"char-device", fs.ModeDevice | fs.ModeCharDevice},
	{"block-device", fs.ModeDevice},
}

// FileTypes lists the names Type accepts.
func FileTypes() []string {
	names := make([]string, len(fileTypes))
	for i, t := range fileTypes {
		names[i] = t.name
	}
	return names
}

func typeName(m fs.FileMode) string {
	for _, t := range fileTypes {
		if m.Type() == t.mode {
			return t.name
		}
	}
	return m.Type().String()
}

// Describe implements Assertion.
func (f File) Describe() string { return "file " + f.Path }

func (f File) wants() []string {
	w := []string{}
	if !hasMeta(f.Path) {
		w = append(w, f.Path)
		if f.Target != nil || f.Type == "symlink" {
			w = append(w, path.Dir(f.Path))
		}
	}
	if f.Owner != "" {
		w = append(w, "/etc/passwd")
	}
	if f.Group != "" {
		w = append(w, "/etc/group")
	}
	return w
}

func (f File) validate() error {
	errs := []error{checkImagePath(f.Path)}
	if f.Type != "" {
		errs = append(errs, checkFileType(f.Type))
	}
	if f.Mode != "" {
		_, err := parseMode(f.Mode)
		errs = append(errs, err)
	}
	if f.SHA256 != "" {
		errs = append(errs, checkSHA256(f.SHA256))
	}
	if f.Target != nil && f.Type != "" && f.Type != "symlink" {
		errs = append(errs, fmt.Errorf("a target is only for type symlink, not %s", f.Type))
	}
	if f.Absent && f.asksMoreThanExistence() {
		errs = append(errs, errors.New("absent cannot be combined with what the file should be like"))
	}
	return errors.Join(errs...)
}

// checkImagePath accepts an absolute path, wildcards allowed.
// LiteralPath escapes the wildcard characters of p (*, ?, [ and \), so that
// a File check of the result names exactly that path.
func LiteralPath(p string) string {
	if !hasMeta(p) {
		return p
	}
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func checkImagePath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q must be absolute", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("path %q: %w", p, err)
	}
	return nil
}

func checkFileType(t string) error {
	if !slices.Contains(FileTypes(), t) {
		return fmt.Errorf("type %q is not one of %s", t, strings.Join(FileTypes(), ", "))
	}
	return nil
}

func checkSHA256(s string) error {
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("sha256 %q is not 64 hex digits", s)
	}
	return nil
}

func (f File) asksMoreThanExistence() bool {
	return f.Type != "" || f.Mode != "" || f.Owner != "" || f.Group != "" || f.wantsContent() || f.Target != nil
}

func (f File) wantsContent() bool {
	return len(f.Contains) > 0 || len(f.NotContains) > 0 || f.Equals != nil || f.SHA256 != ""
}

// parseMode reads an octal permission string such as "0644" or "4755".
func parseMode(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("mode %q is not an octal mode from 0000 to 7777", s)
	}
	return fs.FileMode(n), nil
}

// permBits is a FileMode's permission bits the way chmod numbers them.
func permBits(m fs.FileMode) fs.FileMode {
	bits := m.Perm()
	for _, b := range []struct{ fs, oct fs.FileMode }{{fs.ModeSetuid, 0o4000}, {fs.ModeSetgid, 0o2000}, {fs.ModeSticky, 0o1000}} {
		if m&b.fs != 0 {
			bits |= b.oct
		}
	}
	return bits
}

func (f File) evaluate(e *env) Outcome {
	matches, err := e.match(f.Path)
	if err != nil {
		return errorOutcome(f.Path, err)
	}
	if f.Absent {
		if len(matches) > 0 {
			return fail(matches[0], "absent", "present"+more(matches))
		}
		return pass(f.Path, "absent")
	}
	if len(matches) == 0 {
		return fail(f.Path, "present", "absent")
	}
	var o Outcome
	for _, m := range matches {
		if o = f.checkOne(e, m); o.Status != Pass {
			return o
		}
	}
	if len(matches) > 1 {
		return pass(f.Path, fmt.Sprintf("%d matches pass", len(matches)))
	}
	return o
}

func more(matches []string) string {
	if len(matches) > 1 {
		return fmt.Sprintf(" (%d matches: %s)", len(matches), listing(matches, 3))
	}
	return ""
}

// checkOne checks one entry; its passing outcome sums up what was seen.
func (f File) checkOne(e *env, p string) Outcome {
	info, err := e.lstat(p)
	if err != nil {
		return errorOutcome(p, err)
	}
	seen := []string{typeName(info.Mode())}
	if f.Type != "" && typeName(info.Mode()) != f.Type {
		return fail(p, "a "+f.Type, "a "+typeName(info.Mode()))
	}
	if f.Target != nil {
		if info.Mode()&fs.ModeSymlink == 0 {
			return fail(p, "a symlink to "+*f.Target, "a "+typeName(info.Mode()))
		}
		t, err := e.readLink(p)
		if err != nil {
			return errorOutcome(p, err)
		}
		if t != *f.Target {
			return fail(p, "target "+*f.Target, "target "+t)
		}
		seen = append(seen, "-> "+t)
	}
	if f.Mode != "" {
		want, _ := parseMode(f.Mode)
		if got := permBits(info.Mode()); got != want {
			return fail(p, fmt.Sprintf("mode %04o", want), fmt.Sprintf("mode %04o", got))
		}
		seen = append(seen, fmt.Sprintf("mode %04o", want))
	}
	if o, ok := f.checkIDs(e, p, info); !ok {
		return o
	} else if o.Found != "" {
		seen = append(seen, o.Found)
	}
	if f.wantsContent() {
		o := f.checkContent(e, p)
		if o.Status != Pass {
			return o
		}
		seen = append(seen, o.Found)
	}
	return pass(p, strings.Join(seen, ", "))
}

// checkIDs compares owner and group; ok is false when the outcome is the
// verdict.
func (f File) checkIDs(e *env, p string, info fs.FileInfo) (Outcome, bool) {
	if f.Owner == "" && f.Group == "" {
		return Outcome{}, true
	}
	uid, gid, ok := owner(info)
	if !ok {
		return errorOutcome(p, errors.New("the file system does not report owners")), false
	}
	var seen []string
	for _, c := range []struct {
		what, want string
		got        uint32
		db         *lazy[idDB]
	}{{"owner", f.Owner, uid, e.users}, {"group", f.Group, gid, e.groups}} {
		if c.want == "" {
			continue
		}
		id, err := idFor(c.want, c.db)
		if err != nil {
			return errorOutcome(p, fmt.Errorf("%s %s: %w", c.what, c.want, err)), false
		}
		if id != c.got {
			return fail(p, c.what+" "+describeID(id, c.db), c.what+" "+describeID(c.got, c.db)), false
		}
		seen = append(seen, c.what+" "+describeID(id, c.db))
	}
	return Outcome{Found: strings.Join(seen, ", ")}, true
}

// maxContent bounds what a content check reads into memory; a digest
// alone streams.
const maxContent = 64 << 20

func (f File) checkContent(e *env, p string) Outcome {
	info, err := e.stat(p)
	if err != nil {
		return fail(p, "content to check", "a symlink that resolves to nothing ("+err.Error()+")")
	}
	if !info.Mode().IsRegular() {
		return fail(p, "a regular file's content", "a "+typeName(info.Mode()))
	}
	needText := len(f.Contains) > 0 || len(f.NotContains) > 0 || f.Equals != nil
	if needText && info.Size() > maxContent {
		return errorOutcome(p, fmt.Errorf("%d bytes is too large to compare (limit %d); check sha256 instead", info.Size(), maxContent))
	}
	file, err := e.open(p)
	if err != nil {
		return errorOutcome(p, err)
	}
	defer file.Close()
	sum := sha256.New()
	var text bytes.Buffer
	w := io.Writer(sum)
	if needText {
		w = io.MultiWriter(sum, &text)
	}
	if _, err := io.Copy(w, file); err != nil {
		return errorOutcome(p, err)
	}
	b := text.Bytes()
	for _, s := range f.Contains {
		if !bytes.Contains(b, []byte(s)) {
			return fail(p, "content containing "+strconv.Quote(s), "no such text")
		}
	}
	for _, s := range f.NotContains {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			return fail(p, "content without "+strconv.Quote(s), fmt.Sprintf("it on line %d", bytes.Count(b[:i], []byte("\n"))+1))
		}
	}
	if f.Equals != nil && string(b) != *f.Equals {
		return fail(p, "content "+clip(*f.Equals), "content "+clip(string(b)))
	}
	digest := hex.EncodeToString(sum.Sum(nil))
	if f.SHA256 != "" && !strings.EqualFold(digest, f.SHA256) {
		return fail(p, "sha256 "+strings.ToLower(f.SHA256), "sha256 "+digest)
	}
	return pass(p, fmt.Sprintf("content ok (%d bytes)", info.Size()))
}

// clip quotes a content for a message, shortened.
func clip(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:60]) + "..."
	}
	return strconv.Quote(s)
}
