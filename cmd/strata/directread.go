package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/exptypes"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
	fstypes "github.com/tonistiigi/fsutil/types"
	"golang.org/x/sync/errgroup"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/disk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/spec"
)

const (
	// directReadMin is the size from which a file at the result's top level
	// (a disk image) is read by the client rather than exported.
	directReadMin = 32 << 20
	// directReadChunk stays well under the client's 16 MiB limit on a
	// message.
	directReadChunk = 8 << 20
	directReadAhead = 4
	// directReadExtentsMin is the size from which a file's data extents are
	// listed in the builder first, so that its holes are not sent (a 6 GiB
	// raw disk holds about 1 GiB of data). For smaller files the extra step
	// costs more than it saves.
	directReadExtentsMin = 1 << 30
)

// directRead fetches a result's disk images for a local export with ranged
// reads through the gateway, and leaves the rest of the result to the tar
// export. BuildKit's exporter streams through the session tunnel in 32 KiB
// messages: 301 MiB of qcow2 cost the client 1.1 s of CPU and took 1.5 s,
// against 0.2 s and 0.7 s read here in 8 MiB ranges. And a raw disk arrives
// sparse without its zeros being unpacked from a tar.
type directRead struct {
	dir        string
	keepOwners bool
	status     chan<- *client.SolveStatus
	// tools is where the extents are listed (frontend.ToolsEnv), nil where
	// its strata may lack the extents command: the CLI sends its own binary
	// only when it is static.
	tools func(context.Context, gwclient.Client) (llb.State, error)
}

// wrap runs build, then takes the result's disk images out of it.
func (d directRead) wrap(build gwclient.BuildFunc) gwclient.BuildFunc {
	return func(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
		res, err := build(ctx, c)
		if err != nil || res == nil || res.Ref == nil {
			return res, err
		}
		return d.fetch(ctx, c, res)
	}
}

// fetch writes the large files into d.dir and returns res without them.
func (d directRead) fetch(ctx context.Context, c gwclient.Client, res *gwclient.Result) (*gwclient.Result, error) {
	large, err := largeFiles(ctx, res.Ref)
	if err != nil {
		return nil, fmt.Errorf("listing the result: %w", err)
	}
	if len(large) == 0 {
		return res, nil
	}
	mtime, err := exportEpoch(res)
	if err != nil {
		return nil, err
	}
	// The result without the images is solved while they are read.
	eg, ctx := errgroup.WithContext(ctx)
	var rest gwclient.Reference
	eg.Go(func() (err error) {
		if rest, err = withoutFiles(ctx, c, res.Ref, large); err != nil {
			return fmt.Errorf("leaving the images out of the export: %w", err)
		}
		return nil
	})
	eg.Go(func() error {
		extents := d.extents(ctx, c, res.Ref, large)
		for _, f := range large {
			read := func() error { return d.fetchFile(ctx, res.Ref, f.name, f.stat, extents[f.name], mtime) }
			if err := d.progress(ctx, "copying "+f.name+" to "+d.dir, read); err != nil {
				return fmt.Errorf("reading %s from the result: %w", f.name, err)
			}
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	res.SetRef(rest)
	return res, nil
}

// exportEpoch is the time the export gives every file (SOURCE_DATE_EPOCH,
// passed on by the frontend), or nil.
func exportEpoch(res *gwclient.Result) (*time.Time, error) {
	v, ok := res.Metadata[exptypes.ExporterEpochKey]
	if !ok {
		return nil, nil
	}
	sec, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("the result's %s %q: %w", exptypes.ExporterEpochKey, v, err)
	}
	t := time.Unix(sec, 0)
	return &t, nil
}

// resultFile is a file of the result, named by its absolute path there.
type resultFile struct {
	name string
	stat *fstypes.Stat
}

// largeFiles lists the result's disk images: regular files of at least
// directReadMin, without xattrs, at its top level and in the directories
// the outputs target puts each output in, named after the output. A root
// filesystem's big files lie elsewhere and stay with the export, hard links
// and all.
func largeFiles(ctx context.Context, ref gwclient.Reference) ([]resultFile, error) {
	var large []resultFile
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := ref.ReadDir(ctx, gwclient.ReadDirRequest{Path: dir})
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		for _, e := range entries {
			name := path.Join(dir, path.Base(e.Path))
			mode := os.FileMode(e.Mode)
			switch {
			case mode.IsDir() && dir == "/" && slices.Contains(spec.OutputNames(), name[1:]):
				if err := walk(name); err != nil {
					return err
				}
			case mode.IsRegular() && e.Size >= directReadMin && len(e.Xattrs) == 0:
				large = append(large, resultFile{name, e})
			}
		}
		return nil
	}
	return large, walk("/")
}

// withoutFiles solves ref with files removed, for the export to send the
// rest.
func withoutFiles(ctx context.Context, c gwclient.Client, ref gwclient.Reference, files []resultFile) (gwclient.Reference, error) {
	st, err := ref.ToState()
	if err != nil {
		return nil, err
	}
	var rm *llb.FileAction
	for _, f := range files {
		if rm == nil {
			rm = llb.Rm(f.name)
		} else {
			rm = rm.Rm(f.name)
		}
	}
	def, err := st.File(rm, llb.WithCustomName("leave the images read directly out of the export")).Marshal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return nil, err
	}
	return res.SingleRef()
}

