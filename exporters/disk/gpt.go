package disk

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// writeGPT writes the protective MBR and the primary and backup GPT of l to
// f, which must already be l.DiskSize bytes long.
func writeGPT(f *os.File, l Layout) error {
	table := &gpt.Table{
		LogicalSectorSize:  SectorSize,
		PhysicalSectorSize: SectorSize,
		GUID:               l.DiskGUID,
		ProtectiveMBR:      true,
		Partitions: []*gpt.Partition{
			gptEntry(l.ESP),
			gptEntry(l.Root),
		},
	}
	w, err := file.New(f, false).Writable()
	if err != nil {
		return err
	}
	if err := table.Write(w, l.DiskSize); err != nil {
		return fmt.Errorf("writing GPT: %w", err)
	}
	// go-diskfs stores the protective partition's size as a truncated
	// uint32; the spec wants 0xFFFFFFFF once the disk outgrows 2 TiB.
	if sectors := l.DiskSize/SectorSize - 1; sectors > 0xffffffff {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], 0xffffffff)
		if _, err := f.WriteAt(b[:], 446+12); err != nil {
			return fmt.Errorf("writing protective MBR size: %w", err)
		}
	}
	return nil
}

func gptEntry(p Partition) *gpt.Partition {
	return &gpt.Partition{
		Index: p.Number,
		Start: p.FirstLBA(),
		End:   p.LastLBA(),
		Type:  gpt.Type(p.TypeGUID),
		Name:  p.Name,
		GUID:  p.GUID,
	}
}
