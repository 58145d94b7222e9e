package boottest

import (
	"strings"
	"testing"
	"time"
)

// ovmfConsole is what OVMF's serial console prints when it boots with an
// empty virtio disk (recorded on Debian 12, shortened).
const ovmfConsole = "\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01H" +
	"BdsDxe: failed to load Boot0001 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x1,0x0): Not Found\r\n" +
	"BdsDxe: loading Boot0002 \"EFI Internal Shell\" from Fv(7CB8BDC9)\r\n" +
	"\x1b[2J\x1b[01;01H\x1b[01;01HUEFI Interactive Shell v2.2\r\n" +
	"\x1b[1m\x1b[33m\x1b[40mMapping table\x1b[0m\x1b[37m\x1b[40m\r\n" +
	"\x1b[07;01HPress \x1b[1m\x1b[37m\x1b[40mESC\x1b[0m\x1b[37m\x1b[40m in 5 seconds to skip\x1b[07;01HPress ESC in 4 seconds to skip\r\n" +
	"\x1b[10;01H\x1b[1m\x1b[33m\x1b[40mShell> \x1b[0m\x1b[37m\x1b[40m"

func TestCleaner(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello\nworld\n", "hello\nworld\n"},
		{"crlf", "a\r\nb\r\n", "a\nb\n"},
		{"colours", "[\x1b[0;32m  OK  \x1b[0m] Reached target", "[  OK  ] Reached target"},
		{"private params", "\x1b[=3h\x1b[?25lx\x1b[?25h", "x"},
		{"cursor jump breaks line", "one\x1b[05;01Htwo", "one\ntwo"},
		{"no double break", "one\n\x1b[05;01Htwo", "one\ntwo"},
		{"no break at start", "\x1b[2J\x1b[01;01Hfirst", "first"},
		{"osc bel", "\x1b]0;title\x07text", "text"},
		{"osc st", "\x1b]0;title\x1b\\text", "text"},
		{"charset", "\x1b(Btext", "text"},
		{"two byte", "\x1b7saved\x1b8", "saved"},
		{"controls", "a\x00b\x07c\x08d\te", "abcd\te"},
		{"malformed csi keeps newline", "x\x1b[12\ny", "x\ny"},
		{"unterminated osc ends at newline", "\x1b]junk\nnext", "\nnext"},
		{"utf8", "grüße — ok", "grüße — ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c cleaner
			if got := string(c.appendClean(nil, []byte(tt.in))); got != tt.want {
				t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// Byte-by-byte feeding must give the same text: sequences are
			// split across reads in practice.
			var c2 cleaner
			var got []byte
			for i := range len(tt.in) {
				got = c2.appendClean(got, []byte{tt.in[i]})
			}
			if string(got) != tt.want {
				t.Errorf("byte-wise clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// feedChunks feeds s to m in pieces of the given size, one millisecond of
// fake time apart.
func feedChunks(m *matcher, s string, size int) {
	at := time.Duration(0)
	for len(s) > 0 {
		n := min(size, len(s))
		at += time.Millisecond
		m.feed([]byte(s[:n]), at)
		s = s[n:]
	}
}

func TestMatcherOVMF(t *testing.T) {
	expect := []string{"Shell>", "UEFI Misc Device", "UEFI Interactive Shell", "UEFI Misc Device"}
	for _, size := range []int{1, 3, 7, 64, len(ovmfConsole)} {
		m := newMatcher(expect, BootFailures)
		feedChunks(m, ovmfConsole, size)
		if !m.done() {
			t.Errorf("chunk size %d: not done, missing %q\ntext:\n%s", size, m.missing(), m.text)
		}
		if m.failed != "" {
			t.Errorf("chunk size %d: failed on %q", size, m.failed)
		}
		if len(m.matched) != 3 {
			t.Errorf("chunk size %d: matched %v", size, m.matched)
		}
		if m.matched["UEFI Misc Device"] > m.matched["Shell>"] {
			t.Errorf("chunk size %d: match times out of order: %v", size, m.matched)
		}
	}
	// The escape sequences around "ESC" and the redrawn countdown must not
	// leak into the text.
	m := newMatcher(nil, nil)
	feedChunks(m, ovmfConsole, 5)
	text := string(m.text)
	if strings.ContainsAny(text, "\x1b\r") {
		t.Errorf("cleaned text still has control characters: %q", text)
	}
	if !strings.Contains(text, "Press ESC in 5 seconds to skip\nPress ESC in 4 seconds") {
		t.Errorf("redrawn line not split at the cursor jump:\n%s", text)
	}
}

func TestMatcherNotAcrossEscapes(t *testing.T) {
	// Text split by colour codes still matches; text split by a cursor jump
	// does not, because it was drawn in two places.
	m := newMatcher([]string{"Reached target Multi-User System", "ab"}, nil)
	feedChunks(m, "Reached target \x1b[1mMulti-User System\x1b[0m.\r\na\x1b[3;1Hb", 4)
	if _, ok := m.matched["Reached target Multi-User System"]; !ok {
		t.Error("pattern interrupted by colour codes not matched")
	}
	if _, ok := m.matched["ab"]; ok {
		t.Error("pattern matched across a cursor jump")
	}
	if m.done() {
		t.Error("done with a pattern missing")
	}
	if got := m.missing(); len(got) != 1 || got[0] != "ab" {
		t.Errorf("missing = %q", got)
	}
}

func TestMatcherFail(t *testing.T) {
	m := newMatcher([]string{"login:"}, BootFailures)
	feedChunks(m, "[    1.0] Linux version 6.1\r\n[    2.5] Kernel pa", 6)
	if m.failed != "" {
		t.Fatalf("failed early on %q", m.failed)
	}
	m.feed([]byte("nic - not syncing: VFS\r\n"), 42*time.Second)
	if m.failed != "Kernel panic" || m.failedAt != 42*time.Second {
		t.Errorf("failed = %q at %s", m.failed, m.failedAt)
	}
	if m.done() {
		t.Error("done without the expected login prompt")
	}
}

func TestMatcherNoExpect(t *testing.T) {
	m := newMatcher(nil, nil)
	m.feed([]byte("anything\n"), time.Second)
	if m.done() {
		t.Error("a matcher without patterns must wait for QEMU to exit, not be done")
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		text string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"\nb", 1, "b"},
		{"a\nb\n\n\n", 1, "b"},
	}
	for _, tt := range tests {
		if got := tail(tt.text, tt.n); got != tt.want {
			t.Errorf("tail(%q, %d) = %q, want %q", tt.text, tt.n, got, tt.want)
		}
	}
}
