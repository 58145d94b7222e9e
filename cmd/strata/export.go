package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/moby/buildkit/client"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/disk"
)

// dirExport receives a build's result for a directory as a tar stream and
// unpacks it on the client, in place of BuildKit's local exporter. That
// exporter can deadlock on a tree of many files (moby/buildkit#2950; it
// hung a CI run for 30 minutes on a root filesystem), and it writes a disk
// image's holes out as zeros. The tar keeps owners, and the extraction
// leaves all-zero blocks as holes, so disk.raw arrives sparse.
type dirExport struct {
	dir  string
	pw   *io.PipeWriter
	done chan error // made when BuildKit opens the stream
	// skipped counts what an unprivileged extraction left out.
	skipped int
	first   string
}

// exportDirsAsTar swaps each local export in so for a dirExport.
func exportDirsAsTar(so *client.SolveOpt) []*dirExport {
	var dirs []*dirExport
	for i, e := range so.Exports {
		if e.Type != client.ExporterLocal {
			continue
		}
		d := &dirExport{dir: e.OutputDir}
		so.Exports[i] = client.ExportEntry{Type: client.ExporterTar, Attrs: e.Attrs, Output: d.open}
		dirs = append(dirs, d)
	}
	return dirs
}

func (d *dirExport) open(map[string]string) (io.WriteCloser, error) {
	pr, pw := io.Pipe()
	d.pw, d.done = pw, make(chan error, 1)
	go func() {
		err := disk.ExtractTar(context.Background(), pr, d.dir, disk.ExtractOptions{
			KeepOwners: os.Geteuid() == 0,
			Skipped: func(name, why string) {
				if d.skipped++; d.first == "" {
					d.first = name + ": " + why
				}
			},
		})
		if err == nil {
			// The stream may go on past the tar's end (record padding);
			// refusing it would fail the export.
			_, err = io.Copy(io.Discard, pr)
		}
		pr.CloseWithError(err)
		d.done <- err
	}()
	return pw, nil
}

// finish waits for the extraction. buildErr is the solve's outcome: a
// failed solve may leave the stream open, so it is closed with that error.
func (d *dirExport) finish(buildErr error) error {
	if d.done == nil {
		return nil // the build failed before its export began
	}
	if buildErr != nil {
		d.pw.CloseWithError(buildErr)
	}
	if err := <-d.done; err != nil && buildErr == nil {
		return fmt.Errorf("unpacking the result into %s: %w", d.dir, err)
	}
	if d.skipped > 0 {
		fmt.Fprintf(os.Stderr, "strata: not running as root, %d entries in %s have your owner or were left out (first: %s)\n", d.skipped, d.dir, d.first)
	}
	return nil
}

// fileExport writes a tar export (-o type=tar,dest=FILE) under a temporary
// name beside FILE, renamed to FILE only when the build succeeded: a build
// that fails or is interrupted while the stream comes leaves no partial
// tar under its name, and an older one stays.
type fileExport struct {
	dest string
	f    *atomicfile.File // made when BuildKit opens the stream
}

// exportFilesAtomically swaps each tar export parseOutput made (its dest
// still in OutputDir, with no writer yet) for a fileExport.
func exportFilesAtomically(so *client.SolveOpt) []*fileExport {
	var files []*fileExport
	for i, e := range so.Exports {
		if e.Type != client.ExporterTar || e.Output != nil || e.OutputDir == "" {
			continue
		}
		f := &fileExport{dest: e.OutputDir}
		so.Exports[i] = client.ExportEntry{Type: client.ExporterTar, Attrs: e.Attrs, Output: f.open}
		files = append(files, f)
	}
	return files
}

func (e *fileExport) open(map[string]string) (io.WriteCloser, error) {
	f, err := atomicfile.Create(e.dest, 0o666)
	if err != nil {
		return nil, err
	}
	e.f = f
	return f, nil
}

// finish renames the tar into place if the build succeeded, and removes
// it if not.
func (e *fileExport) finish(buildErr error) error {
	if e.f == nil {
		return nil // the build failed before its export began
	}
	if buildErr != nil {
		_ = e.f.Abort(nil)
		return nil
	}
	if err := e.f.Commit(); err != nil {
		return fmt.Errorf("-o type=tar,dest=%s: %w", e.dest, err)
	}
	return nil
}
