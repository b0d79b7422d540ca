//go:build !plan9

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/google/go-cmp/cmp"
)

// logged is a server with -r on dir, in this process.
type logged struct {
	t    *testing.T
	dir  string
	tree *tree
	srv  *server
	warn bytes.Buffer
}

func openLogged(t *testing.T, dir string, sync bool) *logged {
	t.Helper()
	x := &logged{t: t, dir: dir, tree: newTree("glenda", nil, 64<<20)}
	if _, err := openLog(dir, sync, x.tree, &x.warn); err != nil {
		t.Fatal(err)
	}
	x.srv = newServer(x.tree, nil)
	return x
}

// dial starts a session as glenda.
func (x *logged) dial() *client.Fsys { return x.dialAs("glenda") }

// dialAs starts a session as uid.
func (x *logged) dialAs(uid string) *client.Fsys {
	cli, end := net.Pipe()
	go x.srv.serve(end, 3)
	c, err := client.NewConn(cli)
	if err != nil {
		x.t.Fatal(err)
	}
	x.t.Cleanup(func() { c.Close() })
	fs, err := c.Attach(nil, uid, "")
	if err != nil {
		x.t.Fatal(err)
	}
	return fs
}

func (x *logged) close() { x.tree.log.close() }

// reopen starts a log on dir again and checks that it comes back as
// want, saying nothing (SPEC §11.2, §11.5); what names the restart in
// the error. The caller closes it.
func reopen(t *testing.T, dir, want, what string) *logged {
	t.Helper()
	y := openLogged(t, dir, false)
	if diff := cmp.Diff(want, y.dump()); diff != "" || y.warn.Len() > 0 {
		t.Errorf("%s (said %q; -want +got):\n%s", what, y.warn.String(), diff)
	}
	return y
}

// dump is everything SPEC §11.2 says comes back, as text: the tree,
// each group's configuration and its history with order.
func (x *logged) dump() string {
	x.tree.mu.Lock()
	defer x.tree.mu.Unlock()
	var b strings.Builder
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		d := n.stat()
		fmt.Fprintf(&b, "%s %#x vers %d %v %s %s mtime %d len %d\n", path, d.Qid.Path, d.Qid.Vers, d.Mode, d.Uid, d.Gid, d.Mtime, d.Length)
		if n.kind != kGroup {
			return
		}
		q := n.q
		fmt.Fprintf(&b, "%s/ctl %q order vers %d nextseq %d\n", path, q.cfg.String(), q.orderVers, q.nextSeq)
		fmt.Fprintf(&b, "%s/ctl mtime %d muid %s, order mtime %d muid %s\n", path, n.ctl.mtime, n.ctl.muid, n.order.mtime, n.order.muid)
		for m := q.head; m != nil; m = m.gnext {
			fmt.Fprintf(&b, "  %d %q %q\n", m.seq, m.from.line, m.data)
		}
		for _, c := range n.children {
			walk(c, path+"/"+c.name)
		}
	}
	walk(x.tree.root, "")
	return b.String()
}

// setFor sets *p to v until the test ends.
func setFor[T any](t *testing.T, p *T, v T) {
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, fs *client.Fsys, name string) {
	t.Helper()
	f, err := fs.Create(name, plan9.OREAD, plan9.DMDIR|0775)
	must(t, err)
	f.Close()
}

func ctlWrite(t *testing.T, fs *client.Fsys, group, text string) {
	t.Helper()
	must(t, writeCtl(fs, group, text))
}

// writeCtl writes text to group's ctl, and says how that went.
func writeCtl(fs *client.Fsys, group, text string) error {
	f, err := fs.Open(group+"/ctl", plan9.OWRITE)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(text))
	return err
}

// writeAll writes each message to stream name, creating it if need be.
func writeAll(t *testing.T, fs *client.Fsys, name string, msgs ...string) {
	t.Helper()
	f, err := fs.Open(name, plan9.OWRITE)
	if err != nil {
		f, err = fs.Create(name, plan9.OWRITE, 0664)
	}
	must(t, err)
	defer f.Close()
	for _, m := range msgs {
		_, err := f.Write([]byte(m))
		must(t, err)
	}
}

// A numberedWriter writes message i to a stream as its number, five
// digits, and pad bytes, keeping each stream open once it has opened
// it (creating it if need be).
type numberedWriter struct {
	t     *testing.T
	fs    *client.Fsys
	pad   string
	files map[string]*client.Fid
}

func newNumberedWriter(t *testing.T, fs *client.Fsys, pad int) *numberedWriter {
	return &numberedWriter{t, fs, strings.Repeat("m", pad), map[string]*client.Fid{}}
}

// write writes message i to stream name, and says how the write went.
func (w *numberedWriter) write(name string, i int) error {
	w.t.Helper()
	f := w.files[name]
	if f == nil {
		var err error
		f, err = w.fs.Open(name, plan9.OWRITE)
		if err != nil {
			f, err = w.fs.Create(name, plan9.OWRITE, 0664)
		}
		must(w.t, err)
		w.files[name] = f
	}
	_, err := f.Write([]byte(fmt.Sprintf("%05d%s", i, w.pad)))
	return err
}

// workload makes one of everything SPEC §11.2 keeps.
func workload(t *testing.T, fs *client.Fsys) {
	mkdir(t, fs, "all")
	ctlWrite(t, fs, "all", "replay all\ndata coalesce")
	writeAll(t, fs, "all/a", "a1", "a2")
	writeAll(t, fs, "all/b", "b1")
	writeAll(t, fs, "all/a", "a3")
	// A renamed stream: order keeps the old name for old messages.
	d := plan9.Dir{}
	d.Null()
	d.Name = "b2"
	must(t, fs.Wstat("all/b", &d))
	writeAll(t, fs, "all/b2", "after rename")
	d.Null()
	d.Mode = 0600
	d.Mtime = 1234567
	must(t, fs.Wstat("all/a", &d))
	// Nested groups, copying configuration from the parent.
	mkdir(t, fs, "all/sub")
	writeAll(t, fs, "all/sub/x", "x1", "x2", "x3")
	mkdir(t, fs, "all/sub/deeper")
	// depth trims, removed streams and groups.
	mkdir(t, fs, "deep")
	ctlWrite(t, fs, "deep", "replay all\ndepth 3")
	for i := range 10 {
		writeAll(t, fs, "deep/s", fmt.Sprintf("m%d", i))
	}
	writeAll(t, fs, "deep/gone", "g1", "g2")
	writeAll(t, fs, "deep/s", "last")
	must(t, fs.Remove("deep/gone"))
	mkdir(t, fs, "deep/empty")
	must(t, fs.Remove("deep/empty"))
	// clear, then more.
	mkdir(t, fs, "cleared")
	ctlWrite(t, fs, "cleared", "replay all")
	writeAll(t, fs, "cleared/s", "old1", "old2")
	ctlWrite(t, fs, "cleared", "clear")
	writeAll(t, fs, "cleared/s", "new")
	// replay last: a reader takes what is not the newest.
	mkdir(t, fs, "last")
	ctlWrite(t, fs, "last", "replay last\nwait off")
	r, err := fs.Open("last/s", plan9.OREAD)
	if err != nil {
		writeAll(t, fs, "last/s")
		r, err = fs.Open("last/s", plan9.OREAD)
	}
	must(t, err)
	writeAll(t, fs, "last/s", "l1", "l2", "l3")
	writeAll(t, fs, "last/t", "t1")
	buf := make([]byte, 100)
	for range 2 {
		_, err := r.Read(buf)
		must(t, err)
	}
	r.Close()
	// replay off: comes back empty, but its tree and ctl come back.
	mkdir(t, fs, "off")
	ctlWrite(t, fs, "off", "depth 5K\nwait one")
	ctlWrite(t, fs, "off", "wait off")
	rd, err := fs.Open("off", plan9.OREAD)
	must(t, err)
	rd.Close()
	offr, err := fs.Create("off/s", plan9.ORDWR, 0640)
	must(t, err)
	offr.Write([]byte("unread, kept while its reader is open"))
	offr.Close()
	// A group turning replay on keeps what it held.
	mkdir(t, fs, "late")
	lr, err := fs.Create("late/s", plan9.ORDWR, 0664)
	must(t, err)
	lr.Write([]byte("held for a reader"))
	ctlWrite(t, fs, "late", "replay all")
	lr.Write([]byte("kept"))
	lr.Close()
	// ctl's and order's mtime, set by wstat (SPEC §3.6).
	d.Null()
	d.Mtime = 1001
	must(t, fs.Wstat("late/ctl", &d))
	d.Mtime = 1002
	must(t, fs.Wstat("late/order", &d))
	// The root's configuration and stat.
	ctlWrite(t, fs, "", "replay last")
	d.Null()
	d.Mode = plan9.DMDIR | 0755
	must(t, fs.Wstat("/", &d))
}

