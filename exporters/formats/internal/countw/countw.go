// Package countw counts the bytes written through it: the archive formats
// (GCE's tar.gz, OVA) report their output's size as the image writers do,
// without seeking in a stream.
package countw

import "io"

// Writer passes writes to W and adds the bytes written to N.
type Writer struct {
	W io.Writer
	N int64
}

func (c *Writer) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
