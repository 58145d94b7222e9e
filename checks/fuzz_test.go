package checks

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-dev/strata/spec"
)

// fuzzFile names the inputs; an input that spells it may fake a source.
const fuzzFile = "checks.yaml"

// FuzzParse feeds the check-file parser. Every problem must be positioned
// at a line of the file, every check's source must name a line of it, and
// what parses must survive Marshal, which is how checks travel inside an
// image, unchanged.
func FuzzParse(f *testing.F) {
	every, err := os.ReadFile("testdata/every-kind.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(every)
	marshalled, err := Marshal(everyField())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(marshalled)
	f.Add([]byte("checks:\n  - file: /etc/x\n    absent: True\n  - {module: m, absent: maybe}\n"))
	f.Add([]byte("hygiene: {skip: [nope], varLogLimit: 1GiB}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(fuzzFile, data)
		if err != nil {
			checkPositions(t, data, err, "")
			return
		}
		for _, name := range s.Hygiene.Skip {
			if !slices.Contains(HygieneNames(), name) {
				t.Errorf("skips %q, which is no hygiene check", name)
			}
		}
		checkSources(t, data, s.Checks)
		roundTrip(t, s.Checks)
	})
}

// FuzzParseList feeds spec documents whose validate: list the parser
// reads, with the same properties as FuzzParse, problems named under
// validate.
func FuzzParseList(f *testing.F) {
	const head = "apiVersion: strata.dev/v1alpha1\nkind: NodeImage\nname: n\n"
	f.Add([]byte(head + "validate:\n  - file: /etc/hostname\n    contains: node\n  - service: kubelet\n    source: my team\n"))
	f.Add([]byte(head + "validate:\n  - file: /etc/hostname\n  - file:\n  - {module: overlay, absent: maybe}\n"))
	f.Add([]byte(head + "validate:\n  - &c {sysctl: vm.swappiness, value: 1}\n  - *c\n  - {package: p, version: 1, versionPrefix: 1}\n"))
	f.Add([]byte(head + "validate: [{cmdline: quiet, absent: true, name: x, x-y: z}, {file: /f, mode: 999}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := spec.Parse(fuzzFile, data)
		if err != nil {
			return
		}
		list, err := ParseList(s.File, s.Image.Validate.Node(), "validate")
		if err != nil {
			checkPositions(t, data, err, "validate")
			return
		}
		if len(list) != s.Image.Validate.Len() {
			t.Errorf("%d checks from %d entries", len(list), s.Image.Validate.Len())
		}
		checkSources(t, data, list)
		roundTrip(t, list)
	})
}

// checkPositions fails unless err is problems at places in data, each
// under field when one is given.
func checkPositions(t *testing.T, data []byte, err error, field string) {
	t.Helper()
	var list spec.ErrorList
	var one *spec.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = spec.ErrorList{one}
	default:
		t.Fatalf("%T without a position: %v", err, err)
	}
	for _, e := range list {
		if e.File != fuzzFile || !e.Pos.Within(data) {
			t.Errorf("problem outside the file: %v", e)
		}
		if field != "" && !strings.HasPrefix(e.Field, field) {
			t.Errorf("problem not under %s: %v", field, e)
		}
	}
}

// checkSources fails unless every check the file did not give a source:
// comes from a line of the file.
func checkSources(t *testing.T, data []byte, list []Check) {
	t.Helper()
	if bytes.Contains(data, []byte(fuzzFile)) {
		return // a source: field may spell anything
	}
	for _, c := range list {
		n, ok := strings.CutPrefix(c.Source, fuzzFile+":")
		if !ok {
			continue
		}
		line, err := strconv.Atoi(n)
		if err != nil || !(spec.Pos{Line: line}).Within(data) {
			t.Errorf("check %v: source %q is no line of the file", c.Assert, c.Source)
		}
	}
}

// roundTrip fails unless Marshal writes list so that Parse reads it back
// the same. Marshal may refuse text that is not UTF-8, and only that.
func roundTrip(t *testing.T, list []Check) {
	t.Helper()
	data, err := Marshal(list)
	if err != nil {
		if !strings.Contains(err.Error(), "not UTF-8") {
			t.Fatalf("Marshal of parsed checks: %v", err)
		}
		return
	}
	back, err := Parse("embedded.yaml", data)
	if err != nil {
		t.Fatalf("Marshal wrote what does not parse: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(back.Checks, list) && !(len(back.Checks) == 0 && len(list) == 0) {
		t.Fatalf("round trip changed the checks:\n got %#v\nwant %#v\n%s", back.Checks, list, data)
	}
}