// expectAfterRestart is what a dump should be after a restart: groups
// under replay off lose their history (SPEC §11.2).
func expectAfterRestart(dump string) string {
	var out []string
	skip := false
	for _, line := range strings.Split(dump, "\n") {
		if strings.Contains(line, "/ctl ") {
			skip = strings.Contains(line, `replay off`)
		} else if strings.HasPrefix(line, "  ") && skip {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// SPEC §11.2: after a restart on the same dir, the tree, every group's
// configuration and its retained history come back, byte for byte and
// in order; qid.vers goes on; qid.paths are never reused.
func TestRestartRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		sync   bool
		segMax int64
	}{{false, segMax}, {true, segMax}, {false, 200}} {
		sync := tc.sync
		t.Run(fmt.Sprintf("sync=%v,segMax=%d", sync, tc.segMax), func(t *testing.T) {
			old := segMax
			segMax = tc.segMax
			defer func() { segMax = old }()
			dir := t.TempDir()
			x := openLogged(t, dir, sync)
			fs := x.dial()
			workload(t, fs)
			before := x.dump()
			paths := x.paths()
			x.close()

			y := openLogged(t, dir, sync)
			after := y.dump()
			if diff := cmp.Diff(expectAfterRestart(before), after); diff != "" {
				t.Fatalf("after restart (-want +got):\n%s", diff)
			}
			if y.warn.Len() > 0 {
				t.Errorf("warnings: %s", y.warn.String())
			}
			// New files get new qid.paths, above all ever used.
			fs = y.dial()
			writeAll(t, fs, "all/new", "n")
			mkdir(t, fs, "newgroup")
			for _, p := range y.paths() {
				if p.name == "/all/new" || strings.HasPrefix(p.name, "/newgroup") {
					if p.path <= x.tree.nextPath-1 {
						t.Errorf("%s has qid.path %#x, not above %#x", p.name, p.path, x.tree.nextPath-1)
					}
				}
			}
			_ = paths
			// And a second restart, after every message was carried
			// forward and the segments they were in deleted.
			y.carryAll()
			y.tree.log.mu.Lock()
			carried := y.tree.log.carriedN
			y.tree.log.mu.Unlock()
			if carried == 0 {
				t.Errorf("nothing was carried forward")
			}
			writeAll(t, fs, "all/a", "after compaction")
			again := y.dump()
			y.close()
			z := openLogged(t, dir, sync)
			if diff := cmp.Diff(expectAfterRestart(again), z.dump()); diff != "" {
				t.Fatalf("after compaction and restart (-want +got):\n%s", diff)
			}
			z.close()
		})
	}
}

type pathName struct {
	name string
	path uint64
}

func (x *logged) paths() []pathName {
	x.tree.mu.Lock()
	defer x.tree.mu.Unlock()
	var ps []pathName
	var walk func(n *node, name string)
	walk = func(n *node, name string) {
		ps = append(ps, pathName{name, n.path})
		if n.kind == kGroup {
			ps = append(ps, pathName{name + "/ctl", n.ctl.path}, pathName{name + "/order", n.order.path})
			for _, c := range n.children {
				walk(c, name+"/"+c.name)
			}
		}
	}
	walk(x.tree.root, "")
	return ps
}

func segFiles(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			names = append(names, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(names)
	return names
}

func waitABit() { time.Sleep(time.Millisecond) }

// recordSegs is the segments in dir that hold records: not the spare
// made ahead.
func recordSegs(t *testing.T, dir string) []string {
	var names []string
	for _, f := range segFiles(t, dir) {
		if fi, err := os.Stat(f); err == nil && fi.Size() > logHdrLen {
			names = append(names, f)
		}
	}
	return names
}

// damaged opens dir after a restart that must fail; it returns the
// error, and checks that no file in dir changed.
func openDamaged(t *testing.T, dir string) error {
	t.Helper()
	before := dirBytes(t, dir)
	var warn bytes.Buffer
	_, err := openLog(dir, false, newTree("glenda", nil, 64<<20), &warn)
	if err == nil {
		t.Fatal("mq started over a damaged log")
	}
	if diff := cmp.Diff(before, dirBytes(t, dir)); diff != "" {
		t.Errorf("the log was changed (-before +after):\n%s", diff)
	}
	return err
}

func dirBytes(t *testing.T, dir string) map[string]string {
	m := map[string]string{}
	for _, f := range segFiles(t, dir) {
		b, err := os.ReadFile(f)
		must(t, err)
		m[filepath.Base(f)] = string(b)
	}
	return m
}

// someHistory makes a log in dir with a few groups and messages, and
// starts a new segment once when twoSegs, so that there is more than
// one. It returns the state as dump shows it.
func someHistory(t *testing.T, dir string, twoSegs bool) string {
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	writeAll(t, fs, "g/s", "one", "two", "three")
	if twoSegs {
		x.turn(false)
		writeAll(t, fs, "g/s", "four", "five")
	}
	d := x.dump()
	x.close()
	return d
}

// SPEC §11.5: a torn tail is cut back to the last whole record and
// reported once per file; the rest comes back.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string) int // returns the bytes to be dropped
	}{
		{"bytes appended", func(path string) int {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			f.Write([]byte{7, 0, 0, 0, 1, 2})
			f.Close()
			return 6
		}},
		{"last record cut short", func(path string) int {
			b, err := os.ReadFile(path)
			must(t, err)
			last := logHdrLen
			for off := logHdrLen; off < len(b); off += 8 + int(binary.LittleEndian.Uint32(b[off:])) {
				last = off
			}
			must(t, os.Truncate(path, int64(len(b)-3)))
			return len(b) - 3 - last
		}},
		{"last record damaged, then one cut short", func(path string) int {
			// Two records in flight: the first's bytes went bad, the
			// second was cut short; no whole record follows them.
			b, err := os.ReadFile(path)
			must(t, err)
			last := logHdrLen
			for off := logHdrLen; off < len(b); off += 8 + int(binary.LittleEndian.Uint32(b[off:])) {
				last = off
			}
			b[len(b)-1] ^= 0x40
			b = append(b, 7, 0, 0, 0, 1, 2)
			must(t, os.WriteFile(path, b, 0600))
			return len(b) - last
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want := someHistory(t, dir, false)
			segs := segFiles(t, dir)
			last := segs[len(segs)-1]
			n := tc.damage(last)
			x := openLogged(t, dir, false)
			wantWarn := fmt.Sprintf("mq: %s: dropped %d bytes of a torn record\n", last, n)
			if got := x.warn.String(); got != wantWarn {
				t.Errorf("warning: got %q, want %q", got, wantWarn)
			}
			got := x.dump()
			if tc.name != "bytes appended" {
				// The last message is lost, not acknowledged... as
				// if mq had stopped before writing it; order with it.
				want = strings.Replace(want, "  3 \"s\\n\" \"three\"\n", "", 1)
			}
			if diff := cmp.Diff(want, got); diff != "" && tc.name == "bytes appended" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !strings.Contains(got, `"two"`) {
				t.Errorf("lost whole records:\n%s", got)
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

// SPEC §11.5: a new segment's file is made, header and all, before the
// end of the old segment is written; a crash part way through that
// write leaves a torn tail in the segment before a header-only one. It
// is cut back like any torn tail.
func TestTornTailBeforeEmptySegment(t *testing.T) {
	dir := t.TempDir()
	someHistory(t, dir, false)
	segs := segFiles(t, dir)
	old := segs[len(segs)-1]
	b, err := os.ReadFile(old)
	must(t, err)
	must(t, os.Truncate(old, int64(len(b)-3)))
	var num uint64
	_, err = fmt.Sscanf(filepath.Base(old), "%016x.log", &num)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, segName(num+1)), segHeader(num+1), 0600))
	last := logHdrLen
	for off := logHdrLen; off < len(b); off += 8 + int(binary.LittleEndian.Uint32(b[off:])) {
		last = off
	}

	var warn bytes.Buffer
	tr := newTree("glenda", nil, 64<<20)
	l, err := openLog(dir, false, tr, &warn)
	if err != nil {
		t.Fatalf("a torn tail before a header-only segment: %v", err)
	}
	x := &logged{t: t, dir: dir, tree: tr, srv: newServer(tr, nil)}
	wantWarn := fmt.Sprintf("mq: %s: dropped %d bytes of a torn record\n", old, len(b)-3-last)
	if got := warn.String(); got != wantWarn {
		t.Errorf("warning: got %q, want %q", got, wantWarn)
	}
	if got := x.dump(); !strings.Contains(got, `"two"`) || strings.Contains(got, `"three"`) {
		t.Errorf("want the records before the torn one, not it:\n%s", got)
	}
	writeAll(t, x.dial(), "g/s", "four")
	want := x.dump()
	l.close()
	y := openLogged(t, dir, false)
	if y.warn.Len() != 0 {
		t.Errorf("second start warned again: %s", y.warn.String())
	}
	if diff := cmp.Diff(want, y.dump()); diff != "" {
		t.Errorf("after a second restart (-want +got):\n%s", diff)
	}
	y.close()
}

// SPEC §11.5: damage anywhere but the tail, a missing segment, an
// unknown format: mq refuses to start, naming the file and the
// problem, and changes nothing.
func TestDamageRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		twoSegs bool
		damage  func(t *testing.T, segs []string)
		want    string // the error, with %s for the file
		file    int    // which segment it names (-1: the one before the first)
	}{
		{"flipped byte", false, func(t *testing.T, segs []string) {
			b, err := os.ReadFile(segs[0])
			must(t, err)
			b[logHdrLen+8+2] ^= 0x40 // in the first record's body
			must(t, os.WriteFile(segs[0], b, 0600))
		}, "%s: damaged record at offset 16: checksum does not match", 0},
		{"truncated middle segment", true, func(t *testing.T, segs []string) {
			fi, err := os.Stat(segs[0])
			must(t, err)
			must(t, os.Truncate(segs[0], fi.Size()-4))
		}, "%s: damaged record at offset ", 0},
		{"missing segment", true, func(t *testing.T, segs []string) {
			must(t, os.Remove(segs[0]))
		}, "%s: missing segment of the log", 0},
		{"header of a middle segment cut short", true, func(t *testing.T, segs []string) {
			must(t, os.Truncate(segs[0], 5))
		}, "%s: segment header cut short", 0},
		{"middle segment empty", true, func(t *testing.T, segs []string) {
			must(t, os.Truncate(segs[0], 0))
		}, "%s: segment header cut short", 0},
		{"unknown format", false, func(t *testing.T, segs []string) {
			b, err := os.ReadFile(segs[0])
			must(t, err)
			copy(b, "mq log9\n")
			must(t, os.WriteFile(segs[0], b, 0600))
		}, `%s: unknown log format "mq log9"`, 0},
		{"not a log", false, func(t *testing.T, segs []string) {
			must(t, os.WriteFile(segs[0], []byte("hello, world, not a log at all"), 0600))
		}, `%s: not an mq log`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			someHistory(t, dir, tc.twoSegs)
			segs := segFiles(t, dir)
			tc.damage(t, segs)
			err := openDamaged(t, dir)
			var file string
			if tc.file >= 0 {
				file = segs[tc.file]
			} else {
				var n uint64
				fmt.Sscanf(filepath.Base(segs[0]), "%016x.log", &n)
				file = filepath.Join(dir, segName(n-1))
			}
			want := fmt.Sprintf(tc.want, file)
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %q, want %q", err, want)
			}
			t.Logf("mq: %v", err)
		})
	}
}

// frame makes a record of body, as the log writes it in a segment
// whose checksums start from seed (segSeed).
func frame(seed uint32, body ...byte) []byte {
	b := make([]byte, 8, 8+len(body))
	binary.LittleEndian.PutUint32(b, uint32(len(body)))
	binary.LittleEndian.PutUint32(b[4:], crc32.Update(seed, castagnoli, body))
	return append(b, body...)
}

// fileSeed is what the checksums of the records in the segment file
// at path start from.
func fileSeed(t *testing.T, path string) uint32 {
	b, err := os.ReadFile(path)
	must(t, err)
	if len(b) < logHdrLen {
		t.Fatalf("%s: %d bytes, no header", path, len(b))
	}
	return segSeed(b)
}

// SPEC §11.5: a record of a type mq does not know, whole and with a
// good checksum, is a format it does not know: mq refuses to start,
// naming the file, and changes nothing. Z (a snapshot's start) and J
// are such types: older builds wrote them, this one reads them no more.
func TestUnknownRecordRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  byte
		new  bool // in a segment of its own after the others, first
	}{
		{"Z ending the last segment", 'Z', false},
		{"segment starting with Z", 'Z', true},
		{"segment starting with J", 'J', true},
		{"unknown type", '?', false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			someHistory(t, dir, false)
			segs := segFiles(t, dir)
			file := segs[len(segs)-1]
			fi, err := os.Stat(file)
			must(t, err)
			off := fi.Size()
			if tc.new {
				var n uint64
				_, err := fmt.Sscanf(filepath.Base(file), "%016x.log", &n)
				must(t, err)
				file = filepath.Join(dir, segName(n+1))
				must(t, os.WriteFile(file, segHeader(n+1), 0600))
				off = logHdrLen
			}
			seed := fileSeed(t, file)
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			_, err = f.Write(frame(seed, tc.typ))
			must(t, err)
			if tc.new {
				// As a snapshot was written: the high-water mark, the
				// tree, the messages, then E.
				_, err = f.Write(append(frame(seed, 'P', 9), frame(seed, 'E')...))
				must(t, err)
			}
			must(t, f.Close())
			err = openDamaged(t, dir)
			want := fmt.Sprintf("%s: bad record at offset %d: unknown record type %q", file, off, tc.typ)
			if err.Error() != want {
				t.Errorf("got %q, want %q", err, want)
			}
		})
	}
}

