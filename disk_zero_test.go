//go:build !plan9

package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// Room reserved by writing zeros, where the file system cannot reserve
// it (Plan 9, Unix but Linux, Linux file systems without fallocate):
// these tests make the log do so on Linux too.

// noReserveDisk is a file system of cap bytes that cannot reserve
// room: a segment takes its size, and a write that would grow the
// files in dir past cap writes what fits and fails with ENOSPC, zeros
// as records.
type noReserveDisk struct {
	mu       sync.Mutex
	dir      string
	cap      int64
	reserves int // calls of Reserve
}

func (d *noReserveDisk) used() int64 {
	ents, _ := os.ReadDir(d.dir)
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".log") {
			n += fi.Size()
		}
	}
	return n
}

func (d *noReserveDisk) setCap(n int64) { d.mu.Lock(); d.cap = n; d.mu.Unlock() }

// fill makes the disk full: what the files take now.
func (d *noReserveDisk) fill() { d.mu.Lock(); d.cap = d.used(); d.mu.Unlock() }

// cappedDisk makes the log's files in dir a disk of limit bytes until
// the test ends: one whose file system reserves room (capDisk), or,
// with zeros, one where the log writes zeros for room (noReserveDisk).
// setCap moves the limit.
func cappedDisk(t *testing.T, dir string, zeros bool, limit int64) (setCap func(int64)) {
	if zeros {
		d := &noReserveDisk{dir: dir, cap: limit}
		wrapLogFile = func(f logFile) logFile { return noReserveFile{f, d} }
		setCap = d.setCap
	} else {
		d := &capDisk{dir: dir, cap: limit, reserved: map[string]int64{}}
		wrapLogFile = func(f logFile) logFile { return capFile{f, d, filepath.Base(f.(osLogFile).Name())} }
		setCap = d.setCap
	}
	t.Cleanup(func() { wrapLogFile = nil })
	return setCap
}

// writesResume says whether a write to stream succeeds again within
// 100 steps of the log's upkeep, once history was freed on a full
// disk.
func (x *logged) writesResume(w *numberedWriter, stream string) bool {
	for range 100 {
		x.maintain(func() {})
		if w.write(stream, 0) == nil {
			return true
		}
	}
	return false
}

type noReserveFile struct {
	logFile
	d *noReserveDisk
}

func (f noReserveFile) Reserve(off, n int64) error {
	f.d.mu.Lock()
	f.d.reserves++
	f.d.mu.Unlock()
	return errNoReserve
}

func (f noReserveFile) Write(b []byte) (int, error) { return f.write(b, -1) }

func (f noReserveFile) WriteAt(b []byte, off int64) (int, error) { return f.write(b, off) }

// write writes b at off, or where the file's offset is if off < 0,
// as much of it as the disk has room for.
func (f noReserveFile) write(b []byte, off int64) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	file := f.logFile.(osLogFile).File
	fi, err := file.Stat()
	if err != nil {
		return 0, err
	}
	at := off
	if at < 0 {
		if at, err = file.Seek(0, io.SeekCurrent); err != nil {
			return 0, err
		}
	}
	fits := int64(len(b))
	if grow := at + fits - fi.Size(); grow > 0 {
		if free := f.d.cap - f.d.used(); grow > free {
			fits = max(0, fits-(grow-free))
		}
	}
	var n int
	if off < 0 {
		n, err = f.logFile.Write(b[:fits])
	} else {
		n, err = f.logFile.WriteAt(b[:fits], off)
	}
	if err == nil && n < len(b) {
		err = syscall.ENOSPC
	}
	return n, err
}

// useUpRoom cuts the segment appended to at the end of its records:
// the room reserved in it is used up.
func useUpRoom(t *testing.T, l *dlog) {
	t.Helper()
	l.waitSpare()
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.newFile != nil || l.done != l.end {
		t.Fatal("the log is not written out")
	}
	must(t, l.f.Truncate(l.pos))
	l.resEnd = l.pos
}

