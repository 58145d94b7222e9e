package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
)

func TestParseCacheOptions(t *testing.T) {
	got, err := parseCacheOptions("--cache-to", []string{"type=registry,ref=localhost:5000/cache,mode=max", "example.com/cache:tag", "type=gha,scope=os"})
	if err != nil {
		t.Fatal(err)
	}
	want := []client.CacheOptionsEntry{
		{Type: "registry", Attrs: map[string]string{"ref": "localhost:5000/cache", "mode": "max"}},
		{Type: "registry", Attrs: map[string]string{"ref": "example.com/cache:tag"}},
		{Type: "gha", Attrs: map[string]string{"scope": "os"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"ref=x,mode=max", "type=registry,oops"} {
		if _, err := parseCacheOptions("--cache-from", []string{bad}); err == nil || !strings.Contains(err.Error(), "--cache-from") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}