// SPEC §11.5: a file in dir that is not the log is refused, naming it,
// but for the file openLog makes and removes to check that dir takes
// new files, which a crash may leave: it goes.
func TestOtherFiles(t *testing.T) {
	dir := t.TempDir()
	want := someHistory(t, dir, false)
	probe := filepath.Join(dir, "probe12345.tmp")
	must(t, os.WriteFile(probe, nil, 0600))
	x := openLogged(t, dir, false)
	if diff := cmp.Diff(want, x.dump()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	x.close()
	if _, err := os.Stat(probe); err == nil {
		t.Errorf("%s is still there", probe)
	}
	for _, name := range []string{segName(2) + ".tmp", "notes"} {
		file := filepath.Join(dir, name)
		must(t, os.WriteFile(file, []byte("x"), 0600))
		err := openDamaged(t, dir)
		if got, want := err.Error(), file+": unknown file in log directory"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		must(t, os.Remove(file))
	}
}

// SPEC §11.5: a dir in use by another mq is refused.
func TestDirInUse(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	defer x.close()
	_, err := openLog(dir, false, newTree("glenda", nil, 1<<20), io.Discard)
	want := filepath.Join(dir, "lock") + ": in use by another mq"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// SPEC §11.5: a dir mq cannot write is refused.
func TestReadOnlyDir(t *testing.T) {
	dir := t.TempDir()
	someHistory(t, dir, false)
	must(t, os.Chmod(dir, 0500))
	defer os.Chmod(dir, 0700)
	segs := segFiles(t, dir)
	for _, f := range segs {
		must(t, os.Chmod(f, 0400))
	}
	if f, err := os.OpenFile(segs[0], os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Skip("running as a user the file system lets write anything")
	}
	err := openDamaged(t, dir)
	t.Logf("mq: %v", err)
}

// failing wraps a segment so that tests can make it fail.
type failing struct {
	logFile
	reserveErr, writeErr *errVar
}

// errVar is an error a test sets while the log's goroutines read it.
type errVar struct {
	mu  sync.Mutex
	err error
}

func (v *errVar) set(err error) { v.mu.Lock(); v.err = err; v.mu.Unlock() }
func (v *errVar) get() error    { v.mu.Lock(); defer v.mu.Unlock(); return v.err }

// injectFailures makes the log's files fail with the errors the test
// sets in reserveErr and writeErr, until the test ends.
func injectFailures(t *testing.T) (reserveErr, writeErr *errVar) {
	reserveErr, writeErr = new(errVar), new(errVar)
	wrapLogFile = func(f logFile) logFile { return failing{f, reserveErr, writeErr} }
	t.Cleanup(func() { wrapLogFile = nil })
	return reserveErr, writeErr
}

func (f failing) Reserve(off, n int64) error {
	if err := f.reserveErr.get(); err != nil {
		return err
	}
	return f.logFile.Reserve(off, n)
}

func (f failing) WriteAt(b []byte, off int64) (int, error) {
	if err := f.writeErr.get(); err != nil {
		return 0, err
	}
	return f.logFile.WriteAt(b, off)
}

// refuseEveryChange tries every kind of change on a full disk, through
// fs and f (g/s open for writing): each must fail with the system's
// error (SPEC §11.3).
func refuseEveryChange(t *testing.T, fs *client.Fsys, f *client.Fid) {
	t.Helper()
	for _, try := range []struct {
		what string
		do   func() error
	}{
		{"write", func() error { _, err := f.Write([]byte("lost")); return err }},
		{"create", func() error { _, err := fs.Create("g/t", plan9.OWRITE, 0664); return err }},
		{"mkdir", func() error { _, err := fs.Create("h", plan9.OREAD, plan9.DMDIR|0775); return err }},
		{"remove", func() error { return fs.Remove("g/s") }},
		{"ctl", func() error {
			c, err := fs.Open("g/ctl", plan9.OWRITE)
			must(t, err)
			defer c.Close()
			_, err = c.Write([]byte("depth 1"))
			return err
		}},
		{"wstat", func() error {
			var d plan9.Dir
			d.Null()
			d.Name = "renamed"
			return fs.Wstat("g/s", &d)
		}},
	} {
		err := try.do()
		if err == nil || err.Error() != "no space left on device" {
			t.Errorf("%s on a full disk: got %v, want no space left on device", try.what, err)
		}
	}
}

// SPEC §11.3: a change that cannot be made durable fails with the
// system's error and changes nothing; mq keeps serving, and reads work.
func TestDiskFull(t *testing.T) {
	reserveErr, writeErr := injectFailures(t)
	old := reserveChunk
	reserveChunk = 1
	defer func() { reserveChunk = old }()

	dir := t.TempDir()
	x := openLogged(t, dir, false)
	defer x.close()
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	writeAll(t, fs, "g/s", "kept")
	before := x.dump()

	f, err := fs.Open("g/s", plan9.OWRITE)
	must(t, err)
	reserveErr.set(syscall.ENOSPC)
	l := x.tree.log
	l.mu.Lock()
	l.resEnd = l.pos // the room reserved so far is used up
	l.mu.Unlock()
	refuseEveryChange(t, fs, f)
	if diff := cmp.Diff(before, x.dump()); diff != "" {
		t.Errorf("a full disk changed the tree (-before +after):\n%s", diff)
	}
	// Reads still work.
	r, err := fs.Open("g/s", plan9.OREAD)
	must(t, err)
	buf := make([]byte, 100)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "kept" {
		t.Errorf("read on a full disk: %q, %v", buf[:n], err)
	}
	// Room again: writes go on.
	reserveErr.set(nil)
	_, err = f.Write([]byte("after"))
	must(t, err)

	// A write that fails after room was reserved (an I/O error): the
	// request fails with the error, and mq keeps serving.
	reserveChunk = 1 << 20
	_, err = f.Write([]byte("reserve"))
	must(t, err)
	// The write whose record the disk refuses is in the tree already
	// (readers may have it): it is not reported as failed, its Rwrite
	// waits for the retry. Changes made meanwhile fail and change
	// nothing.
	writeErr.set(syscall.EIO)
	eio := make(chan error, 1)
	go func() { _, err := f.Write([]byte("eio")); eio <- err }()
	var failed bool
	for !failed {
		select {
		case err := <-eio:
			if err != nil {
				t.Errorf("write on a failing disk: %v, want it to wait for the retry", err)
			}
			eio <- err
			failed = true
		default:
			l.mu.Lock()
			failed = l.err != nil
			l.mu.Unlock()
			waitABit()
		}
	}
	mid := x.dump()
	_, err = f.Write([]byte("refused"))
	if err == nil || err.Error() != "input/output error" {
		t.Errorf("write on a failing disk: got %v, want input/output error", err)
	}
	if diff := cmp.Diff(mid, x.dump()); diff != "" {
		t.Errorf("a write refused on a failing disk changed the tree (-before +after):\n%s", diff)
	}
	writeErr.set(nil)
	if err := <-eio; err != nil {
		t.Errorf("write logged once the disk recovered: %v", err)
	}
	_, err = f.Write([]byte("again"))
	must(t, err)
	x.close()
	y := openLogged(t, dir, false)
	got := y.dump()
	for _, m := range []string{"kept", "after", "reserve", "eio", "again"} {
		if !strings.Contains(got, `"`+m+`"`) {
			t.Errorf("after restart, %q is missing:\n%s", m, got)
		}
	}
	if strings.Contains(got, `"refused"`) {
		t.Errorf("after restart, a write that failed is there:\n%s", got)
	}
	if strings.Contains(got, `"lost"`) {
		t.Errorf("after restart, a write that failed is there:\n%s", got)
	}
	y.close()
}

// BenchmarkStartup reads back a log of 256 MiB of 4 KiB messages
// (SPEC §11.5); test/bench compares the same with cat.
func BenchmarkStartup(b *testing.B) {
	dir := b.TempDir()
	if d := os.Getenv("SUKEEP"); d != "" {
		dir = d
	}
	tr := newTree("glenda", nil, 1<<30)
	if _, err := openLog(dir, false, tr, io.Discard); err != nil {
		b.Fatal(err)
	}
	tr.mu.Lock()
	g, _ := tr.create(tr.root, "glenda", "g", plan9.DMDIR|0775)
	g.q.cfg.replay = replayAll
	tr.log.configured(g)
	s, _ := tr.create(g, "glenda", "s", 0664)
	data := strings.Repeat("x", 4096)
	total := 256 << 20
	if os.Getenv("SUKEEP") != "" {
		total = 1 << 30
	}
	for range total / 4096 {
		g.q.logNext, _ = tr.log.logWrite(s, "glenda", data, 1)
		g.q.write(s.sq, "s", data, nil)
		if len(tr.log.buf) > 1<<20 {
			tr.log.commit()
			tr.log.mu.Lock()
			tr.log.writeOut(nil)
		}
	}
	tr.mu.Unlock()
	tr.log.close()
	b.SetBytes(256 << 20)
	b.ResetTimer()
	for range b.N {
		t2 := newTree("glenda", nil, 1<<30)
		if _, err := openLog(dir, false, t2, io.Discard); err != nil {
			b.Fatal(err)
		}
		t2.log.close()
	}
}

// counting counts a segment's syncs, and how many are in flight at once.
type counting struct {
	logFile
	mu                   *sync.Mutex
	syncs, inflight, max *int
}

func (f counting) Sync() error {
	f.mu.Lock()
	*f.syncs++
	*f.inflight++
	*f.max = max(*f.max, *f.inflight)
	f.mu.Unlock()
	time.Sleep(time.Millisecond) // a slow disk, so that writes pile up
	err := f.logFile.Sync()
	f.mu.Lock()
	*f.inflight--
	f.mu.Unlock()
	return err
}

// SPEC §11.3: with -S, writes that arrive while a sync is under way
// share the next one; there is never more than one sync in flight.
func TestGroupCommit(t *testing.T) {
	var mu sync.Mutex
	var syncs, inflight, most int
	wrapLogFile = func(f logFile) logFile { return counting{f, &mu, &syncs, &inflight, &most} }
	defer func() { wrapLogFile = nil }()
	x := openLogged(t, t.TempDir(), true)
	defer x.close()
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs := x.dial()
			f, err := fs.Create(fmt.Sprintf("g/s%d", i), plan9.OWRITE, 0664)
			if err != nil {
				t.Error(err)
				return
			}
			for j := range each {
				if _, err := f.Write([]byte(fmt.Sprint(j))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if most != 1 {
		t.Errorf("%d syncs in flight at once, want 1", most)
	}
	t.Logf("%d writes, %d syncs", writers*each, syncs)
}

// SPEC §11.4: what leaves the history leaves the disk: under a
// firehose into a group with a depth, old segments go as their
// messages do, and dir stays near the retained bytes; a restart
// brings back the same history.
func TestDiskFollowsMemory(t *testing.T) {
	old := segMax
	segMax = 4096
	defer func() { segMax = old }()
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all\ndepth 50")
	w := newNumberedWriter(t, fs, 100)
	most := int64(0)
	for i := range 5000 {
		must(t, w.write("g/s", i))
		if i%100 == 99 {
			x.tree.log.maintain(x.tree)
			x.tree.log.settle()
			most = max(most, dirSize(t, dir))
		}
	}
	x.tree.mu.Lock()
	retained := x.tree.root.byName["g"].q.bytes
	x.tree.mu.Unlock()
	limit := 2*retained + 8*segMax // the active segment, and those not yet known dead
	if most > limit {
		t.Errorf("dir reached %d bytes, retained %d: want at most %d", most, retained, limit)
	}
	x.tree.log.mu.Lock()
	carried := x.tree.log.carriedN
	x.tree.log.mu.Unlock()
	t.Logf("5000 writes of 105 bytes, depth 50: retained %d bytes, dir at most %d bytes, %d bytes carried forward", retained, most, carried)
	before := x.dump()
	x.close()
	y := openLogged(t, dir, false)
	if diff := cmp.Diff(before, y.dump()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	y.close()
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	for _, f := range segFiles(t, dir) {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// SPEC §11.3, §2: stopping mq after a write to the log failed does not
// wait for the disk: close returns, and the log takes no more changes.
func TestCloseAfterWriteError(t *testing.T) {
	_, writeErr := injectFailures(t)
	x := openLogged(t, t.TempDir(), false)
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	f, err := fs.Create("g/s", plan9.OWRITE, 0664)
	must(t, err)
	l := x.tree.log
	writeErr.set(syscall.EIO)
	go f.Write([]byte("never written")) // its reply waits for the disk
	for failed := false; !failed; waitABit() {
		l.mu.Lock()
		failed = l.err != nil
		l.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { x.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a hang, not a speed check
		t.Fatal("close after a write error still blocked")
	}

	// Connections are served while mq exits: a change arriving after
	// the log closed is refused, not appended after the dir is let go.
	writeErr.set(nil)
	y := openLogged(t, t.TempDir(), false)
	y.close()
	y.tree.mu.Lock()
	err = y.tree.log.room(1)
	y.tree.mu.Unlock()
	if err == nil {
		t.Errorf("the log takes changes once closed")
	}
}

// gated holds a segment's syncs while its gate is locked.
type gated struct {
	logFile
	gate *sync.RWMutex
}

func (f gated) Sync() error {
	f.gate.RLock()
	defer f.gate.RUnlock()
	return f.logFile.Sync()
}

// SPEC §8.1: a Tversion mid-session aborts pending requests, which get
// no reply after the Rversion; with -r that includes a reply the log
// still holds (§11.3).
func TestVersionAfterHeldReply(t *testing.T) {
	var gate sync.RWMutex
	wrapLogFile = func(f logFile) logFile { return gated{f, &gate} }
	defer func() { wrapLogFile = nil }()
	x := openLogged(t, t.TempDir(), true)
	defer x.close()
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	writeAll(t, fs, "g/s", "one")

	cli, end := net.Pipe()
	defer cli.Close()
	go x.srv.serve(end, 3)
	in := make(chan *plan9.Fcall, 16)
	go func() {
		for {
			f, err := plan9.ReadFcall(cli)
			if err != nil {
				close(in)
				return
			}
			in <- f
		}
	}()
	send := func(f *plan9.Fcall) { must(t, plan9.WriteFcall(cli, f)) }
	recv := func() *plan9.Fcall {
		f, ok := <-in
		if !ok {
			t.Fatal("connection closed")
		}
		return f
	}
	send(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"})
	recv()
	send(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"})
	recv()
	send(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"g", "s"}})
	recv()
	send(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.OWRITE})
	if f := recv(); f.Type != plan9.Ropen {
		t.Fatalf("open: %v", f)
	}

	l := x.tree.log
	nheld := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.held)
	}
	// Another connection's write starts a sync, which waits at the
	// gate: a connection that starts a sync itself reads no more
	// requests until it ends, but this one goes on reading while its
	// reply waits for the next.
	other, err := fs.Open("g/s", plan9.OWRITE)
	must(t, err)
	defer other.Close()
	gate.Lock() // the next sync waits
	otherDone := make(chan error, 1)
	go func() {
		_, err := other.Write([]byte("other"))
		otherDone <- err
	}()
	writing := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.writing
	}
	for !writing() {
		waitABit()
	}
	send(&plan9.Fcall{Type: plan9.Twrite, Tag: 5, Fid: 1, Data: []byte("two")})
	for nheld() < 2 {
		waitABit()
	}
	send(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"})
	var before []*plan9.Fcall
	gotVersion := make(chan struct{})
	go func() {
		defer close(gotVersion)
		for f := range in {
			if f.Type == plan9.Rversion {
				return
			}
			before = append(before, f)
		}
	}()
	// Once the Rversion has left, or is held too, let the held reply go.
	for wait := true; wait; {
		select {
		case <-gotVersion:
			wait = false
		default:
			wait = nheld() < 3
			waitABit()
		}
	}
	gate.Unlock()
	<-gotVersion
	must(t, <-otherDone)
	for nheld() > 0 {
		waitABit()
	}
	// The new session reuses tag 5: its first reply is Rattach.
	send(&plan9.Fcall{Type: plan9.Tattach, Tag: 5, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"})
	if f := recv(); f.Type != plan9.Rattach {
		t.Errorf("after Rversion, got %v, want Rattach (replies before it: %v)", f, before)
	}
}

// SPEC §11.2, §11.3: the Rwrite to a stream of a replay off group
// leaves only once the record of the write is in the files, so that a
// kill -9 right after it does not take the stream's qid.vers back.
func TestReplayOffWriteLogged(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	defer x.close()
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay off")
	writeAll(t, fs, "g/s", "one", "two", "three")
	vers := func(fs *client.Fsys) uint32 {
		d, err := fs.Stat("g/s")
		must(t, err)
		return d.Qid.Vers
	}
	want := vers(fs)

	// What a kill -9 now would leave: the files as they are.
	copyDir := t.TempDir()
	for _, f := range segFiles(t, dir) {
		b, err := os.ReadFile(f)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(copyDir, filepath.Base(f)), b, 0600))
	}
	y := openLogged(t, copyDir, false)
	defer y.close()
	if got := vers(y.dial()); got != want {
		t.Errorf("after kill -9, g/s qid.vers is %d, want %d", got, want)
	}
}

// SPEC §3.6, §8.4: Unix's > (a wstat of length 0) and Plan 9's OTRUNC
// on a stream change nothing, so a full disk does not fail them.
func TestTruncFullDisk(t *testing.T) {
	reserveErr, _ := injectFailures(t)
	old := reserveChunk
	reserveChunk = 1
	defer func() { reserveChunk = old }()
	x := openLogged(t, t.TempDir(), false)
	defer x.close()
	fs := x.dial()
	mkdir(t, fs, "g")
	writeAll(t, fs, "g/s", "kept")
	before := x.dump()
	reserveErr.set(syscall.ENOSPC)
	l := x.tree.log
	l.mu.Lock()
	l.resEnd = l.pos // the room reserved so far is used up
	l.mu.Unlock()

	var d plan9.Dir
	d.Null()
	d.Length = 0
	if err := fs.Wstat("g/s", &d); err != nil {
		t.Errorf("wstat length 0 on a full disk: %v", err)
	}
	f, err := fs.Open("g/s", plan9.OWRITE|plan9.OTRUNC)
	if err != nil {
		t.Errorf("open OTRUNC on a full disk: %v", err)
	} else {
		f.Close()
	}
	if diff := cmp.Diff(before, x.dump()); diff != "" {
		t.Errorf("> changed the tree (-before +after):\n%s", diff)
	}
}

// SPEC §7.2, §11.1: a restart with a -M smaller than the history it
// reads back neither runs over the cap nor drops acknowledged messages:
// it refuses to start, naming the figures, and changes no file.
func TestRestartSmallerCap(t *testing.T) {
	dir := t.TempDir()
	someHistory(t, dir, false) // "one", "two", "three": 11 bytes
	before := dirBytes(t, dir)
	_, err := openLog(dir, false, newTree("glenda", nil, 5), io.Discard)
	want := fmt.Sprintf("%s: the history holds 11 bytes of messages, more than -M 5 allows", dir)
	if err == nil || err.Error() != want {
		t.Errorf("restart with -M 5: got %v, want %q", err, want)
	}
	if diff := cmp.Diff(before, dirBytes(t, dir)); diff != "" {
		t.Errorf("the log was changed (-before +after):\n%s", diff)
	}
	l, err := openLog(dir, false, newTree("glenda", nil, 11), io.Discard)
	if err != nil {
		t.Fatalf("restart with -M 11: %v", err)
	}
	l.close()
}

// SPEC §11.4: a few old messages that stay in the history (a group
// with replay all that is seldom written, a quiet stream under replay
// last) keep every segment of a firehose alive; they are carried
// forward so that the segments go. The files in dir stay within twice
// the retained bytes plus diskAllowance at every moment the test can
// see: after each write, and before segments are removed (when the
// carried records and the segments they replace are both there). The
// history comes back the same after a restart.
func TestDiskBoundPinned(t *testing.T) {
	setFor(t, &segMax, 16<<10)
	setFor(t, &slack, 32<<10)
	msg := strings.Repeat("m", 995)
	tests := []struct {
		name  string
		setup func(t *testing.T, fs *client.Fsys)
		write func(i int) (stream string)
	}{
		{
			// One message in 50 goes to a group that keeps all; the
			// rest to a group with a depth.
			name: "replay all, depth",
			setup: func(t *testing.T, fs *client.Fsys) {
				mkdir(t, fs, "pin")
				ctlWrite(t, fs, "pin", "replay all")
				mkdir(t, fs, "fire")
				ctlWrite(t, fs, "fire", "replay all\ndepth 20")
			},
			write: func(i int) string {
				if i%50 == 0 {
					return "pin/s"
				}
				return "fire/s"
			},
		},
		{
			// The newest message of each stream stays: the quiet ones'
			// are old.
			name: "replay last",
			setup: func(t *testing.T, fs *client.Fsys) {
				mkdir(t, fs, "g")
				ctlWrite(t, fs, "g", "replay last")
			},
			write: func(i int) string {
				if i < 60 {
					return fmt.Sprintf("g/quiet%d", i)
				}
				return "g/busy"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var x *logged
			var mu sync.Mutex
			var most, over int64 // the most dir held, and beyond twice the retained bytes
			sample := func() {
				size := dirTotal(t, dir)
				bound := 2*x.retained() + diskAllowance()
				mu.Lock()
				most = max(most, size)
				over = max(over, size-(bound-diskAllowance()))
				mu.Unlock()
			}
			// A kill just before segments are removed leaves them
			// and what replaced them: the first few such moments are
			// copied, to be read back after.
			type copied struct{ dir, dump string }
			var kills []copied
			quiet := false // no request is under way
			beforeRemove = func() {
				sample()
				mu.Lock()
				defer mu.Unlock()
				if quiet && len(kills) < 5 {
					kills = append(kills, copied{copyDir(t, dir), x.dump()})
				}
			}
			defer func() { beforeRemove = nil }()
			x = openLogged(t, dir, false)
			fs := x.dial()
			tt.setup(t, fs)
			w := newNumberedWriter(t, fs, len(msg))
			const n = 3000
			for i := range n {
				mu.Lock()
				quiet = false
				mu.Unlock()
				must(t, w.write(tt.write(i), i))
				mu.Lock()
				quiet = true
				mu.Unlock()
				sample()
				x.maintain(sample)
			}
			l := x.tree.log
			l.mu.Lock()
			written, carried := l.end, l.carriedN
			l.mu.Unlock()
			mu.Lock()
			if over > diskAllowance() {
				t.Errorf("dir went %d bytes beyond twice the retained bytes, more than %d", over, diskAllowance())
			}
			mu.Unlock()
			payload := int64(n * (5 + len(msg)))
			t.Logf("%d writes of %d bytes: retained %d bytes at the end, dir at most %d, at most %d beyond twice the retained (allowance %d); log written %d bytes (%.2f per byte of payload), %d of them carried forward",
				n, 5+len(msg), x.retained(), most, over, diskAllowance(), written, float64(written)/float64(payload), carried)
			before := x.dump()
			x.close()
			beforeRemove = nil
			y := openLogged(t, dir, false)
			if diff := cmp.Diff(before, y.dump()); diff != "" {
				t.Errorf("after restart (-want +got):\n%s", diff)
			}
			if y.warn.Len() > 0 {
				t.Errorf("restart said %q", y.warn.String())
			}
			y.close()
			for i, k := range kills {
				y := openLogged(t, k.dir, false)
				if diff := cmp.Diff(k.dump, y.dump()); diff != "" {
					t.Errorf("copy %d, after restart (-want +got):\n%s", i, diff)
				}
				if y.warn.Len() > 0 {
					t.Errorf("copy %d: restart said %q", i, y.warn.String())
				}
				y.close()
			}
			if len(kills) == 0 {
				t.Error("no segment was removed")
			}
		})
	}
}

// maintain does what the log's goroutine does when poked, until it
// has nothing more to do, calling sample after each step.
func (x *logged) maintain(sample func()) {
	l := x.tree.log
	for range 10000 {
		l.settle()
		l.waitSpare()
		l.mu.Lock()
		before, segs, end := l.carriedN, l.segs[0].num, l.end
		l.stable = len(l.buf)
		l.mu.Unlock()
		l.waitWritten(end) // as run writes the log out first
		l.maintain(x.tree)
		l.settle()
		sample()
		l.mu.Lock()
		done := !l.compact || l.carriedN == before && l.segs[0].num == segs && l.deleting == 0
		l.mu.Unlock()
		if done {
			return
		}
	}
	x.t.Fatal("the log keeps compacting")
}

// turn starts a new segment, with its checkpoint, as the log does
// every segMax bytes; with carry, it carries into it the messages still
// live in the oldest segments, as the log does when it outweighs the
// live state (maintain deletes those segments once they are dead).
func (x *logged) turn(carry bool) {
	l := x.tree.log
	for {
		l.settle()
		l.waitSpare()
		l.mu.Lock()
		end := l.end
		l.stable = len(l.buf)
		l.mu.Unlock()
		l.waitWritten(end) // the switch before this one is done
		x.tree.mu.Lock()
		l.mu.Lock()
		ok := l.newFile == nil && l.err == nil && l.startSegment(x.tree)
		if ok && carry {
			l.carry(l.resEnd - l.pos - xRoom)
		}
		l.mu.Unlock()
		x.tree.mu.Unlock()
		if ok {
			return
		}
	}
}

// carryAll turns the log, carrying messages forward, until every
// segment there was when it was called has been deleted.
func (x *logged) carryAll() {
	l := x.tree.log
	l.mu.Lock()
	first := l.nextSeg
	l.mu.Unlock()
	for range 10000 {
		l.settle()
		l.mu.Lock()
		done := l.segs[0].num >= first
		l.mu.Unlock()
		if done {
			return
		}
		x.turn(true)
		l.maintain(x.tree)
	}
	x.t.Fatal("the old segments stay")
}

// waitSpare waits until run has made the next segment ahead.
func (l *dlog) waitSpare() {
	for {
		l.mu.Lock()
		ok := l.next != nil && l.nextNum == l.nextSeg
		l.mu.Unlock()
		if ok {
			return
		}
		l.poke()
		waitABit()
	}
}

// retained is what SPEC §11.4 bounds the log by: every message's data
// with diskOverhead bytes, and the tree's records.
func (x *logged) retained() int64 {
	x.tree.mu.Lock()
	defer x.tree.mu.Unlock()
	var n int64
	var walk func(g *node)
	walk = func(g *node) {
		n += int64(nodeSize(g))
		for m := g.q.head; m != nil; m = m.gnext {
			n += int64(len(m.data)) + diskOverhead
		}
		for _, c := range g.children {
			if c.kind == kGroup {
				walk(c)
			} else {
				n += int64(nodeSize(c))
			}
		}
	}
	walk(x.tree.root)
	return n
}

// dirTotal is the size of every file in dir.
func dirTotal(t *testing.T, dir string) int64 {
	ents, err := os.ReadDir(dir)
	must(t, err)
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// copyDir copies the files of dir into a new directory.
func copyDir(t *testing.T, dir string) string {
	to := t.TempDir()
	ents, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if os.IsNotExist(err) {
			continue
		}
		must(t, err)
		must(t, os.WriteFile(filepath.Join(to, e.Name()), b, 0600))
	}
	return to
}

// SPEC §11.5: the next segment is made ahead, with only its header; a
// kill leaves it, whole or cut short. A restart knows it for what it is
// (a segment with no record after the last with one), removes it
// without a word, and loses nothing.
func TestSpareAfterKill(t *testing.T) {
	for _, tt := range []struct {
		name string
		keep int // bytes of the spare left
	}{
		{"whole", logHdrLen},
		{"header cut short", 5},
		{"header cut in its number", 12},
		{"empty", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			x := openLogged(t, dir, false)
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", "replay all")
			writeAll(t, fs, "g/s", "one", "two", "three")
			l := x.tree.log
			l.waitSpare()
			l.mu.Lock()
			spare := segName(l.nextNum)
			l.mu.Unlock()
			want := x.dump()
			killed := copyDir(t, dir) // what a kill now leaves
			x.close()

			b, err := os.ReadFile(filepath.Join(killed, spare))
			if err != nil || len(b) != logHdrLen {
				t.Fatalf("the spare %s: %d bytes, %v", spare, len(b), err)
			}
			must(t, os.WriteFile(filepath.Join(killed, spare), b[:tt.keep], 0600))
			y := reopen(t, killed, want, "after restart")
			writeAll(t, y.dial(), "g/s", "four")
			want = y.dump()
			y.close()
			z := reopen(t, killed, want, "after a second restart")
			z.close()
		})
	}
}

// slowNew is a segment whose room is reserved only once gate closes:
// a file system slow to make a new segment.
type slowNew struct {
	logFile
	gate chan struct{}
}

func (f slowNew) Reserve(off, n int64) error {
	<-f.gate
	return f.logFile.Reserve(off, n)
}

// Project rule (no lock held across I/O), SPEC §11.3: the next segment
// is made ahead, file, header and reserved room, by the log's own
// goroutine with no lock held; turning to it only switches pointers.
// While the making of a new segment is stuck, requests go on (the
// segment being written grows past segMax meanwhile).
func TestNewSegmentOutsideLock(t *testing.T) {
	setFor(t, &segMax, 4096)
	setFor(t, &reserveChunk, 1<<16)
	gate := make(chan struct{})
	var mu sync.Mutex
	made := 0
	wrapLogFile = func(f logFile) logFile {
		mu.Lock()
		defer mu.Unlock()
		if made++; made == 1 {
			return f // the first segment
		}
		return slowNew{f, gate}
	}
	defer func() { wrapLogFile = nil }()
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	msgs := make([]string, 100)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("%03d%s", i, strings.Repeat("x", 200))
	}
	f, err := fs.Create("g/s", plan9.OWRITE, 0664)
	must(t, err)
	done := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if _, err := f.Write([]byte(m)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(time.Minute): // a deadlock, not a speed
		close(gate)
		t.Fatal("requests waited for a new segment to be made")
	}
	f.Close()
	close(gate)
	l := x.tree.log
	for {
		l.mu.Lock()
		n := len(l.segs)
		l.mu.Unlock()
		if n > 1 {
			break
		}
		l.poke()
		waitABit()
	}
	writeAll(t, fs, "g/s", "after")
	want := x.dump()
	x.close()
	y := reopen(t, dir, want, "after restart")
	y.close()
}

// SPEC §11.2: a message that left the middle of a group's history (a
// stream's older message under replay last) stays gone after a
// restart, also when it was written after the replay had to look up
// one deep in the history before.
func TestRestartDropDeep(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay last")
	files := make([]*client.Fid, 100)
	for i := range files {
		f, err := fs.Create(fmt.Sprintf("g/s%02d", i), plan9.OWRITE, 0664)
		must(t, err)
		files[i] = f
	}
	write := func(i int, m string) {
		_, err := files[i].Write([]byte(m))
		must(t, err)
	}
	for i := range files {
		write(i, fmt.Sprintf("first %d", i))
	}
	write(99, "second 99") // drops "first 99", far from the head
	write(98, "second 98") // written after that drop
	write(98, "third 98")  // drops "second 98"
	want := x.dump()
	x.close()
	y := openLogged(t, dir, false)
	if diff := cmp.Diff(want, y.dump()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	y.close()
}

// SPEC §11.3: room for a new segment is reserved when the spare is
// made, by the log's goroutine. When the disk was full then, the log
// does not start it, as its checkpoint would have no room: changes go
// on in the segment being appended to while it has room, and then
// fail with the system's error, changing nothing.
func TestDiskFullAtNewSegment(t *testing.T) {
	reserveErr, _ := injectFailures(t)
	setFor(t, &segMax, 4096)
	setFor(t, &reserveChunk, 64<<10)
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	f, err := fs.Create("g/s", plan9.OWRITE, 0664)
	must(t, err)
	l := x.tree.log
	l.waitSpare()
	reserveErr.set(syscall.ENOSPC)
	l.dropSpare() // made again, on a full disk
	l.waitSpare()
	l.mu.Lock()
	res := l.nextRes
	l.mu.Unlock()
	if res != 0 {
		t.Fatalf("spare made on a full disk has %d bytes reserved", res)
	}
	var kept []string
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("1000 writes on a full disk, and none failed")
		}
		before := x.dump()
		m := fmt.Sprintf("%04d%s", i, strings.Repeat("m", 200))
		_, err := f.Write([]byte(m))
		if err == nil {
			kept = append(kept, m)
			continue
		}
		if err.Error() != "no space left on device" {
			t.Fatalf("write %d: %v, want no space left on device", i, err)
		}
		if diff := cmp.Diff(before, x.dump()); diff != "" {
			t.Errorf("a write refused on a full disk changed the tree (-before +after):\n%s", diff)
		}
		l.mu.Lock()
		n := len(l.segs)
		l.mu.Unlock()
		if n != 1 {
			t.Errorf("write %d failed with %d segments, want the log still in the first: the spare has no room", i, n)
		}
		break
	}
	reserveErr.set(nil)
	_, err = f.Write([]byte("after"))
	must(t, err)
	kept = append(kept, "after")
	want := x.dump()
	x.close()
	y := reopen(t, dir, want, "after restart")
	y.tree.mu.Lock()
	var got []string
	for m := y.tree.root.byName["g"].q.head; m != nil; m = m.gnext {
		got = append(got, m.data)
	}
	y.tree.mu.Unlock()
	if diff := cmp.Diff(kept, got); diff != "" {
		t.Errorf("history after restart (-want +got):\n%s", diff)
	}
	y.close()
}

// gatedWrites holds a segment's writes while its gate is locked.
type gatedWrites struct {
	logFile
	gate *sync.RWMutex
}

func (f gatedWrites) WriteAt(b []byte, off int64) (int, error) {
	f.gate.RLock()
	defer f.gate.RUnlock()
	return f.logFile.WriteAt(b, off)
}

// SPEC §8.6, §11.3: an Rflush follows the reply to a write made before
// it, which waits for the log with the connection's other replies:
// when they are handled together, and when another connection is
// writing the log and the replies wait for it in the log.
func TestFlushAfterLoggedReply(t *testing.T) {
	for _, tc := range []struct {
		name, cfg string
		behind    bool // another connection is writing the log
	}{
		{"replay all", "replay all", false},
		{"replay off", "replay off", false},
		{"replay all, behind a write", "replay all", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gate sync.RWMutex
			wrapLogFile = func(f logFile) logFile { return gatedWrites{f, &gate} }
			defer func() { wrapLogFile = nil }()
			x := openLogged(t, t.TempDir(), false)
			defer x.close()
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", tc.cfg)
			writeAll(t, fs, "g/s", "one")

			cli, end := net.Pipe()
			defer cli.Close()
			go x.srv.serve(end, 3)
			rpc := func(f *plan9.Fcall) {
				must(t, plan9.WriteFcall(cli, f))
				r, err := plan9.ReadFcall(cli)
				must(t, err)
				if r.Type != f.Type+1 {
					t.Fatalf("%v: got %v", f, r)
				}
			}
			rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8192, Version: "9P2000"})
			rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"})
			rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"g", "s"}})
			rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.OWRITE})
			send := func(fs ...*plan9.Fcall) {
				var b []byte
				for _, f := range fs {
					m, err := f.Bytes()
					must(t, err)
					b = append(b, m...)
				}
				go cli.Write(b) // in one write: handled together
			}
			l := x.tree.log
			state := func() (bool, int) {
				l.mu.Lock()
				defer l.mu.Unlock()
				return l.writing, len(l.held)
			}
			want := []string{"Rwrite tag 6", "Rflush tag 7"}
			otherDone := make(chan error, 1)
			if tc.behind {
				other, err := fs.Open("g/s", plan9.OWRITE)
				must(t, err)
				defer other.Close()
				gate.Lock()
				go func() {
					_, err := other.Write([]byte("other"))
					otherDone <- err
				}()
				for w, _ := state(); !w; w, _ = state() {
					waitABit()
				}
				send(&plan9.Fcall{Type: plan9.Twrite, Tag: 5, Fid: 1, Data: []byte("two")})
				for _, n := state(); n < 1; _, n = state() {
					waitABit()
				}
				want = append([]string{"Rwrite tag 5"}, want...)
			} else {
				otherDone <- nil
			}
			send(&plan9.Fcall{Type: plan9.Twrite, Tag: 6, Fid: 1, Data: []byte("three")},
				&plan9.Fcall{Type: plan9.Tflush, Tag: 7, Oldtag: 6})
			if tc.behind {
				for _, n := state(); n < 3; _, n = state() {
					waitABit()
				}
				gate.Unlock()
			}
			var got []string
			for range want {
				r, err := plan9.ReadFcall(cli)
				must(t, err)
				name := map[uint8]string{plan9.Rwrite: "Rwrite", plan9.Rflush: "Rflush"}[r.Type]
				got = append(got, fmt.Sprintf("%s tag %d", name, r.Tag))
			}
			must(t, <-otherDone)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("replies (-want +got):\n%s", diff)
			}
		})
	}
}