// SPEC §11.3: with room reserved by writing zeros, a change that does
// not fit on a full disk fails with the system's error before it is
// made, and changes nothing; mq keeps serving, reads work, and once
// there is room again, writes go on and a restart brings back what
// was acknowledged.
func TestDiskFullZeros(t *testing.T) {
	for _, tt := range []struct {
		name string
		knob bool // zeroReserve, on a file system that could reserve
	}{
		{"file system cannot reserve", false},
		{"zeros forced", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setFor(t, &reserveChunk, 1)
			setFor(t, &zeroReserve, tt.knob)
			dir := t.TempDir()
			d := &noReserveDisk{dir: dir, cap: 1 << 40}
			wrapLogFile = func(f logFile) logFile { return noReserveFile{f, d} }
			defer func() { wrapLogFile = nil }()

			x := openLogged(t, dir, false)
			defer x.close()
			l := x.tree.log
			if !l.zero {
				t.Fatal("the log does not reserve room by writing zeros")
			}
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", "replay all")
			writeAll(t, fs, "g/s", "kept")
			before := x.dump()
			f, err := fs.Open("g/s", plan9.OWRITE)
			must(t, err)

			useUpRoom(t, l)
			d.fill()
			refuseEveryChange(t, fs, f)
			if diff := cmp.Diff(before, x.dump()); diff != "" {
				t.Errorf("a full disk changed the tree (-before +after):\n%s", diff)
			}
			l.mu.Lock()
			lerr := l.err
			l.mu.Unlock()
			if lerr != nil {
				t.Errorf("a write of the log failed: %v; want every change refused before it was made", lerr)
			}
			r, err := fs.Open("g/s", plan9.OREAD)
			must(t, err)
			buf := make([]byte, 100)
			n, err := r.Read(buf)
			if err != nil || string(buf[:n]) != "kept" {
				t.Errorf("read on a full disk: %q, %v", buf[:n], err)
			}
			r.Close()

			d.setCap(1 << 40)
			_, err = f.Write([]byte("after"))
			must(t, err)
			writeAll(t, fs, "g/t", "more")
			mkdir(t, fs, "h")
			want := x.dump()
			x.close()
			wrapLogFile = nil
			y := openLogged(t, dir, false)
			defer y.close()
			if diff := cmp.Diff(want, y.dump()); diff != "" {
				t.Errorf("after restart (-want +got):\n%s", diff)
			}
			if y.warn.Len() > 0 {
				t.Errorf("restart said %q", y.warn.String())
			}
			d.mu.Lock()
			reserves := d.reserves
			d.mu.Unlock()
			if tt.knob && reserves > 0 {
				t.Errorf("Reserve called %d times with zeros forced", reserves)
			}
		})
	}
}

// zeroTail is how many zeros end the file at path.
func zeroTail(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return len(b) - zeroFrom(b, 0)
}

