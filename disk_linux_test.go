package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// SPEC §11.4 bounds what dir takes on disk, not only its files' sizes:
// room reserved in a segment beyond what was written is released when
// the log moves on to the next, and a segment is not given room past
// where it turns.
func TestDiskAllocated(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	defer x.close()
	fs := x.dial()
	mkdir(t, fs, "pin")
	ctlWrite(t, fs, "pin", "replay all")
	mkdir(t, fs, "fire")
	ctlWrite(t, fs, "fire", "replay all\ndepth 1")
	w := newNumberedWriter(t, fs, 7995)
	for i := range 12000 {
		name := "fire/s"
		if i%10 == 0 {
			name = "pin/s"
		}
		must(t, w.write(name, i))
	}
	x.maintain(func() {})
	ents, err := os.ReadDir(dir)
	must(t, err)
	var size, alloc int64
	var each []string
	for _, e := range ents {
		var st syscall.Stat_t
		must(t, syscall.Stat(filepath.Join(dir, e.Name()), &st))
		size += st.Size
		alloc += st.Blocks * 512
		each = append(each, fmt.Sprintf("%s size %d allocated %d", e.Name(), st.Size, st.Blocks*512))
	}
	retained := x.retained()
	if bound := 2*retained + diskAllowance(); alloc > bound {
		t.Errorf("retained %d bytes; files %d bytes, allocated %d, more than %d:\n%s", retained, size, alloc, bound, strings.Join(each, "\n"))
	}
	t.Logf("retained %d bytes; files %d bytes, allocated %d", retained, size, alloc)
}
