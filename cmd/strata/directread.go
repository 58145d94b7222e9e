package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	fstypes "github.com/tonistiigi/fsutil/types"
	"golang.org/x/sync/errgroup"

	"github.com/strata-dev/strata/exporters/disk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/layers/node"
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
	// tools is where the extents are listed (frontend.ToolsEnv).
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
	// The result without the images is solved while they are read.
	var eg errgroup.Group
	var rest gwclient.Reference
	eg.Go(func() (err error) {
		rest, err = withoutFiles(ctx, c, res.Ref, large)
		return err
	})
	extents := d.extents(ctx, c, res.Ref, large)
	for _, f := range large {
		if err := d.progress(ctx, "copying "+f.name+" to "+d.dir, func() error { return d.fetchFile(ctx, res.Ref, f.name, f.stat, extents[f.name]) }); err != nil {
			eg.Wait()
			return nil, fmt.Errorf("reading %s from the result: %w", f.name, err)
		}
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	res.SetRef(rest)
	return res, nil
}

// resultFile is a file of the result, named by its absolute path there.
type resultFile struct {
	name string
	stat *fstypes.Stat
}

// largeFiles lists the result's disk images: regular files of at least
// directReadMin at its top level and in the directories there, where the
// outputs target puts each output. A root filesystem's big files lie
// deeper and stay with the export, hard links and all.
func largeFiles(ctx context.Context, ref gwclient.Reference) ([]resultFile, error) {
	var large []resultFile
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		entries, err := ref.ReadDir(ctx, gwclient.ReadDirRequest{Path: dir})
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := path.Join(dir, path.Base(e.Path))
			mode := os.FileMode(e.Mode)
			switch {
			case mode.IsDir() && depth < 2:
				if err := walk(name, depth+1); err != nil {
					return err
				}
			case mode.IsRegular() && e.Size >= directReadMin && len(e.Xattrs) == 0:
				large = append(large, resultFile{name, e})
			}
		}
		return nil
	}
	return large, walk("/", 1)
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

// extents lists the data extents of the files of at least
// directReadExtentsMin, by running strata extents on the result in the tools
// environment. Where that cannot be done (a tools image whose strata is
// older), the files are read whole.
func (d directRead) extents(ctx context.Context, c gwclient.Client, ref gwclient.Reference, files []resultFile) map[string][]rawdisk.Extent {
	const mnt = "/result"
	var args []string
	for _, f := range files {
		if f.stat.Size >= directReadExtentsMin {
			args = append(args, mnt+f.name)
		}
	}
	if len(args) == 0 || d.tools == nil {
		return nil
	}
	list, err := func() ([]byte, error) {
		tools, err := d.tools(ctx, c)
		if err != nil {
			return nil, err
		}
		st, err := ref.ToState()
		if err != nil {
			return nil, err
		}
		run := tools.Run(llb.Args(append([]string{node.ToolsBinary, "extents", "-o", "/out/extents.json"}, args...)),
			llb.Network(pb.NetMode_NONE),
			llb.AddMount(mnt, st, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff)),
			llb.WithCustomName("list the data extents of "+strings.Join(args, ", ")))
		def, err := run.AddMount("/out", llb.Scratch()).Marshal(ctx)
		if err != nil {
			return nil, err
		}
		res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), Evaluate: true})
		if err != nil {
			return nil, err
		}
		out, err := res.SingleRef()
		if err != nil {
			return nil, err
		}
		return out.ReadFile(ctx, gwclient.ReadRequest{Filename: "/extents.json"})
	}()
	var byPath map[string][]rawdisk.Extent
	if err == nil {
		err = json.Unmarshal(list, &byPath)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "strata: reading %s whole: its data extents could not be listed: %v\n", strings.Join(args, ", "), err)
		return nil
	}
	extents := map[string][]rawdisk.Extent{}
	for p, ext := range byPath {
		extents[strings.TrimPrefix(p, mnt)] = ext
	}
	return extents
}

// fetchFile reads the file in ranges, directReadAhead at a time, and
// writes their data blocks; the zeros stay holes. With extents, only those
// are read: the rest are holes.
func (d directRead) fetchFile(ctx context.Context, ref gwclient.Reference, name string, st *fstypes.Stat, extents []rawdisk.Extent) error {
	target := filepath.Join(d.dir, name)
	// The export sets the directories' owners, modes and times after.
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(target); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(st.Size); err != nil {
		return err
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(directReadAhead)
	for _, r := range readRanges(st.Size, extents) {
		eg.Go(func() error {
			off, want := r.Off, r.Len
			dt, err := ref.ReadFile(ctx, gwclient.ReadRequest{Filename: name, Range: &gwclient.FileRange{Offset: int(off), Length: int(want)}})
			if err != nil {
				return err
			}
			if int64(len(dt)) != want {
				return fmt.Errorf("%d bytes at offset %d, want %d: the file changed while it was read", len(dt), off, want)
			}
			return disk.WriteAtSkippingZeros(f, dt, off)
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	if d.keepOwners {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	// After the chown, which clears setuid and setgid.
	if err := f.Chmod(os.FileMode(st.Mode) & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	mtime := time.Unix(0, st.ModTime)
	return os.Chtimes(target, mtime, mtime)
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
	select {
	case d.status <- &client.SolveStatus{Vertexes: []*client.Vertex{v}}:
	case <-ctx.Done():
	}
}