// SPEC §11.5: room reserved by writing zeros is left in the segment
// appended to and in the spare by a clean close and by a kill (and, in
// a segment but the last, by a kill before the log cut it to its
// size). A restart reads the zeros as the end of the segment, without
// a word, and loses nothing.
func TestZeroTailRestart(t *testing.T) {
	old := zeroReserve
	zeroReserve = true
	defer func() { zeroReserve = old }()
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	workload(t, fs)
	x.turn(false)
	writeAll(t, fs, "all/s", "after the turn")
	l := x.tree.log
	l.settle()
	l.waitSpare()
	l.mu.Lock()
	cur, spare := segName(l.segs[len(l.segs)-1].num), segName(l.nextNum)
	first := segName(l.segs[0].num)
	l.mu.Unlock()
	want := x.dump()
	killed := copyDir(t, dir)
	x.close()

	if n := zeroTail(t, filepath.Join(killed, cur)); n == 0 {
		t.Errorf("killed: %s has no zeros after its records", cur)
	}
	if rec, err := holdsRecord(filepath.Join(killed, spare)); err != nil || rec || zeroTail(t, filepath.Join(killed, spare)) == 0 {
		t.Errorf("killed: the spare %s: records %v (%v), want its header and zeros", spare, rec, err)
	}
	if n := zeroTail(t, filepath.Join(dir, cur)); n == 0 {
		t.Errorf("closed: %s has no zeros after its records", cur)
	}
	// A kill before the log cut the segment it turned from.
	if first != cur {
		f, err := os.OpenFile(filepath.Join(killed, first), os.O_WRONLY|os.O_APPEND, 0)
		must(t, err)
		_, err = f.Write(make([]byte, 5000))
		must(t, err)
		f.Close()
	} else {
		t.Error("the log did not turn")
	}

	for _, tt := range []struct{ name, dir string }{{"closed", dir}, {"killed", killed}} {
		t.Run(tt.name, func(t *testing.T) {
			y := reopen(t, tt.dir, want, "after restart")
			if first != cur && zeroTail(t, filepath.Join(tt.dir, first)) > 0 {
				t.Errorf("%s still ends in zeros", first)
			}
			// The zeros left are room: records go over them.
			writeAll(t, y.dial(), "all/s", "after the restart")
			again := y.dump()
			y.close()
			z := reopen(t, tt.dir, again, "after a second restart")
			defer z.close()
		})
	}
}

// records is where each whole record of a segment starts, up to the
// first that is not whole (zeros, room, end the records).
func records(b []byte) []int {
	var offs []int
	for off := logHdrLen; off+8 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off:]))
		if size < 1 || off+8+size > len(b) {
			break
		}
		offs = append(offs, off)
		off += 8 + size
	}
	return offs
}

