package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"syscall"
)

// shortDigest names a cache entry: 16 hex digits of the SHA-256 of what
// decides its content. That keeps paths readable, and collisions are out
// of reach for a handful of fixtures.
func shortDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:16]
}

// writeAtomic writes a file through fill into a temporary file next to path
// and renames it into place, so a killed run never leaves a half-written
// file under the final name.
func writeAtomic(path string, mode os.FileMode, fill func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeFileAtomic is writeAtomic for content already in memory.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeAtomic(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// lockDir takes an exclusive lock on dir/.lock, waiting for another holder
// (a parallel CI job sharing the cache) to finish; the waiter then finds
// the holder's result instead of building it again. The lock goes with the
// process, so a killed holder never leaves it stuck.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock cache: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock cache: %w", err)
		}
		log.Printf("waiting for another mkartifacts holding %s", f.Name())
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock cache: %w", err)
		}
	}
	return func() { f.Close() }, nil
}

// removeLeftovers deletes the scratch directories of runs that were killed
// before they could clean up. The caller holds dir's lock, so no live run
// is using them.
func removeLeftovers(dir string) {
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".build-*"))
	for _, l := range leftovers {
		if err := os.RemoveAll(l); err != nil {
			log.Printf("removing %s: %v", l, err)
		}
	}
}
