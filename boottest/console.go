package boottest

import (
	"bytes"
	"strings"
	"time"
)

// Byte values the console cleaner cares about.
const (
	esc = 0x1b
	bel = 0x07
)

// cleanerState is where the cleaner is inside a terminal control sequence.
type cleanerState int

const (
	stText     cleanerState = iota // plain text
	stEscape                       // after ESC
	stCSI                          // after ESC [ (colours, cursor moves)
	stString                       // after ESC ] / P / X / ^ / _ until BEL or ESC \
	stEscInter                     // after ESC and an intermediate byte, e.g. ESC ( B
)

// cleaner turns raw serial console bytes into plain text: it drops ANSI
// escape sequences, carriage returns and other control characters. It keeps
// state between calls because QEMU's output arrives in arbitrary chunks and
// a sequence may be split across them.
type cleaner struct {
	state cleanerState
	// last is the last byte emitted, so cursor jumps become line breaks
	// only where a line is not already ending.
	last byte
}

// appendClean appends the plain text in p to dst.
func (c *cleaner) appendClean(dst, p []byte) []byte {
	for _, b := range p {
		dst = c.step(dst, b)
	}
	return dst
}

func (c *cleaner) step(dst []byte, b byte) []byte {
	switch c.state {
	case stEscape:
		switch {
		case b == '[':
			c.state = stCSI
		case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
			c.state = stString
		case b == esc:
			// A fresh ESC restarts the sequence.
		case b >= 0x20 && b <= 0x2f:
			c.state = stEscInter
		case b >= 0x30 && b <= 0x7e:
			c.state = stText
		default:
			c.state = stText
			return c.text(dst, b)
		}
		return dst
	case stCSI:
		switch {
		case b >= 0x20 && b <= 0x3f:
			// Parameter and intermediate bytes.
		case b >= 0x40 && b <= 0x7e:
			c.state = stText
			// Firmware and boot loaders draw by moving the cursor (OVMF
			// redraws its shell countdown in place). A line break keeps
			// what was drawn at different places from running together
			// into one line and into accidental matches.
			if b == 'H' || b == 'f' || b == 'J' {
				dst = c.newline(dst)
			}
		default:
			// Malformed: drop the sequence, keep the byte.
			c.state = stText
			return c.text(dst, b)
		}
		return dst
	case stString:
		switch b {
		case bel:
			c.state = stText
		case esc:
			// ESC \ ends the string; any other ESC starts a new sequence
			// and the string is over either way.
			c.state = stEscape
		case '\n':
			// A lost terminator must not swallow the rest of the boot log.
			c.state = stText
			return c.text(dst, b)
		}
		return dst
	case stEscInter:
		switch {
		case b >= 0x20 && b <= 0x2f:
		case b >= 0x30 && b <= 0x7e:
			c.state = stText
		default:
			c.state = stText
			return c.text(dst, b)
		}
		return dst
	}
	return c.text(dst, b)
}

// text handles a byte outside any escape sequence.
func (c *cleaner) text(dst []byte, b byte) []byte {
	switch {
	case b == esc:
		c.state = stEscape
		return dst
	case b == '\n' || b == '\t':
	case b < 0x20 || b == 0x7f:
		// \r, NUL, BEL, backspace and friends carry no text.
		return dst
	}
	c.last = b
	return append(dst, b)
}

func (c *cleaner) newline(dst []byte) []byte {
	if c.last == '\n' || c.last == 0 {
		return dst
	}
	c.last = '\n'
	return append(dst, '\n')
}

// matcher watches the cleaned console text for the Expect and Fail
// substrings.
type matcher struct {
	clean  cleaner
	text   []byte
	expect []string
	fail   []string
	// matched maps each Expect pattern seen so far to the time it was seen.
	matched map[string]time.Duration
	// failed is the first Fail pattern seen, if any, at failedAt.
	failed   string
	failedAt time.Duration
}

func newMatcher(expect, fail []string) *matcher {
	// Duplicates would make "all matched" unreachable by counting.
	var distinct []string
	seen := make(map[string]bool, len(expect))
	for _, pat := range expect {
		if !seen[pat] {
			seen[pat] = true
			distinct = append(distinct, pat)
		}
	}
	return &matcher{expect: distinct, fail: fail, matched: make(map[string]time.Duration)}
}

// feed adds raw console bytes that arrived at time at (since boot start)
// and returns the plain text they added.
func (m *matcher) feed(p []byte, at time.Duration) []byte {
	before := len(m.text)
	m.text = m.clean.appendClean(m.text, p)
	if len(m.text) == before {
		return nil
	}
	for _, pat := range m.expect {
		if _, ok := m.matched[pat]; !ok && m.seenSince(pat, before) {
			m.matched[pat] = at
		}
	}
	if m.failed == "" {
		for _, pat := range m.fail {
			if m.seenSince(pat, before) {
				m.failed, m.failedAt = pat, at
				break
			}
		}
	}
	return m.text[before:]
}

// seenSince reports whether pat occurs in the text in a position that ends
// after offset from; earlier occurrences were already checked.
func (m *matcher) seenSince(pat string, from int) bool {
	start := max(0, from-len(pat)+1)
	return bytes.Contains(m.text[start:], []byte(pat))
}

// done reports whether every Expect pattern has been seen. With no Expect
// patterns nothing is awaited on the console and it is never done.
func (m *matcher) done() bool {
	return len(m.expect) > 0 && len(m.matched) == len(m.expect)
}

// missing lists the Expect patterns not seen yet, in their given order.
func (m *matcher) missing() []string {
	var out []string
	for _, pat := range m.expect {
		if _, ok := m.matched[pat]; !ok {
			out = append(out, pat)
		}
	}
	return out
}

// tail returns the last n lines of the cleaned console.
func tail(text string, n int) string {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return ""
	}
	i := len(text)
	for ; n > 0 && i > 0; n-- {
		i = strings.LastIndexByte(text[:i], '\n')
		if i < 0 {
			return text
		}
	}
	return text[i+1:]
}