// SPEC §11.5: zeros are the end of a segment only from a record
// boundary. A record cut short with zeros after it (a write a kill
// stopped part way into the room reserved) is a torn tail: reported
// once and cut. Zeros over a record with whole records after it are
// damage, and mq refuses to start, changing nothing.
func TestTornBeforeZeros(t *testing.T) {
	old := zeroReserve
	zeroReserve = true
	defer func() { zeroReserve = old }()
	for _, tt := range []struct {
		name string
		// damage zeroes part of b, a segment whose last two records
		// are the writes of "two" and "three", and returns how many
		// bytes are dropped, or -1 if mq must refuse to start.
		damage func(b []byte, offs []int) int
	}{
		{"last record cut short", func(b []byte, offs []int) int {
			last := offs[len(offs)-1]
			end := last + 8 + int(binary.LittleEndian.Uint32(b[last:]))
			clear(b[end-3 : end]) // "th" of "three" is written
			return end - 3 - last
		}},
		{"a record cut short before the last", func(b []byte, offs []int) int {
			prev, last := offs[len(offs)-2], offs[len(offs)-1]
			clear(b[prev+9 : last])
			return -1
		}},
		{"zeros between records", func(b []byte, offs []int) int {
			prev, last := offs[len(offs)-2], offs[len(offs)-1]
			clear(b[prev:last])
			return -1
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			someHistory(t, dir, false)
			segs := recordSegs(t, dir)
			path := segs[len(segs)-1]
			b, err := os.ReadFile(path)
			must(t, err)
			offs := records(b)
			if len(offs) < 2 || !strings.HasSuffix(string(b[:offs[len(offs)-1]]), "two") || !strings.HasSuffix(string(b[:len(b)-zeroTail(t, path)]), "three") {
				t.Fatalf("%s does not end in the writes of two and three", path)
			}
			n := tt.damage(b, offs)
			must(t, os.WriteFile(path, b, 0600))
			if n < 0 {
				err := openDamaged(t, dir)
				wantErr := fmt.Sprintf("%s: damaged record at offset %d: ", path, offs[len(offs)-2])
				if !strings.HasPrefix(err.Error(), wantErr) {
					t.Errorf("got %q, want %q...", err, wantErr)
				}
				return
			}
			x := openLogged(t, dir, false)
			wantWarn := fmt.Sprintf("mq: %s: dropped %d bytes of a torn record\n", path, n)
			if got := x.warn.String(); got != wantWarn {
				t.Errorf("warning: got %q, want %q", got, wantWarn)
			}
			// The write of three never was, as if mq had stopped before it.
			if got := x.dump(); !strings.Contains(got, `"two"`) || strings.Contains(got, `"three"`) {
				t.Errorf("want the records before the torn one, not it:\n%s", got)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != int64(offs[len(offs)-1]) {
				t.Errorf("%s: not cut at the torn record (%d): %v, %v", path, offs[len(offs)-1], fi.Size(), err)
			}
			x.close()
			y := openLogged(t, dir, false)
			if y.warn.Len() != 0 {
				t.Errorf("second start warned again: %s", y.warn.String())
			}
			y.close()
		})
	}
}

// SPEC §11.4: with room reserved by writing zeros, the zeros count in
// the files' sizes, and dir still stays within twice the retained
// bytes plus diskAllowance, at every moment the test can see: after
// each write, and before segments are removed. As at the defaults,
// the log reserves segMax at a time.
func TestDiskBoundZeros(t *testing.T) {
	setFor(t, &segMax, 16<<10)
	setFor(t, &slack, 32<<10)
	setFor(t, &reserveChunk, 16<<10)
	setFor(t, &zeroReserve, true)
	dir := t.TempDir()
	var x *logged
	var mu sync.Mutex
	var most, over int64
	sample := func() {
		size := dirTotal(t, dir)
		mu.Lock()
		most = max(most, size)
		over = max(over, size-2*x.retained())
		mu.Unlock()
	}
	beforeRemove = sample
	defer func() { beforeRemove = nil }()
	x = openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "pin")
	ctlWrite(t, fs, "pin", "replay all")
	mkdir(t, fs, "fire")
	ctlWrite(t, fs, "fire", "replay all\ndepth 20")
	w := newNumberedWriter(t, fs, 995)
	for i := range 3000 {
		stream := "fire/s"
		if i%50 == 0 {
			stream = "pin/s"
		}
		must(t, w.write(stream, i))
		sample()
		x.maintain(sample)
	}
	mu.Lock()
	defer mu.Unlock()
	if over > diskAllowance() {
		t.Errorf("dir went %d bytes beyond twice the retained bytes, more than %d", over, diskAllowance())
	}
	t.Logf("3000 writes of 1000 bytes: retained %d at the end, dir at most %d bytes, at most %d beyond twice the retained (allowance %d)", x.retained(), most, over, diskAllowance())
	want := x.dump()
	x.close()
	beforeRemove = nil
	y := reopen(t, dir, want, "after restart")
	defer y.close()
}

// halfWrite fails the next write of records once armed: half of it is
// written, then an I/O error. Writes of zeros only (room) go through.
type halfWrite struct {
	logFile
	armed *errVar
}

func (f halfWrite) WriteAt(b []byte, off int64) (int, error) {
	if err := f.armed.get(); err != nil && strings.Trim(string(b), "\x00") != "" {
		f.armed.set(nil)
		n, _ := f.logFile.WriteAt(b[:len(b)/2], off)
		return n, err
	}
	return f.logFile.WriteAt(b, off)
}

