package debugfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// Output of debugfs 1.47 on a small ext4 (mke2fs -d), for the seeds.
const (
	realListing = "/2/040755/0/0/.//\n/2/040755/0/0/..//\n/11/040700/0/0/lost+found//\n" +
		"/12/100644/0/0/a/6/\n/13/040755/0/0/dir//\n/15/120777/0/0/link/1/\n\n"
	realStat = "Inode: 15   Type: symlink    Mode:  0777   Flags: 0x0\nGeneration: 0    Version: 0x00000000:00000000\n" +
		"User:     0   Group:     0   Project:     0   Size: 1\nFile ACL: 0\nLinks: 1   Blockcount: 0\n" +
		"Size of extra inode fields: 32\nInode checksum: 0x11825f46\nFast link dest: \"a\"\n"
)

// FuzzParseListing feeds the "ls -p" parser. What it accepts must be
// entries it can stand for again: printed back the way debugfs prints
// them, they parse to the same listing, and no name is one a lookup could
// be misled by ("", ".", "..", or one holding "/").
func FuzzParseListing(f *testing.F) {
	f.Add([]byte(realListing))
	f.Add([]byte("/2/040755/0/0/.//\n/0/0/0/0///\n/7/100600/1000/1000/new\nline/12/\n\n"))
	f.Add([]byte("/2/040755/0/0/x/\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		self, ents, err := parseListing(data)
		if err != nil {
			return
		}
		var again bytes.Buffer
		fmt.Fprintf(&again, "/%d/%o/%d/%d/./%d/\n", self.ino, self.mode, self.uid, self.gid, self.size)
		for i, e := range ents {
			if e.name == "" || e.name == "." || e.name == ".." || strings.Contains(e.name, "/") || e.ino == 0 {
				t.Errorf("entry %d: %q, inode %d", i, e.name, e.ino)
			}
			if i > 0 && ents[i-1].name > e.name {
				t.Errorf("entry %q listed after %q", e.name, ents[i-1].name)
			}
			fmt.Fprintf(&again, "/%d/%o/%d/%d/%s/%d/\n", e.ino, e.mode, e.uid, e.gid, e.name, e.size)
		}
		self2, ents2, err := parseListing(again.Bytes())
		if err != nil || self2 != self || !reflect.DeepEqual(ents2, ents) && len(ents)+len(ents2) > 0 {
			t.Fatalf("printed back, the listing reads %v, %+v, %+v\nwant %+v, %+v\n%q", err, self2, ents2, self, ents, again.Bytes())
		}
	})
}

// FuzzParseFastLink feeds the "stat" parser for symlink targets: a
// target found is as long as the inode says, and sits in the output
// between the prefix and a closing quote.
func FuzzParseFastLink(f *testing.F) {
	f.Add([]byte(realStat), int64(1))
	f.Add([]byte("Fast link dest: \"a\"b\"\n"), int64(3))
	f.Add([]byte("Fast link dest: \"\"\n"), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		if size < 0 {
			return // sizes come from listings, which parse no negative ones
		}
		target, ok := parseFastLink(data, size)
		if !ok {
			return
		}
		if int64(len(target)) != size {
			t.Errorf("a %d-byte link read as %q", size, target)
		}
		if !bytes.Contains(data, append(append(append([]byte(nil), fastLinkPrefix...), target...), '"')) {
			t.Errorf("target %q is not quoted in the output", target)
		}
	})
}

// FuzzSplitOutput feeds the splitter of a batch run's output with
// commands (one a line). What it cuts must put back together to the
// output, echoes in between, each part ending where the next echo first
// appears.
func FuzzSplitOutput(f *testing.F) {
	f.Add([]byte("debugfs: ls -p <2>\n"+realListing+"debugfs: stat <15>\n"+realStat+"debugfs: cd <2>\n"), "ls -p <2>\nstat <15>\ncd <2>")
	f.Add([]byte("debugfs: a\ndebugfs: b\nx\n"), "a\nb")
	f.Add([]byte("debugfs: a\nno newline debugfs: b\n"), "a\nb")
	f.Fuzz(func(t *testing.T, out []byte, cmdText string) {
		cmds := strings.Split(cmdText, "\n")
		parts, err := splitOutput(out, cmds)
		if err != nil {
			return
		}
		var joined []byte
		for i, p := range parts {
			echo := "debugfs: " + cmds[i] + "\n"
			joined = append(append(joined, echo...), p...)
			if i+1 < len(cmds) {
				next := "\ndebugfs: " + cmds[i+1] + "\n"
				if len(p) > 0 && p[len(p)-1] != '\n' || bytes.Contains(p, []byte(next)) {
					t.Errorf("part %d, %q, does not end at the first echo of %q", i, p, cmds[i+1])
				}
			}
		}
		if !bytes.Equal(joined, out) {
			t.Errorf("the parts put together make\n%q\nnot\n%q", joined, out)
		}
	})
}

// FuzzReadEcho feeds the echo reader of a "cat" stream: it takes an echo
// exactly when the stream starts with it after at most maxPadding zeros
// (none unless padding), and then leaves the stream just past it.
func FuzzReadEcho(f *testing.F) {
	f.Add([]byte("debugfs: cat <12>\nhello\n"), "cat <12>", false)
	f.Add(append(make([]byte, 60), "debugfs: cd <2>\n"...), "cd <2>", true)
	f.Add([]byte("debugfs: cat <1>"), "cat <1>", true)
	f.Fuzz(func(t *testing.T, data []byte, cmd string, padding bool) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		got := readEcho(br, cmd, padding)
		rest := data
		if padding {
			zeros := len(rest) - len(bytes.TrimLeft(rest, "\x00"))
			rest = rest[min(zeros, maxPadding):]
		}
		echo := "debugfs: " + cmd + "\n"
		if want := bytes.HasPrefix(rest, []byte(echo)); got != want {
			t.Fatalf("readEcho %v, want %v", got, want)
		}
		if got {
			left, _ := io.ReadAll(br)
			if !bytes.Equal(left, rest[len(echo):]) {
				t.Errorf("left %q after the echo, want %q", left, rest[len(echo):])
			}
		}
	})
}
