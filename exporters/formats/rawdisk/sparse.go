package rawdisk

import (
	"context"
	"os"
)

// sparseBlock is the unit of hole detection when copying: the common
// filesystem block, so every hole in the copy is one the filesystem keeps.
const sparseBlock = 4096

// CopySparse writes the disk to dst as a raw image: blocks that hold data
// are written, all-zero blocks become holes. It returns the size written,
// which is the disk's.
func (d *Disk) CopySparse(ctx context.Context, dst *os.File) (int64, error) {
	err := d.Scan(ctx, ScanOptions{BlockSize: sparseBlock}, func(b *Batch) error {
		defer b.Release()
		for i := range b.Blocks() {
			if !b.Used(i) {
				continue
			}
			off := b.Off + int64(i*sparseBlock)
			block := b.Block(i)[:min(sparseBlock, d.size-off)]
			if _, err := dst.WriteAt(block, off); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// Truncating last gives the file its full size even when the disk
	// ends in a hole.
	return d.size, dst.Truncate(d.size)
}