// SPEC §11.3, §11.5: a write of the log that fails part way is cut
// back, and the retry writes the records where the cut left the file,
// not after a hole a restart would take for damage. The cut takes the
// room reserved past it too: the log never counts on room the file no
// longer has.
func TestPartialWriteRetried(t *testing.T) {
	for _, knob := range []bool{false, true} {
		t.Run(fmt.Sprintf("zeros %v", knob), func(t *testing.T) {
			old := zeroReserve
			zeroReserve = knob
			defer func() { zeroReserve = old }()
			armed := new(errVar)
			wrapLogFile = func(f logFile) logFile { return halfWrite{f, armed} }
			defer func() { wrapLogFile = nil }()
			dir := t.TempDir()
			x := openLogged(t, dir, false)
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", "replay all")
			writeAll(t, fs, "g/s", "before")
			l := x.tree.log
			armed.set(syscall.EIO)
			done := make(chan error, 1)
			go func() {
				f, err := fs.Open("g/s", plan9.OWRITE)
				if err == nil {
					_, err = f.Write([]byte(strings.Repeat("cut", 100)))
					f.Close()
				}
				done <- err
			}()
			for {
				l.mu.Lock()
				failed, resEnd, path := l.err != nil, l.resEnd, filepath.Join(dir, segName(l.segs[len(l.segs)-1].num))
				l.mu.Unlock()
				if failed {
					if fi, err := os.Stat(path); knob && (err != nil || resEnd > fi.Size()) {
						t.Errorf("after the cut, room counted to %d, the file is %v bytes (%v)", resEnd, fi.Size(), err)
					}
					break
				}
				if armed.get() == nil {
					break // written and retried already
				}
				waitABit()
			}
			if err := <-done; err != nil {
				t.Errorf("write retried after a failure: %v", err)
			}
			writeAll(t, fs, "g/s", "after")
			want := x.dump()
			x.close()
			wrapLogFile = nil
			y := reopen(t, dir, want, "after restart")
			defer y.close()
		})
	}
}

// SPEC §11.3, §11.4: a full disk frees up when a stream goes, also
// when an older segment holds messages still live (which must be
// carried forward before the segments after it can go): the spare
// keeps room for a checkpoint and a carry whatever the disk, and a
// turn for size does not take it.
func TestFullDiskFreedZeros(t *testing.T) {
	for _, knob := range []bool{false, true} {
		t.Run(fmt.Sprintf("zeros %v", knob), func(t *testing.T) {
			setFor(t, &segMax, 16<<10)
			setFor(t, &slack, 16<<10)
			setFor(t, &reserveChunk, 16<<10)
			setFor(t, &zeroReserve, knob)
			dir := t.TempDir()
			setCap := cappedDisk(t, dir, knob, 1<<40)
			x := openLogged(t, dir, false)
			defer x.close()
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", "replay all")
			writeAll(t, fs, "g/keep", "one", "two", "three")
			setCap(300 << 10)
			w := newNumberedWriter(t, fs, 995)
			if !x.fillUp(w, "g/big", 1000) {
				t.Fatal("the disk never filled")
			}
			must(t, fs.Remove("g/big"))
			if !x.writesResume(w, "g/keep") {
				l := x.tree.log
				l.mu.Lock()
				t.Errorf("writes still refused after g/big went: %d segments, spare %v with %d bytes of room", len(l.segs), l.next != nil, l.nextRes)
				l.mu.Unlock()
			}
		})
	}
}