// fetchFile reads the file in ranges, directReadAhead at a time, and
// writes their data blocks; the zeros stay holes. With extents, only those
// are read: the rest are holes. mtime, if set, replaces the file's own, as
// the export does with SOURCE_DATE_EPOCH. The file is written under a
// temporary name and renamed when complete: a failed read or a cancelled
// build leaves nothing under its name, and an older file there stays.
func (d directRead) fetchFile(ctx context.Context, ref gwclient.Reference, name string, st *fstypes.Stat, extents []rawdisk.Extent, mtime *time.Time) (err error) {
	target, err := d.create(name)
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(target, 0o600)
	if err != nil {
		return err
	}
	defer f.AbortOnError(&err)
	if err := f.Truncate(st.Size); err != nil {
		return err
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(directReadAhead)
	for _, r := range readRanges(st.Size, extents) {
		eg.Go(func() error {
			dt, err := ref.ReadFile(ctx, gwclient.ReadRequest{Filename: name, Range: &gwclient.FileRange{Offset: int(r.Off), Length: int(r.Len)}})
			if err != nil {
				return fmt.Errorf("at offset %d: %w", r.Off, err)
			}
			if int64(len(dt)) != r.Len {
				return fmt.Errorf("%d bytes at offset %d, want %d: the file changed while it was read", len(dt), r.Off, r.Len)
			}
			return disk.WriteAtSkippingZeros(f.File, dt, r.Off)
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	if err := finishFile(f.File, st, d.keepOwners, mtime); err != nil {
		return err
	}
	return f.Commit()
}

// create makes room for name under d.dir and returns its path there: its
// parents are made real directories, replacing whatever else is there (as
// the tar's directory entries will), so nothing is written outside d.dir
// through a symlink. The export sets the directories' owners, modes and
// times after. A file already at the path stays until the new one is
// renamed over it; a directory there goes now, as a file cannot replace
// it.
func (d directRead) create(name string) (string, error) {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return "", err
	}
	parent := d.dir
	parts := strings.Split(strings.Trim(name, "/"), "/")
	for _, p := range parts[:len(parts)-1] {
		parent = filepath.Join(parent, p)
		if fi, err := os.Lstat(parent); err == nil && !fi.IsDir() {
			if err := os.Remove(parent); err != nil {
				return "", err
			}
		}
		if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	target := filepath.Join(parent, parts[len(parts)-1])
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
		if err := os.RemoveAll(target); err != nil {
			return "", err
		}
	}
	return target, nil
}

// finishFile gives f the result's owner, mode and time, in the tar
// extraction's order: chown clears setuid and setgid, so the mode follows.
func finishFile(f *os.File, st *fstypes.Stat, keepOwners bool, mtime *time.Time) error {
	if keepOwners {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	if err := f.Chmod(os.FileMode(st.Mode) & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)); err != nil {
		return err
	}
	t := time.Unix(0, st.ModTime)
	if mtime != nil {
		t = *mtime
	}
	return os.Chtimes(f.Name(), t, t)
}

// readRanges splits extents, or the whole file without them, into ranges
// of at most directReadChunk. Extents past the file's size are cut to it.
func readRanges(size int64, extents []rawdisk.Extent) []rawdisk.Extent {
	if extents == nil {
		extents = []rawdisk.Extent{{Off: 0, Len: size}}
	}
	var out []rawdisk.Extent
	for _, e := range extents {
		for off, end := e.Off, min(e.End(), size); off < end; off += directReadChunk {
			out = append(out, rawdisk.Extent{Off: off, Len: min(directReadChunk, end-off)})
		}
	}
	return out
}

// progress shows fn as a step of the build, as the exporter's own would be.
func (d directRead) progress(ctx context.Context, name string, fn func() error) error {
	started := time.Now()
	v := &client.Vertex{Digest: digest.FromString(name + started.String()), Name: name, Started: &started}
	d.send(ctx, v)
	err := fn()
	completed := time.Now()
	done := *v
	done.Completed = &completed
	if err != nil {
		done.Error = err.Error()
	}
	d.send(ctx, &done)
	return err
}

func (d directRead) send(ctx context.Context, v *client.Vertex) {
	if d.status == nil {
		return
	}
	select {
	case d.status <- &client.SolveStatus{Vertexes: []*client.Vertex{v}}:
	case <-ctx.Done():
	}
}