// SPEC §11.5, §11.2: messages carried forward out of segments since
// deleted come back into the middle of the history, before those of
// the older segments still there. A restart puts each in place in a
// few steps from the one before it, not by a walk from the head of the
// group and of the stream: the links followed stay linear in the
// messages read back, and the history is the same.
func TestRestoreCarriedLinear(t *testing.T) {
	setFor(t, &segMax, 16<<10)
	setFor(t, &slack, 32<<10)
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "pin")
	ctlWrite(t, fs, "pin", "replay all")
	mkdir(t, fs, "fire")
	ctlWrite(t, fs, "fire", "replay all\ndepth 1")
	var pins [2]*client.Fid
	for i := range pins {
		f, err := fs.Create(fmt.Sprintf("pin/s%d", i), plan9.OWRITE, 0664)
		must(t, err)
		pins[i] = f
	}
	fire, err := fs.Create("fire/s", plan9.OWRITE, 0664)
	must(t, err)
	big := strings.Repeat("m", 4000)
	k := 0
	for range 300 {
		_, err := fire.Write([]byte(big))
		must(t, err)
		for range 40 {
			_, err := pins[k%3%2].Write([]byte(fmt.Sprintf("%08d", k)))
			must(t, err)
			k++
		}
		x.tree.log.maintain(x.tree)
		x.tree.log.settle()
	}
	l := x.tree.log
	l.mu.Lock()
	first, carried := l.segs[0].num, l.carriedN
	l.mu.Unlock()
	if first == 1 || carried == 0 {
		t.Fatalf("first segment %d, %d bytes carried: want segments deleted and messages carried", first, carried)
	}
	before := x.dump()
	x.close()
	y := openLogged(t, dir, false)
	defer y.close()
	if diff := cmp.Diff(before, y.dump()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	steps := y.tree.log.restoreSteps
	t.Logf("%d messages, first segment %d, %d bytes carried: %d steps to restore", k, first, carried, steps)
	if steps > 4*k {
		t.Errorf("%d steps to restore %d messages: want at most %d", steps, k, 4*k)
	}
}

