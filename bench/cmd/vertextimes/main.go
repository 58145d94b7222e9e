// Command vertextimes reads the progress of `strata build --progress rawjson`
// (BuildKit's solve status, one JSON object a line) and prints where the
// time went: each vertex's wall time, whether it came from cache, and the
// span of the whole solve, longest first.
//
//	strata build ... --progress rawjson 2>progress.json
//	go run ./bench/cmd/vertextimes [-top N] progress.json
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// vertex is the part of BuildKit's client.Vertex the summary needs.
type vertex struct {
	Digest    string     `json:"digest"`
	Name      string     `json:"name"`
	Started   *time.Time `json:"started"`
	Completed *time.Time `json:"completed"`
	Cached    bool       `json:"cached"`
}

// span is one vertex's time: from its first start to its last completion,
// which covers a cache-key computation followed by the work itself.
type span struct {
	name        string
	first, last time.Time
	cached      bool
}

func main() {
	top := flag.Int("top", 0, "print only the N longest vertices (0: all)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: vertextimes [-top N] PROGRESS.json")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	spans, err := read(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	print(os.Stdout, spans, *top)
}

func read(r io.Reader) ([]*span, error) {
	byDigest := map[string]*span{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20) // a status line can carry logs
	for sc.Scan() {
		var status struct {
			Vertexes []vertex `json:"vertexes"`
		}
		if json.Unmarshal(sc.Bytes(), &status) != nil {
			continue // not a status line: strata's own output
		}
		for _, v := range status.Vertexes {
			if v.Started == nil {
				continue
			}
			s, ok := byDigest[v.Digest]
			if !ok {
				s = &span{name: v.Name, first: *v.Started, last: *v.Started}
				byDigest[v.Digest] = s
				order = append(order, v.Digest)
			}
			if v.Started.Before(s.first) {
				s.first = *v.Started
			}
			if v.Completed != nil && v.Completed.After(s.last) {
				s.last = *v.Completed
			}
			s.cached = s.cached || v.Cached
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	spans := make([]*span, 0, len(order))
	for _, d := range order {
		spans = append(spans, byDigest[d])
	}
	return spans, nil
}

func print(w io.Writer, spans []*span, top int) {
	if len(spans) == 0 {
		fmt.Fprintln(w, "no vertices")
		return
	}
	start, end := spans[0].first, spans[0].last
	for _, s := range spans {
		if s.first.Before(start) {
			start = s.first
		}
		if s.last.After(end) {
			end = s.last
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].last.Sub(spans[i].first) > spans[j].last.Sub(spans[j].first) })
	fmt.Fprintf(w, "solve span %.2fs, %d vertices\n", end.Sub(start).Seconds(), len(spans))
	if top > 0 && top < len(spans) {
		spans = spans[:top]
	}
	for _, s := range spans {
		state := "ran"
		if s.cached {
			state = "cached"
		}
		name := s.name
		if len(name) > 100 {
			name = name[:100] + "..."
		}
		fmt.Fprintf(w, "%7.2fs  at %6.2fs  %-6s  %s\n", s.last.Sub(s.first).Seconds(), s.first.Sub(start).Seconds(), state, name)
	}
}