// SPEC §11.3, §11.4: on a full disk, a change that only frees history
// (a stream or an empty group removed, a ctl write logged as its C
// record alone: clear, a lower depth) succeeds on the room kept for
// it, while any other change fails with the system's error and changes
// nothing; the log then deletes the segments freed, and writes go on.
// All that was acknowledged comes back after a restart.
func TestFullDiskFreeing(t *testing.T) {
	for _, knob := range []bool{false, true} {
		t.Run(fmt.Sprintf("zeros %v", knob), func(t *testing.T) {
			setFor(t, &segMax, 16<<10)
			setFor(t, &slack, 16<<10)
			setFor(t, &reserveChunk, 16<<10)
			setFor(t, &zeroReserve, knob)
			dir := t.TempDir()
			setCap := cappedDisk(t, dir, knob, 1<<40)
			x := openLogged(t, dir, false)
			fs := x.dial()
			for _, g := range []string{"g", "h", "off", "empty"} {
				mkdir(t, fs, g)
			}
			ctlWrite(t, fs, "g", "replay all")
			ctlWrite(t, fs, "h", "replay all")
			ctlWrite(t, fs, "off", "replay off")
			writeAll(t, fs, "g/keep", "one", "two", "three")
			writeAll(t, fs, "h/s", "a", "b")
			writeAll(t, fs, "off/s", "gone")
			setCap(300 << 10)
			// Filled up by writes, big ones then small ones: no room
			// is left for any change but those of the reserve.
			w := newNumberedWriter(t, fs, 995)
			for _, pad := range []int{995, 100, 0} {
				if !x.fillUp(newNumberedWriter(t, fs, pad), "g/big", 2000) {
					t.Fatalf("the disk never filled with writes of %d bytes", pad+5)
				}
			}

			before := x.dump()
			ctl := func(group, text string) error { return writeCtl(fs, group, text) }
			ordinary := []struct {
				what string
				do   func() error
			}{
				{"write", func() error { return w.write("g/keep", 1) }},
				{"create", func() error { _, err := fs.Create("g/t", plan9.OWRITE, 0664); return err }},
				{"mkdir", func() error { _, err := fs.Create("n", plan9.OREAD, plan9.DMDIR|0775); return err }},
				{"wstat", func() error {
					d := plan9.Dir{}
					d.Null()
					d.Name = "renamed"
					return fs.Wstat("h/s", &d)
				}},
				{"replay on", func() error { return ctl("off", "replay all") }},
			}
			var got []string
			for _, try := range ordinary {
				err := try.do()
				got = append(got, fmt.Sprintf("%s: %v", try.what, err))
			}
			var want []string
			for _, try := range ordinary {
				want = append(want, try.what+": no space left on device")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("changes that do not free history, on a full disk (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, x.dump()); diff != "" {
				t.Errorf("the failed changes changed the tree (-before +after):\n%s", diff)
			}

			segs := logFiles(t, dir)
			got = nil
			for _, try := range []struct {
				what string
				do   func() error
			}{
				{"rm stream", func() error { return fs.Remove("g/big") }},
				{"rm group", func() error { return fs.Remove("empty") }},
				{"clear", func() error { return ctl("h", "clear") }},
				{"depth", func() error { return ctl("g", "depth 2") }},
				{"replay off", func() error { return ctl("off", "replay off") }},
			} {
				got = append(got, fmt.Sprintf("%s: %v", try.what, try.do()))
			}
			want = []string{"rm stream: <nil>", "rm group: <nil>", "clear: <nil>", "depth: <nil>", "replay off: <nil>"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("changes that free history, on a full disk (-want +got):\n%s", diff)
			}

			if !x.writesResume(w, "g/keep") {
				l := x.tree.log
				l.mu.Lock()
				t.Errorf("writes still refused after the history was freed: %d segments, %d to delete, spare %v with %d bytes of room (%d at least), room %d, disk %d, live %d, tree %d",
					len(l.segs), len(l.dels), l.next != nil, l.nextRes, l.spareMin(), l.resEnd-l.pos, l.disk, l.live, l.tree)
				l.mu.Unlock()
				t.FailNow()
			}
			gone := 0
			now := map[string]bool{}
			for _, s := range logFiles(t, dir) {
				now[s] = true
			}
			for _, s := range segs {
				if !now[s] {
					gone++
				}
			}
			if gone == 0 {
				t.Errorf("no segment was deleted: before %v, after %v", segs, logFiles(t, dir))
			}
			for i := 1; i < 20; i++ {
				must(t, w.write("g/more", i))
			}
			want1 := x.dump()
			x.close()
			wrapLogFile = nil
			y := reopen(t, dir, want1, "after restart")
			defer y.close()
		})
	}
}

// logFiles lists the segment files in dir.
func logFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			names = append(names, e.Name())
		}
	}
	return names
}

