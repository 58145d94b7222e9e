package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes. Only binary units are accepted because disk
// sizes must line up with sectors and MiB alignment; "8GB" is rejected
// rather than guessed at.
type ByteSize int64

// Binary size units.
const (
	KiB ByteSize = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

// sizeUnits is ordered largest first so String picks the largest exact
// unit.
var sizeUnits = []struct {
	suffix string
	size   ByteSize
}{
	{"TiB", TiB},
	{"GiB", GiB},
	{"MiB", MiB},
	{"KiB", KiB},
}

// sizeHint is appended to every size parse error so users see the
// accepted forms.
const sizeHint = "use a whole number with a unit KiB, MiB, GiB or TiB (e.g. 8GiB), or a plain number of bytes"

// ParseByteSize reads "8GiB", "512MiB" or a plain integer number of bytes.
// Fractions are refused so that the same size has only one spelling.
func ParseByteSize(s string) (ByteSize, error) {
	num, unit := s, ByteSize(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, unit = strings.TrimSuffix(s, u.suffix), u.size
			break
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("invalid size %q; %s", s, sizeHint)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n) * unit, nil
}

// String prints the canonical form: the largest unit that divides the
// size exactly, or plain bytes. Equal sizes therefore print the same,
// which keeps the spec digest independent of spelling.
func (b ByteSize) String() string {
	if b > 0 {
		for _, u := range sizeUnits {
			if b%u.size == 0 {
				return strconv.FormatInt(int64(b/u.size), 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalText makes JSON and YAML output use the canonical form.
func (b ByteSize) MarshalText() ([]byte, error) {
	return []byte(b.String()), nil
}

// UnmarshalText accepts what ParseByteSize accepts, so encoded specs read
// back unchanged.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}