// SPEC §11.5, §11.4: segments are deleted strictly in order. While the
// removal of one is held up, the later ones wait behind it, still
// counted in what the log takes; a kill at that moment leaves no gap,
// and the restart removes, without a word, the segments an X record
// gave up.
func TestDeleteInOrder(t *testing.T) {
	setFor(t, &segMax, 4096)
	setFor(t, &slack, 8192)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	beforeRemove = func() {
		first := false
		once.Do(func() { first = true })
		if first {
			close(held)
			<-release
		}
	}
	defer func() { beforeRemove = nil }()
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "fire")
	ctlWrite(t, fs, "fire", "replay all\ndepth 1")
	w := newNumberedWriter(t, fs, 500)
	write := func(i int) {
		t.Helper()
		must(t, w.write("fire/s", i))
	}
	i := 0
	for ; ; i++ {
		if i == 5000 {
			t.Fatal("no segment was deleted")
		}
		write(i)
		select {
		case <-held:
		default:
			continue
		}
		break
	}
	// The first removal is held: the log goes on turning.
	l := x.tree.log
	for pending := 0; pending < 3; i++ {
		write(i)
		l.mu.Lock()
		pending = len(l.dels)
		l.mu.Unlock()
	}
	l.mu.Lock()
	lastGone := l.dels[len(l.dels)-1].seg.num
	l.mu.Unlock()
	// No reply waits for an X record: this write's does, and the log
	// is written in order, so the X records before it are in the files.
	write(i)
	i++
	l.mu.Lock()
	disk, stable := l.disk, l.stable
	l.mu.Unlock()
	want := x.dump()
	killed := copyDir(t, dir)
	synced := copyDir(t, killed)
	if total := dirTotal(t, killed); total > disk+logHdrLen+int64(len(endMark)) {
		t.Errorf("dir holds %d bytes, the log counts %d (%d not yet written)", total, disk, stable)
	}
	y := openLogged(t, killed, false)
	if diff := cmp.Diff(want, y.dump()); diff != "" {
		t.Errorf("after a kill with deletions pending (-want +got):\n%s", diff)
	}
	if y.warn.Len() > 0 {
		t.Errorf("restart said %q", y.warn.String())
	}
	y.close()
	if segs := segFiles(t, killed); len(segs) == 0 || filepath.Base(segs[0]) <= segName(lastGone) {
		t.Errorf("after restart, segments %v; want none up to %s, given up by an X record", segs, segName(lastGone))
	}

	// With -S, each of them goes with its name synced before the next
	// goes: a power cut never leaves a gap, which a restart refuses.
	given := func() int {
		n := 0
		for _, s := range segFiles(t, synced) {
			if filepath.Base(s) <= segName(lastGone) {
				n++
			}
		}
		return n
	}
	var mu sync.Mutex
	var left []int // segments given up still there at each sync of the dir
	dirSynced = func(d string) {
		if d == synced {
			mu.Lock()
			left = append(left, given())
			mu.Unlock()
		}
	}
	n := given()
	s := openLogged(t, synced, true)
	s.close()
	dirSynced = nil
	var wantLeft []int
	for k := n - 1; k >= 0; k-- {
		wantLeft = append(wantLeft, k)
	}
	if n < 2 {
		t.Errorf("%d segments given up left by the kill; want 2 or more", n)
	} else if diff := cmp.Diff(wantLeft, left[:min(len(left), len(wantLeft))]); diff != "" {
		t.Errorf("with -S, segments given up left at each sync of the dir at restart (-want +got):\n%s", diff)
	}

	close(release)
	l.settle()
	write(i)
	want = x.dump()
	x.close()
	z := openLogged(t, dir, false)
	defer z.close()
	if diff := cmp.Diff(want, z.dump()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}

