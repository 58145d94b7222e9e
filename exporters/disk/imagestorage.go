package disk

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/strata-dev/strata/exporters/formats"
)

// imageStorage lets go-diskfs read the virtual disk inside any format
// formats.Open reads, as if it were a raw file. It is read-only.
type imageStorage struct {
	*io.SectionReader
	img  *formats.Image
	name string
}

var _ backend.Storage = (*imageStorage)(nil)

func newImageStorage(img *formats.Image, name string) *imageStorage {
	return &imageStorage{SectionReader: io.NewSectionReader(img, 0, img.Size), img: img, name: name}
}

func (s *imageStorage) Stat() (fs.FileInfo, error) { return imageInfo{s}, nil }
func (s *imageStorage) Close() error               { return nil }
func (s *imageStorage) Path() string               { return "" }

func (s *imageStorage) Sys() (*os.File, error) {
	return nil, errors.New("a disk image read through its format has no device")
}

func (s *imageStorage) Writable() (backend.WritableFile, error) {
	return nil, backend.ErrIncorrectOpenMode
}

type imageInfo struct{ s *imageStorage }

func (i imageInfo) Name() string       { return i.s.name }
func (i imageInfo) Size() int64        { return i.s.img.Size }
func (i imageInfo) Mode() fs.FileMode  { return 0o444 }
func (i imageInfo) ModTime() time.Time { return time.Time{} }
func (i imageInfo) IsDir() bool        { return false }
func (i imageInfo) Sys() any           { return nil }
