package main

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/client"
)

// parseCacheOptions reads --cache-from/--cache-to values in buildx's CSV
// form (type=registry,ref=REF,mode=max). A bare reference means a registry
// cache, as in buildx.
func parseCacheOptions(flag string, values []string) ([]client.CacheOptionsEntry, error) {
	var out []client.CacheOptionsEntry
	for _, v := range values {
		if !strings.Contains(v, "=") {
			out = append(out, client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": v}})
			continue
		}
		e := client.CacheOptionsEntry{Attrs: map[string]string{}}
		for _, field := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(field, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("%s %q: %q is not key=value", flag, v, field)
			}
			if k == "type" {
				e.Type = val
			} else {
				e.Attrs[k] = val
			}
		}
		if e.Type == "" {
			return nil, fmt.Errorf("%s %q: missing type= (registry, local, gha, s3, azblob, inline)", flag, v)
		}
		out = append(out, e)
	}
	return out, nil
}