// SPEC §11.5: a crash can tear the newest segment in its checkpoint,
// its first records. Cut back, it would hold no checkpoint, and once
// the segments before it were deleted the next restart could not read
// it. Instead it goes, and the log goes on in the one before; the tear
// is still reported once, and later restarts lose nothing.
func TestTornCheckpoint(t *testing.T) {
	for _, tt := range []struct {
		name string
		cut  func(b []byte) int64 // where the newest segment is cut
	}{
		{"in its first record", func([]byte) int64 { return logHdrLen + 5 }},
		{"after its first record", func(b []byte) int64 {
			return logHdrLen + 8 + int64(binary.LittleEndian.Uint32(b[logHdrLen:])) + 3
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setFor(t, &segMax, 4096)
			dir := t.TempDir()
			x := openLogged(t, dir, false)
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", "replay all\ndepth 1")
			w := newNumberedWriter(t, fs, 500)
			for i := 0; ; i++ {
				must(t, w.write("g/s", i))
				l := x.tree.log
				l.mu.Lock()
				n := len(l.segs)
				l.mu.Unlock()
				if n >= 2 {
					break
				}
			}
			x.close()
			segs := recordSegs(t, dir)
			last := segs[len(segs)-1]
			b, err := os.ReadFile(last)
			must(t, err)
			cut := tt.cut(b)
			must(t, os.Truncate(last, cut))

			setFor(t, &slack, 1024) // the log outweighs its live state
			y := openLogged(t, dir, false)
			if got := y.warn.String(); !strings.HasPrefix(got, "mq: "+last+": dropped ") || strings.Count(got, "\n") != 1 {
				t.Errorf("restart said %q, want one note of the torn record in %s", got, last)
			}
			// The spare made at start may take its number: then it holds
			// only a header.
			if st, err := os.Stat(last); !os.IsNotExist(err) && (err != nil || st.Size() > logHdrLen) {
				t.Errorf("%s: still there after the restart (%v)", last, err)
			}
			w = newNumberedWriter(t, y.dial(), 500)
			for i := range 2 {
				must(t, w.write("g/s", i))
			}
			y.maintain(func() {}) // the dead segment before is deleted
			if segs := recordSegs(t, dir); len(segs) != 1 {
				t.Errorf("segments %v, want the one the log went on in", segs)
			}
			want := y.dump()
			y.close()
			z := openLogged(t, dir, false)
			if diff := cmp.Diff(want, z.dump()); diff != "" {
				t.Errorf("second restart (-want +got):\n%s", diff)
			}
			if z.warn.Len() > 0 {
				t.Errorf("second restart said %q", z.warn.String())
			}
			z.close()
		})
	}
}

// capDisk is a file system of cap bytes: a segment takes its size or
// the room reserved in it, whichever is more; cutting it gives back
// the room beyond.
type capDisk struct {
	mu       sync.Mutex
	dir      string
	cap      int64
	reserved map[string]int64
}

func (d *capDisk) used() int64 {
	ents, _ := os.ReadDir(d.dir)
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".log") {
			n += max(fi.Size(), d.reserved[e.Name()])
		}
	}
	return n
}

