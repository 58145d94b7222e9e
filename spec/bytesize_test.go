package spec

import (
	"encoding/json"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
	}{
		{"8GiB", 8 << 30},
		{"512MiB", 512 << 20},
		{"1536MiB", 1536 << 20},
		{"4KiB", 4096},
		{"2TiB", 2 << 40},
		{"1073741824", 1 << 30},
		{"0", 0},
		{"007GiB", 7 << 30},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseByteSizeErrors(t *testing.T) {
	const hint = "; use a whole number with a unit KiB, MiB, GiB or TiB (e.g. 8GiB), or a plain number of bytes"
	tests := []struct{ in, want string }{
		{"1.5GiB", `invalid size "1.5GiB"` + hint},
		{"8GB", `invalid size "8GB"` + hint},
		{"8G", `invalid size "8G"` + hint},
		{"8gib", `invalid size "8gib"` + hint},
		{"8 GiB", `invalid size "8 GiB"` + hint},
		{"-1GiB", `invalid size "-1GiB"` + hint},
		{"GiB", `invalid size "GiB"` + hint},
		{"", `invalid size ""` + hint},
		{"abc", `invalid size "abc"` + hint},
		{"8388608TiB", `size "8388608TiB" is too large`},
		{"99999999999999999999", `size "99999999999999999999" is too large`},
	}
	for _, tt := range tests {
		_, err := ParseByteSize(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseByteSize(%q) error %v; want %s", tt.in, err, tt.want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{8 * GiB, "8GiB"},
		{1536 * MiB, "1536MiB"},
		{1024 * GiB, "1TiB"},
		{1024, "1KiB"},
		{1000, "1000"},
		{GiB + 1, "1073741825"},
		{0, "0"},
		{-MiB, "-1048576"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if tt.in < 0 {
			continue
		}
		back, err := ParseByteSize(tt.want)
		if err != nil || back != tt.in {
			t.Errorf("round trip of %q: %d, %v", tt.want, back, err)
		}
	}
}

func TestByteSizeJSON(t *testing.T) {
	data, err := json.Marshal(struct{ Size ByteSize }{8192 * MiB})
	if err != nil || string(data) != `{"Size":"8GiB"}` {
		t.Fatalf("marshal: %s, %v", data, err)
	}
	var back struct{ Size ByteSize }
	if err := json.Unmarshal(data, &back); err != nil || back.Size != 8*GiB {
		t.Errorf("unmarshal: %v, %v", back.Size, err)
	}
	if err := json.Unmarshal([]byte(`{"Size":"8GB"}`), &back); err == nil {
		t.Error("unmarshal of 8GB succeeded")
	}
}
