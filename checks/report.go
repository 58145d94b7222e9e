package checks

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints results as a table (STATUS, CHECK, SOURCE, DETAIL)
// and a count line.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tSOURCE\tDETAIL")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(r.Status)), r.Name, r.Source, oneLine(r.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, countLine(results))
	return err
}

// countLine sums results up: "12 checks: 10 passed, 1 failed, 1 skipped".
func countLine(results []Result) string {
	n := map[Status]int{}
	for _, r := range results {
		n[r.Status]++
	}
	parts := []string{fmt.Sprintf("%d passed", n[Pass])}
	for _, s := range []struct {
		st   Status
		word string
	}{{Fail, "failed"}, {Error, "could not be evaluated"}, {Skip, "skipped"}} {
		if n[s.st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s.st], s.word))
		}
	}
	return fmt.Sprintf("%d checks: %s", len(results), strings.Join(parts, ", "))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// JUnit XML, as CI systems read it: one testsuite per image, one testcase
// per check, the check's source as its class name.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes results as JUnit XML, the suite named after the image,
// as strata inspect's report.
func WriteJUnit(w io.Writer, image string, results []Result) error {
	return WriteJUnitFor(w, "strata inspect", image, results)
}

// WriteJUnitFor is WriteJUnit for another tool's results: tool names the
// document ("strata boot-test").
func WriteJUnitFor(w io.Writer, tool, image string, results []Result) error {
	s := junitSuite{Name: image, Tests: len(results)}
	for _, r := range results {
		c := junitCase{Name: r.Name, Classname: r.Source}
		msg := &junitMessage{Message: oneLine(r.Detail), Body: junitBody(r)}
		switch r.Status {
		case Fail:
			msg.Type = "fail"
			c.Failure = msg
			s.Failures++
		case Error:
			msg.Type = "error"
			c.Error = msg
			s.Errors++
		case Skip:
			c.Skipped = &junitMessage{Message: oneLine(r.Detail)}
			s.Skipped++
		default:
			c.SystemOut = r.Detail
		}
		s.Cases = append(s.Cases, c)
	}
	doc := junitSuites{Name: tool, Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Skipped: s.Skipped, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func junitBody(r Result) string {
	var b strings.Builder
	for _, f := range []struct{ k, v string }{{"path", r.Path}, {"expected", r.Expected}, {"found", r.Found}, {"source", r.Source}} {
		if f.v != "" {
			fmt.Fprintf(&b, "%s: %s\n", f.k, f.v)
		}
	}
	return b.String()
}
