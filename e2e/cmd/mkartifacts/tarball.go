package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tarMember is one entry of a release tarball.
type tarMember struct {
	// Name is the member's name as upstream's tar writes it: "bin/ctr",
	// "./bridge", "crictl". A name ending in "/" is a directory.
	Name string
	// Source is the file whose bytes, mode and time the member takes;
	// empty for a directory.
	Source string
}

// writeTarGz writes a gzip-compressed tarball of members to path. Owners
// are root, as upstream's release tars are (CNI's passes --owner=0
// --group=0; the others are repacked by root in a container). A directory
// takes the newest time of the files after it, since a directory's time on
// disk would only record when this program made it.
func writeTarGz(path string, members []tarMember) (err error) {
	newest := time.Time{}
	infos := make([]os.FileInfo, len(members))
	for i, m := range members {
		if m.Source == "" {
			continue
		}
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("tar %s: %w", filepath.Base(path), err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("tar %s: %s is not a regular file", filepath.Base(path), m.Source)
		}
		infos[i] = fi
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}

	return writeAtomic(path, 0o644, func(w io.Writer) error {
		gz := gzip.NewWriter(w)
		tw := tar.NewWriter(gz)
		for i, m := range members {
			if err := addMember(tw, m, infos[i], newest); err != nil {
				return fmt.Errorf("tar %s: %w", filepath.Base(path), err)
			}
		}
		return errors.Join(tw.Close(), gz.Close())
	})
}

func addMember(tw *tar.Writer, m tarMember, fi os.FileInfo, dirTime time.Time) error {
	hdr := &tar.Header{
		Name:  m.Name,
		Uname: "root",
		Gname: "root",
	}
	if strings.HasSuffix(m.Name, "/") {
		hdr.Typeflag = tar.TypeDir
		hdr.Mode = 0o755
		hdr.ModTime = dirTime
		return tw.WriteHeader(hdr)
	}
	hdr.Typeflag = tar.TypeReg
	hdr.Mode = int64(fi.Mode().Perm())
	hdr.Size = fi.Size()
	hdr.ModTime = fi.ModTime()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	f, err := os.Open(m.Source)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, f)
	if err != nil {
		return err
	}
	if n != fi.Size() {
		return fmt.Errorf("%s changed size while being archived", m.Source)
	}
	return nil
}
