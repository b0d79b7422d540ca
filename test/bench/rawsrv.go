//go:build !plan9

package main

import (
	"bufio"
	"encoding/binary"
	"io"
)

// The raw baseline is the transport alone: a frame of a 4-byte length
// and a 2-byte copy count, then the payload; the server answers with
// that many copies of the payload back to back, the answers to all
// frames already received leaving in one write. It is
// what one socketpair round trip costs with no 9P at all.

const rawHdr = 6

func serveRaw(rwc io.ReadWriteCloser) {
	defer rwc.Close()
	r := bufio.NewReaderSize(rwc, 2*msize)
	var hdr [rawHdr]byte
	var in, out []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n, k := int(binary.LittleEndian.Uint32(hdr[:])), int(binary.LittleEndian.Uint16(hdr[4:]))
		if cap(in) < n {
			in = make([]byte, n)
		}
		in = in[:n]
		if _, err := io.ReadFull(r, in); err != nil {
			return
		}
		for range k {
			out = append(out, in...)
		}
		if r.Buffered() > 0 {
			continue // answer the frames already here together
		}
		if _, err := rwc.Write(out); err != nil {
			return
		}
		out = out[:0]
	}
}

// rawSend queues one frame asking for k copies of p.
func rawSend(w *bufio.Writer, p []byte, k int) {
	var hdr [rawHdr]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(p)))
	binary.LittleEndian.PutUint16(hdr[4:], uint16(k))
	w.Write(hdr[:])
	w.Write(p)
}
