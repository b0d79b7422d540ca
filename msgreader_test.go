package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// msg is a message of n bytes: its size, then filler.
func msg(n int, fill byte) []byte {
	b := bytes.Repeat([]byte{fill}, n)
	binary.LittleEndian.PutUint32(b, uint32(n))
	return b
}

// TestMsgReader checks that messages come out whole, one at a time,
// however the client's bytes arrive, and that a stream ending in the
// middle of one is an error, not a message (SPEC §8.9).
func TestMsgReader(t *testing.T) {
	whole := [][]byte{msg(23, 'a'), msg(8215, 'b'), msg(7, 'c'), msg(70000, 'd'), msg(30, 'e')}
	stream := bytes.Join(whole, nil)
	tests := []struct {
		name string
		in   io.Reader
		want [][]byte
		err  error
	}{
		{"together", bytes.NewReader(stream), whole, io.EOF},
		{"one byte a read", iotest.OneByteReader(bytes.NewReader(stream)), whole, io.EOF},
		{"half a read", iotest.HalfReader(bytes.NewReader(stream)), whole, io.EOF},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(stream)), whole, io.EOF},
		{"cut in a size", bytes.NewReader(stream[:23+2]), whole[:1], io.ErrUnexpectedEOF},
		{"cut in a body", bytes.NewReader(stream[:23+100]), whole[:1], io.ErrUnexpectedEOF},
		{"error", io.MultiReader(bytes.NewReader(stream[:23]), iotest.ErrReader(errors.New("hung up"))), whole[:1], errors.New("hung up")},
		{"too short", bytes.NewReader(msg(6, 'x')), nil, errors.New("bad message size 6")},
		{"too long", bytes.NewReader(msg(maxMsize+1, 'x')), nil, fmt.Errorf("bad message size %d", maxMsize+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &msgReader{r: tt.in, buf: make([]byte, 8192)}
			var got [][]byte
			var err error
			for {
				var b []byte
				if b, err = in.next(maxMsize); err != nil {
					break
				}
				got = append(got, bytes.Clone(b))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if err.Error() != tt.err.Error() {
				t.Errorf("ends with %v, want %v", err, tt.err)
			}
		})
	}
}