func (d *capDisk) setCap(n int64) { d.mu.Lock(); d.cap = n; d.mu.Unlock() }

type capFile struct {
	logFile
	d    *capDisk
	name string
}

func (f capFile) size() int64 {
	fi, err := os.Stat(filepath.Join(f.d.dir, f.name))
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (f capFile) Reserve(off, n int64) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	have := max(f.size(), f.d.reserved[f.name])
	if extra := off + n - have; extra > 0 && f.d.used()+extra > f.d.cap {
		return syscall.ENOSPC
	}
	f.d.reserved[f.name] = max(f.d.reserved[f.name], off+n)
	return nil
}

func (f capFile) WriteAt(b []byte, off int64) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	have := max(f.size(), f.d.reserved[f.name])
	if extra := off + int64(len(b)) - have; extra > 0 && f.d.used()+extra > f.d.cap {
		return 0, syscall.ENOSPC
	}
	return f.logFile.WriteAt(b, off)
}

func (f capFile) Truncate(size int64) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	f.d.reserved[f.name] = min(f.d.reserved[f.name], size)
	return f.logFile.Truncate(size)
}

// SPEC §11.3, §11.4: on a full disk, the records the log adds on its
// own (a new segment's checkpoint, messages carried forward, X) go only
// into room already reserved, so they never fail a write and wedge the
// log: changes that do not fit fail with the system's error, and once
// space is back, writes succeed, dead segments are deleted again and a
// restart reads dir back whole. So with room reserved by the file
// system and by writing zeros.
func TestCarryOnFullDisk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		zeros bool
	}{
		{"reserved", false},
		{"zeros", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setFor(t, &segMax, 16<<10)
			setFor(t, &slack, 32<<10)
			setFor(t, &reserveChunk, 16<<10)
			dir := t.TempDir()
			setCap := cappedDisk(t, dir, tc.zeros, 150<<10)
			x := openLogged(t, dir, false)
			fs := x.dial()
			mkdir(t, fs, "pin")
			ctlWrite(t, fs, "pin", "replay all")
			mkdir(t, fs, "fire")
			ctlWrite(t, fs, "fire", "replay all\ndepth 1")
			w := newNumberedWriter(t, fs, 995)
			write := func(i int) error {
				if i%50 == 0 {
					return w.write("pin/s", i)
				}
				return w.write("fire/s", i)
			}
			l := x.tree.log
			failed := 0
			for i := range 4000 {
				if err := write(i); err != nil {
					if err.Error() != "no space left on device" {
						t.Fatalf("write %d: %v", i, err)
					}
					failed++
				}
				x.maintain(func() {})
				l.mu.Lock()
				lerr := l.err
				l.mu.Unlock()
				if lerr != nil {
					t.Fatalf("write %d: a write of the log failed (%v); want changes refused before they are made", i, lerr)
				}
			}
			if failed == 0 {
				t.Error("the disk never filled")
			}
			t.Logf("%d of 4000 writes failed on a full disk", failed)

			setCap(1 << 40)
			for i := range 400 {
				must(t, write(5000+i))
			}
			x.maintain(func() {})
			if total, bound := dirTotal(t, dir), 2*x.retained()+diskAllowance(); total > bound {
				t.Errorf("dir holds %d bytes, more than %d", total, bound)
			}
			want := x.dump()
			x.close()
			wrapLogFile = nil
			y := reopen(t, dir, want, "after restart")
			defer y.close()
		})
	}
}

// SPEC §11.4: a stream's messages leave the disk when it is removed,
// with no other change to follow: the removal itself makes the log due
// to free their segments, as a clear or a lower depth does.
func TestRemoveStreamFrees(t *testing.T) {
	old := segMax
	segMax = 64 << 10
	defer func() { segMax = old }()
	for _, tc := range []struct {
		name   string
		remove func(fs *client.Fsys) error
	}{
		{"rm", func(fs *client.Fsys) error { return fs.Remove("g/s") }},
		{"ORCLOSE", func(fs *client.Fsys) error {
			f, err := fs.Open("g/s", plan9.OREAD|plan9.ORCLOSE)
			if err != nil {
				return err
			}
			return f.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := openLogged(t, dir, false)
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", "replay all")
			w := newNumberedWriter(t, fs, 4000)
			for i := range int(2*slack/4000) + 100 {
				must(t, w.write("g/s", i))
			}
			l := x.tree.log
			l.mu.Lock()
			before := l.compact
			l.mu.Unlock()
			if before {
				t.Fatal("the log is due to compact while all it holds is live")
			}
			must(t, tc.remove(fs))
			l.mu.Lock()
			due := l.compact
			disk, live := l.disk, l.live
			l.mu.Unlock()
			if !due {
				t.Errorf("after the removal, the log holds %d bytes for %d live and is not due to free them", disk, live)
			}
			x.maintain(func() {})
			if got, limit := dirSize(t, dir), 2*live+slack+2*segMax; got > limit {
				t.Errorf("dir holds %d bytes after the removal: want at most %d", got, limit)
			}
			x.close()
		})
	}
}

// SPEC §11.2, §3.4: a group's ctl and order come back with the mtime
// and muid they had (the last write to ctl, the last message), from a
// ctl write's record and from a checkpoint, not the time of the
// restart.
func TestServiceFilesStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  func(x *logged, g *node) // logs g's ctl and order as set
	}{
		{"ctl write", func(x *logged, g *node) {
			x.tree.mu.Lock()
			x.tree.log.configured(g)
			x.tree.mu.Unlock()
		}},
		{"checkpoint", func(x *logged, g *node) { x.carryAll() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := openLogged(t, dir, false)
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", "replay all")
			writeAll(t, fs, "g/s", "one")
			x.tree.mu.Lock()
			g := x.tree.root.byName["g"]
			g.ctl.mtime, g.ctl.muid = 1000, "bob"
			if tc.name == "checkpoint" {
				g.order.mtime, g.order.muid = 2000, "carol"
			}
			want := []string{stat(g.ctl), stat(g.order)}
			x.tree.mu.Unlock()
			tc.log(x, g)
			x.close()
			y := openLogged(t, dir, false)
			y.tree.mu.Lock()
			g = y.tree.root.byName["g"]
			got := []string{stat(g.ctl), stat(g.order)}
			y.tree.mu.Unlock()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after restart (-want +got):\n%s", diff)
			}
			y.close()
		})
	}
}

// stat is n's name, mtime and muid.
func stat(n *node) string { return fmt.Sprintf("%s mtime %d muid %s", n.name, n.mtime, n.muid) }

// SPEC §3.4, §11.2: a group's muid is whoever last made a file in it,
// after a restart as before.
func TestGroupMuidRestart(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	d := plan9.Dir{}
	d.Null()
	d.Mode = plan9.DMDIR | 0777
	must(t, fs.Wstat("g", &d))
	bob := x.dialAs("bob")
	f, err := bob.Create("g/s", plan9.OWRITE, 0664)
	must(t, err)
	f.Close()
	f, err = bob.Create("g/h", plan9.OREAD, plan9.DMDIR|0775)
	must(t, err)
	f.Close()
	want, err := fs.Stat("g")
	must(t, err)
	x.close()
	y := openLogged(t, dir, false)
	got, err := y.dial().Stat("g")
	must(t, err)
	if got.Muid != "bob" || got.Muid != want.Muid {
		t.Errorf("g's muid: %q before the restart, %q after; want bob", want.Muid, got.Muid)
	}
	y.close()
}

// SPEC §3.4, §11.2: whoever removed a file from a group last is its
// muid, after a restart as before.
func TestGroupMuidRemoveRestart(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	d := plan9.Dir{}
	d.Null()
	d.Mode = plan9.DMDIR | 0777
	must(t, fs.Wstat("g", &d))
	f, err := fs.Create("g/s", plan9.OWRITE, 0666)
	must(t, err)
	f.Close()
	carol := x.dialAs("carol")
	must(t, carol.Remove("g/s"))
	want, err := fs.Stat("g")
	must(t, err)
	x.close()
	y := openLogged(t, dir, false)
	got, err := y.dial().Stat("g")
	must(t, err)
	if want.Muid != "carol" || got.Muid != want.Muid || got.Mtime != want.Mtime {
		t.Errorf("g: muid %q mtime %d before the restart, muid %q mtime %d after; want muid carol",
			want.Muid, want.Mtime, got.Muid, got.Mtime)
	}
	y.close()
}

// SPEC §11.5: an R record an older mq wrote, with no muid, is read
// back: the file is removed, the group keeps its mtime from the record
// and its muid from before.
func TestReadRemoveWithoutMuid(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	f, err := fs.Create("g/s", plan9.OWRITE, 0666)
	must(t, err)
	f.Close()
	must(t, fs.Remove("g/s"))
	want, err := fs.Stat("g")
	must(t, err)
	x.close()
	// Cut the muid off the R record, as an older mq wrote it.
	cut := 0
	for _, path := range segFiles(t, dir) {
		b, err := os.ReadFile(path)
		must(t, err)
		seed := segSeed(b)
		out := append([]byte(nil), b[:logHdrLen]...)
		off := logHdrLen
		for off+8 <= len(b) {
			size := int(binary.LittleEndian.Uint32(b[off:]))
			if size == 0 {
				break // room, not a record
			}
			body := append([]byte(nil), b[off+8:off+8+size]...)
			off += 8 + size
			if body[0] == 'R' {
				n := 1
				for range 2 { // path, mtime
					_, k := binary.Uvarint(body[n:])
					n += k
				}
				body = body[:n]
				cut++
			}
			out = append(out, frame(seed, body...)...)
		}
		must(t, os.WriteFile(path, out, 0600))
	}
	if cut != 1 {
		t.Fatalf("found %d R records, want 1", cut)
	}
	y := openLogged(t, dir, false)
	defer y.close()
	if y.warn.Len() > 0 {
		t.Errorf("restart said %q", y.warn.String())
	}
	got, err := y.dial().Stat("g")
	must(t, err)
	if got.Muid != "glenda" || got.Mtime != want.Mtime || got.Qid.Vers != want.Qid.Vers {
		t.Errorf("g after the restart: muid %q mtime %d vers %d; want glenda, %d, %d", got.Muid, got.Mtime, got.Qid.Vers, want.Mtime, want.Qid.Vers)
	}
	if _, err := y.dial().Stat("g/s"); err == nil {
		t.Errorf("g/s is back")
	}
}

// copyQuiet is copyDir taken while the log writes nothing and changes
// no file: what a kill at that moment leaves.
func (x *logged) copyQuiet() string {
	l := x.tree.log
	for {
		l.settle()
		l.mu.Lock()
		if !l.writing && l.deleting == 0 && l.preparing == 0 && l.pool >= 0 {
			to := copyDir(x.t, x.dir)
			l.mu.Unlock()
			return to
		}
		l.mu.Unlock()
		waitABit()
	}
}