// SPEC §11.3: a ctl write that makes a group drop messages from the
// middle of its history (replay all to replay last, with the newest
// message of a quiet stream at its head) logs a D record for each of them, not its C record
// alone: room is asked for all of them before the change is made, so
// that on a full disk it fails and changes nothing, or is written.
func TestCtlDropsRoom(t *testing.T) {
	for _, knob := range []bool{false, true} {
		t.Run(fmt.Sprintf("zeros %v", knob), func(t *testing.T) {
			setFor(t, &segMax, 16<<10)
			setFor(t, &slack, 16<<10)
			setFor(t, &reserveChunk, 16<<10)
			setFor(t, &zeroReserve, knob)
			dir := t.TempDir()
			x := openLogged(t, dir, false)
			defer x.close()
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", "replay all")
			w := newNumberedWriter(t, fs, 0)
			must(t, w.write("g/quiet", 0))
			for i := range 3000 {
				must(t, w.write([]string{"g/a", "g/b"}[i%2], i))
			}
			x.maintain(func() {})
			tr, l := x.tree, x.tree.log
			tr.mu.Lock()
			g := tr.root.byName["g"]
			err := tr.ctl(g, "replay last", "glenda", 1)
			tr.log.commit()
			l.mu.Lock()
			pos, resEnd := l.pos, l.resEnd
			l.mu.Unlock()
			tr.mu.Unlock()
			must(t, err)
			if pos+xRoom > resEnd {
				t.Errorf("the ctl write's records end at %d, past the room reserved (%d, %d kept for an X record)", pos, resEnd, xRoom)
			}
		})
	}
}

// SPEC §11.3: the same on a full disk, through mq: the ctl write fails
// with the system's error and changes nothing, and a remove, which
// only frees history, still goes through. A ctl write let past its
// room would have left its reply held and every later change failing.
func TestCtlDropsFullDisk(t *testing.T) {
	setFor(t, &segMax, 16<<10)
	setFor(t, &slack, 16<<10)
	setFor(t, &reserveChunk, 16<<10)
	dir := t.TempDir()
	d := &capDisk{dir: dir, cap: 1 << 40, reserved: map[string]int64{}}
	wrapLogFile = func(f logFile) logFile { return capFile{f, d, filepath.Base(f.(osLogFile).Name())} }
	defer func() { wrapLogFile = nil }()
	x := openLogged(t, dir, false)
	defer x.close()
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	w := newNumberedWriter(t, fs, 0)
	must(t, w.write("g/quiet", 0))
	for i := range 3000 {
		must(t, w.write([]string{"g/a", "g/b"}[i%2], i))
	}
	d.setCap(dirTotal(t, dir) + 8<<10)
	for i := 0; ; i++ {
		if i == 10000 {
			t.Fatal("the disk never filled")
		}
		if err := w.write("g/a", i); err != nil {
			break
		}
	}
	before := x.dump()
	f, err := fs.Open("g/ctl", plan9.OWRITE)
	must(t, err)
	_, err = f.Write([]byte("replay last"))
	f.Close()
	got := []string{fmt.Sprintf("ctl: %v", err)}
	if diff := cmp.Diff(before, x.dump()); diff != "" {
		t.Errorf("the failed ctl write changed the tree (-before +after):\n%s", diff)
	}
	got = append(got, fmt.Sprintf("remove: %v", fs.Remove("g/quiet")))
	want := []string{"ctl: no space left on device", "remove: <nil>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("on a full disk (-want +got):\n%s", diff)
	}
}

// fillUp writes numbered messages to stream through w, at most n, the
// log maintained after each, until the disk is full: it says whether
// one failed with "no space left on device". Any other error fails the
// test.
func (x *logged) fillUp(w *numberedWriter, stream string, n int) bool {
	x.t.Helper()
	for i := range n {
		err := w.write(stream, i)
		x.maintain(func() {})
		if err != nil {
			if err.Error() != "no space left on device" {
				x.t.Fatal(err)
			}
			return true
		}
	}
	return false
}
