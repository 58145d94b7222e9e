package disk

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-dev/strata/exporters/atomicfile"
)

// pendingImage is a disk image being written next to its final path, so
// that a failed or killed run never leaves a partial output behind: it is
// renamed into place only by commit.
type pendingImage struct {
	*atomicfile.File
}

// newPendingImage creates the temporary image for output.
func newPendingImage(output string) (*pendingImage, error) {
	f, err := atomicfile.Create(output, 0o600)
	if err != nil {
		return nil, err
	}
	return &pendingImage{File: f}, nil
}

// workDir makes a scratch directory next to output. Work files live there
// rather than in /tmp, which may be a small tmpfs, and on the output's
// filesystem copy_file_range can reflink.
func workDir(output string) (string, error) {
	work, err := os.MkdirTemp(outputDir(output), atomicfile.Pattern(filepath.Base(output)+".work"))
	if err != nil {
		return "", fmt.Errorf("creating work directory: %w", atomicfile.Explain(err, output))
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
		return p.Abort(err)
	}
	return p.Commit()
}

// discardOnError removes the image if *err is set, saying so when the
// disk is full; it is for defer, in a function whose named result is err.
func (p *pendingImage) discardOnError(err *error) { p.AbortOnError(err) }

// file is the temporary file itself, for what writes into it.
func (p *pendingImage) file() *os.File { return p.File.File }