// SPEC §11.4, §11.5: a dead segment's file is made the next spare and
// written over. What its older segment left in it is never read back
// (its records do not check in the new segment), and a restart after
// a kill says nothing and loses nothing, nor does one after a clean
// stop.
func TestReuseDeadSegment(t *testing.T) {
	setFor(t, &segMax, 8192)
	setFor(t, &slack, 64<<10)
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all\ndepth 3")
	w := newNumberedWriter(t, fs, 700)
	l := x.tree.log
	// Write until the segment being appended to is a reused file with
	// bytes of its older use after the records.
	stale := func() bool {
		l.mu.Lock()
		num, pos, reused := l.segs[len(l.segs)-1].num, l.pos, l.reusedN
		l.mu.Unlock()
		fi, err := os.Stat(filepath.Join(dir, segName(num)))
		return reused > 0 && err == nil && fi.Size() > pos+int64(len(endMark))+4096
	}
	i := 0
	for ; !stale(); i++ {
		if i == 20000 {
			t.Fatal("no segment was reused")
		}
		must(t, w.write("g/s", i))
	}
	for end := i + 3; i < end; i++ {
		must(t, w.write("g/s", i))
	}
	want := x.dump()
	killed := x.copyQuiet()
	l.mu.Lock()
	last, pos := l.segs[len(l.segs)-1].num, l.pos
	l.mu.Unlock()
	// A kill part way through a write leaves a record cut short with
	// the older use's bytes after it: 100 bytes claimed, 20 written.
	torn := copyDir(t, killed)
	tornSeg := filepath.Join(torn, segName(last))
	f, err := os.OpenFile(tornSeg, os.O_WRONLY, 0)
	must(t, err)
	rec := binary.LittleEndian.AppendUint32(nil, 100)
	rec = binary.LittleEndian.AppendUint32(rec, 0xdeadbeef)
	_, err = f.WriteAt(append(rec, bytes.Repeat([]byte{'x'}, 20)...), pos)
	must(t, err)
	must(t, f.Close())
	for end := i + 50; i < end; i++ {
		must(t, w.write("g/s", i))
	}
	wantClean := x.dump()
	x.close()

	for _, tc := range []struct {
		name, dir, want, warn string
	}{
		{"after a kill", killed, want, ""},
		// The record's 108 bytes are dropped, not the bytes after it.
		{"after a kill part way through a write", torn, want,
			fmt.Sprintf("mq: %s: dropped 108 bytes of a torn record\n", tornSeg)},
		{"after a clean stop", dir, wantClean, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := openLogged(t, tc.dir, false)
			if diff := cmp.Diff(tc.warn, y.warn.String()); diff != "" {
				t.Errorf("restart said (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, y.dump()); diff != "" {
				t.Errorf("after restart (-want +got):\n%s", diff)
			}
			writeAll(t, y.dial(), "g/s", "more")
			want := y.dump()
			y.close()
			z := reopen(t, tc.dir, want, "after a second restart")
			z.close()
		})
	}
}

// SPEC §11.5: segments an older mq wrote ("mq log1": checksums of the
// body alone) are read back, the last is appended to in that format,
// and new segments are mq log2.
func TestReadLog1(t *testing.T) {
	dir := t.TempDir()
	want := someHistory(t, dir, true)
	for _, path := range segFiles(t, dir) {
		b, err := os.ReadFile(path)
		must(t, err)
		copy(b, logMagic1)
		for off := logHdrLen; off < len(b); {
			size := int(binary.LittleEndian.Uint32(b[off:]))
			binary.LittleEndian.PutUint32(b[off+4:], crc32.Checksum(b[off+8:off+8+size], castagnoli))
			off += 8 + size
		}
		must(t, os.WriteFile(path, b, 0600))
	}
	x := reopen(t, dir, want, "read back")
	fs := x.dial()
	writeAll(t, fs, "g/s", "six")
	wantKilled := x.dump()
	killed := x.copyQuiet()
	x.turn(false)
	writeAll(t, fs, "g/s", "seven")
	want = x.dump()
	x.close()
	var magics []string
	for _, path := range segFiles(t, dir) {
		b, err := os.ReadFile(path)
		must(t, err)
		magics = append(magics, string(b[:8]))
	}
	if n := len(magics); n < 2 || magics[n-2] != logMagic1 || magics[n-1] != logMagic {
		t.Errorf("segment formats %q, want the older ones %q, the new one %q", magics, logMagic1, logMagic)
	}
	for _, tc := range []struct{ name, dir, want string }{
		{"after a clean stop", dir, want},
		{"after a kill, the mq log1 segment appended to", killed, wantKilled},
	} {
		y := openLogged(t, tc.dir, false)
		if y.warn.Len() > 0 {
			t.Errorf("%s: restart said %q", tc.name, y.warn.String())
		}
		if diff := cmp.Diff(tc.want, y.dump()); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", tc.name, diff)
		}
		y.close()
	}
}

// SPEC §3.4, §11.2: a stream's muid and its group's order's are the
// last writer's, after a restart as before, with replay all and off.
func TestStreamMuidRestart(t *testing.T) {
	for _, cfg := range []string{"replay all", "replay off"} {
		t.Run(cfg, func(t *testing.T) {
			dir := t.TempDir()
			x := openLogged(t, dir, false)
			fs := x.dial()
			mkdir(t, fs, "g")
			ctlWrite(t, fs, "g", cfg)
			d := plan9.Dir{}
			d.Null()
			d.Mode = plan9.DMDIR | 0777
			must(t, fs.Wstat("g", &d))
			for _, name := range []string{"g/s", "g/t"} {
				f, err := fs.Create(name, plan9.OWRITE, 0666)
				must(t, err)
				_, err = f.Write([]byte("by glenda"))
				must(t, err)
				f.Close()
			}
			bob := x.dialAs("bob")
			writeAll(t, bob, "g/s", "by bob")
			writeAll(t, bob, "g/t", "by bob")
			writeAll(t, fs, "g/t", "by glenda again")
			writeAll(t, bob, "g/s", "by bob again")
			muids := func(fs *client.Fsys) []string {
				var got []string
				for _, name := range []string{"g/s", "g/t", "g/order"} {
					d, err := fs.Stat(name)
					must(t, err)
					got = append(got, name+" "+d.Muid)
				}
				return got
			}
			want := []string{"g/s bob", "g/t glenda", "g/order bob"}
			if diff := cmp.Diff(want, muids(fs)); diff != "" {
				t.Fatalf("before the restart (-want +got):\n%s", diff)
			}
			x.close()
			y := openLogged(t, dir, false)
			defer y.close()
			if diff := cmp.Diff(want, muids(y.dial())); diff != "" {
				t.Errorf("after the restart (-want +got):\n%s", diff)
			}
		})
	}
}

// SPEC §11.2, §11.3: with -S, a dir mq makes, and its first segment,
// have their names on stable storage before anything written in them
// is acknowledged: else a power cut could lose the file whose records
// were synced.
func TestNewDirSynced(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	dirSynced = func(dir string) {
		mu.Lock()
		synced = append(synced, dir)
		mu.Unlock()
	}
	defer func() { dirSynced = nil }()
	parent := t.TempDir()
	dir := filepath.Join(parent, "log")
	x := openLogged(t, dir, true)
	mu.Lock()
	got := slices.Clone(synced[:min(2, len(synced))]) // then run's, for the spare
	mu.Unlock()
	x.close()
	if diff := cmp.Diff([]string{parent, dir}, got); diff != "" {
		t.Errorf("dirs synced before the log was ready (-want +got):\n%s", diff)
	}
}

// SPEC §11.5: in a segment that is not a reused file, bytes after the
// records' end mark were added since mq wrote them: after a kill, in
// the last segment they are a torn tail, cut and reported once; in an
// older one they are damage, refused, and dir is left as it was.
func TestBytesAfterEndMark(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	ctlWrite(t, fs, "g", "replay all")
	writeAll(t, fs, "g/s", "one", "two")
	x.turn(false)
	writeAll(t, fs, "g/s", "three")
	want := x.dump()
	l := x.tree.log
	l.mu.Lock()
	first, last := l.segs[0].num, l.segs[len(l.segs)-1].num
	l.mu.Unlock()
	killed := x.copyQuiet()
	x.close()

	appendTo := func(path string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		must(t, err)
		_, err = f.Write([]byte("GARBAGEXYZ"))
		must(t, err)
		must(t, f.Close())
	}
	older := copyDir(t, killed)
	appendTo(filepath.Join(killed, segName(last)))
	y := openLogged(t, killed, false)
	wantWarn := fmt.Sprintf("mq: %s: dropped 10 bytes of a torn record\n", filepath.Join(killed, segName(last)))
	if diff := cmp.Diff(wantWarn, y.warn.String()); diff != "" {
		t.Errorf("restart with bytes after the last segment's end mark said (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, y.dump()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	y.close()
	z := openLogged(t, killed, false)
	if z.warn.Len() > 0 {
		t.Errorf("second restart said %q", z.warn.String())
	}
	z.close()

	appendTo(filepath.Join(older, segName(first)))
	err := openDamaged(t, older)
	if err == nil || !strings.Contains(err.Error(), segName(first)) {
		t.Errorf("bytes after an older segment's end mark: got %v, want it refused naming %s", err, segName(first))
	}
}

// SPEC §11.2: the root is a group like the others: its mtime, and its
// ctl's and order's, come back after a restart even when nothing was
// ever made in it, after a kill as after a clean stop.
func TestRootRestart(t *testing.T) {
	dir := t.TempDir()
	tr := newTree("glenda", nil, 64<<20)
	r := tr.root
	// Times no restart can take for its own clock.
	r.mtime, r.atime, r.ctl.mtime, r.order.mtime = 1000, 1000, 1001, 1002
	l, err := openLog(dir, false, tr, io.Discard)
	must(t, err)
	x := &logged{t: t, dir: dir, tree: tr}
	stat := func(tr *tree) []uint32 {
		r := tr.root
		return []uint32{r.mtime, r.ctl.mtime, r.order.mtime}
	}
	want := stat(tr)
	killed := x.copyQuiet()
	l.close()
	for _, d := range []string{killed, dir} {
		y := openLogged(t, d, false)
		if diff := cmp.Diff(want, stat(y.tree)); diff != "" || y.warn.Len() > 0 {
			t.Errorf("%s: root, ctl and order mtime after restart (said %q; -want +got):\n%s", d, y.warn.String(), diff)
		}
		y.close()
	}
}

// SPEC §8.8, §11.2: mq exiting on purpose ends its connections, so the
// files open ORCLOSE on them go, and stay gone after a restart; killed,
// it cannot remove them, and they come back.
func TestExitRemovesOnClose(t *testing.T) {
	dir := t.TempDir()
	x := openLogged(t, dir, false)
	fs := x.dial()
	mkdir(t, fs, "g")
	mkdir(t, fs, "g/tmp")
	for _, try := range []struct {
		name string
		mode uint8
		perm plan9.Perm
		open bool
	}{
		{"g/s", plan9.OWRITE | plan9.ORCLOSE, 0664, false},
		{"g/tmp", plan9.OREAD | plan9.ORCLOSE, 0, true},
		{"g/kept", plan9.OWRITE, 0664, false},
	} {
		var f *client.Fid
		var err error
		if try.open {
			f, err = fs.Open(try.name, try.mode)
		} else {
			f, err = fs.Create(try.name, try.mode, try.perm)
		}
		must(t, err)
		defer f.Close()
	}
	killed := x.copyQuiet()
	x.srv.exit()
	x.close()
	for _, tc := range []struct {
		what, dir string
		want      []string
	}{
		{"after a kill", killed, []string{"ctl", "order", "tmp", "s", "kept"}},
		{"after exiting", dir, []string{"ctl", "order", "kept"}},
	} {
		y := openLogged(t, tc.dir, false)
		var got []string
		y.tree.mu.Lock()
		for _, n := range y.tree.root.lookup("g").entries() {
			got = append(got, n.name)
		}
		y.tree.mu.Unlock()
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("g %s (-want +got):\n%s", tc.what, diff)
		}
		y.close()
	}
}
