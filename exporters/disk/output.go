package disk

import (
	"fmt"
	"os"
	"path/filepath"
)

// pendingImage is a disk image being written next to its final path, so
// that a failed or killed run never leaves a partial output behind: it is
// renamed into place only by commit.
type pendingImage struct {
	*os.File
	output string
}

// newPendingImage creates the temporary image for output.
func newPendingImage(output string) (*pendingImage, error) {
	f, err := os.CreateTemp(outputDir(output), filepath.Base(output)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating output: %w", err)
	}
	return &pendingImage{File: f, output: output}, nil
}

// workDir makes a scratch directory next to output. Work files live there
// rather than in /tmp, which may be a small tmpfs, and on the output's
// filesystem copy_file_range can reflink.
func workDir(output string) (string, error) {
	work, err := os.MkdirTemp(outputDir(output), "."+filepath.Base(output)+".work-*")
	if err != nil {
		return "", fmt.Errorf("creating work directory: %w", err)
	}
	return work, nil
}

func outputDir(output string) string {
	if dir := filepath.Dir(output); dir != "" {
		return dir
	}
	return "."
}

// commit makes the image world-readable and renames it into place.
func (p *pendingImage) commit() error {
	if err := p.Chmod(0o644); err != nil {
		return err
	}
	if err := p.Close(); err != nil {
		return fmt.Errorf("closing output: %w", err)
	}
	if err := os.Rename(p.Name(), p.output); err != nil {
		return fmt.Errorf("renaming output into place: %w", err)
	}
	return nil
}

// discardOnError removes the image if *err is set; it is for defer, in a
// function whose named result is err.
func (p *pendingImage) discardOnError(err *error) {
	if *err != nil {
		p.Close()
		os.Remove(p.Name())
	}
}
