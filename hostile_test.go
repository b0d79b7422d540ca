package main

// Adversarial clients against an in-process server. MQ_LONG=1 runs the
// full-size variants.

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"9fans.net/go/plan9"
)

// sized is n with MQ_LONG set, else short. The variable is read here,
// in the test, so that go test's cache knows the result depends on it.
func sized(n, short int) int {
	if os.Getenv("MQ_LONG") != "" {
		return n
	}
	return short
}

// heap is the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A reader that opens and never reads, against a writer firehose: the
// server holds no more than the cap, and the reader is then told how
// many messages it lost and goes on from the oldest kept (SPEC §7.2,
// §7.3).
func TestFirehoseIdleReader(t *testing.T) {
	const capBytes = 1 << 20
	const size = 8192
	tr := newTree("glenda", nil, capBytes)
	tc := dialTest(t, tr)
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
`)
	base := heap()
	n := sized(100_000, 4_000) // 800M or 32M through a 1M cap
	msg := make([]byte, size)
	for i := range n {
		copy(msg, fmt.Sprintf("%08d", i))
		if r := tc.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 2, Data: msg}); r.Type != plan9.Rwrite {
			t.Fatalf("write %d: %v", i, r)
		}
		if i%1000 == 0 {
			tr.mu.Lock()
			total := tr.st.total
			tr.mu.Unlock()
			if total > capBytes {
				t.Fatalf("after %d writes the server holds %d bytes, over the cap %d", i, total, capBytes)
			}
		}
	}
	grown := int64(heap()) - int64(base)
	t.Logf("%d messages of %d bytes through a %d-byte cap: heap grew %d bytes", n, size, capBytes, grown)
	if grown > 2*capBytes {
		t.Fatalf("heap grew %d bytes for a cap of %d", grown, capBytes)
	}
	kept := capBytes / size
	tc.run(fmt.Sprintf(`
Tread tag 1 fid 3 count 8192
Rerror tag 1 ename 'reader fell behind: %d messages lost'
`, n-kept))
	r := tc.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 3, Count: size})
	if want := fmt.Sprintf("%08d", n-kept); r.Type != plan9.Rread || string(r.Data[:8]) != want {
		t.Fatalf("after the error, read %v; want message %s, the oldest kept", r, want)
	}
}

// pipeline sends fs and waits for all their replies, at most batch in
// flight, returning them in order.
func (tc *testConn) pipeline(fs []*plan9.Fcall, batch int) []*plan9.Fcall {
	tc.t.Helper()
	var out []*plan9.Fcall
	for len(fs) > 0 {
		b := fs[:min(batch, len(fs))]
		fs = fs[len(b):]
		for _, f := range b {
			tc.send(f)
		}
		for _, f := range b {
			out = append(out, tc.reply(f.Tag))
		}
	}
	return out
}

// 10,000 fids on one connection, every one a reader of the same stream:
// each gets the message, and clunking them leaves nothing behind
// (SPEC §6, §8.7).
func TestManyFids(t *testing.T) {
	n := 10_000
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(setup)
	var walks, opens, reads, clunks []*plan9.Fcall
	for i := range n {
		fid := uint32(100 + i)
		tag := uint16(i)
		walks = append(walks, &plan9.Fcall{Type: plan9.Twalk, Tag: tag, Fid: 0, Newfid: fid, Wname: []string{"g", "s"}})
		opens = append(opens, &plan9.Fcall{Type: plan9.Topen, Tag: tag, Fid: fid, Mode: plan9.OREAD})
		reads = append(reads, &plan9.Fcall{Type: plan9.Tread, Tag: tag, Fid: fid, Count: 100})
		clunks = append(clunks, &plan9.Fcall{Type: plan9.Tclunk, Tag: tag, Fid: fid})
	}
	for _, fs := range [][]*plan9.Fcall{walks, opens} {
		for _, r := range tc.pipeline(fs, 500) {
			if r.Type == plan9.Rerror {
				t.Fatalf("%v", r)
			}
		}
	}
	tc.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 60000, Fid: 2, Data: []byte("hello")})
	for i, r := range tc.pipeline(reads, 500) {
		if r.Type != plan9.Rread || string(r.Data) != "hello" {
			t.Fatalf("reader %d got %v", i, r)
		}
	}
	for _, r := range tc.pipeline(clunks, 500) {
		if r.Type != plan9.Rclunk {
			t.Fatalf("%v", r)
		}
	}
	tc.sync()
	tr.mu.Lock()
	s := tr.root.byName["g"].byName["s"]
	readers, opened := len(s.sq.readers), s.opens
	tr.mu.Unlock()
	if readers != 0 || opened != 1 {
		t.Fatalf("after clunking the readers: %d readers, %d opens; want 0, 1 (the writer)", readers, opened)
	}
}

// Many connections at once, each with a parked read on one stream: one
// write answers them all; hanging up leaves nothing behind (SPEC §8.8).
func TestManyConnections(t *testing.T) {
	n := sized(1000, 1000)
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(setup)
	var cs []*testConn
	for range n {
		c := session(t, tr, "glenda")
		c.send(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"g", "s"}})
		c.send(&plan9.Fcall{Type: plan9.Topen, Tag: 2, Fid: 1, Mode: plan9.OREAD})
		c.send(&plan9.Fcall{Type: plan9.Tread, Tag: 3, Fid: 1, Count: 100})
		for _, tag := range []uint16{1, 2} {
			if r := c.reply(tag); r.Type == plan9.Rerror {
				t.Fatal(r)
			}
		}
		cs = append(cs, c)
	}
	tc.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 2, Data: []byte("to all")})
	for i, c := range cs {
		if r := c.reply(3); r.Type != plan9.Rread || string(r.Data) != "to all" {
			t.Fatalf("connection %d got %v", i, r)
		}
		c.c.Close()
	}
	waitFor(t, tr, func() bool { return len(tr.root.byName["g"].byName["s"].sq.readers) == 0 })
	tc.run(`
Twrite tag 1 fid 2 data again
Rwrite tag 1 count 5
`)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if q := tr.root.byName["g"].q; q.count != 0 {
		t.Fatalf("with every reader gone, replay off still holds %d messages", q.count)
	}
}

// A flush storm against blocked reads: every flushed read is gone with
// no reply of its own, the rest are served in order, and the reader's
// cursor is untouched (SPEC §6, §8.6).
func TestFlushStorm(t *testing.T) {
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
`)
	const n = 2000
	for i := range n {
		tc.send(&plan9.Fcall{Type: plan9.Tread, Tag: uint16(i), Fid: 3, Count: 100})
	}
	// Flush all but every hundredth, newest first, and some twice.
	for i := n - 1; i >= 0; i-- {
		if i%100 != 0 {
			tc.send(&plan9.Fcall{Type: plan9.Tflush, Tag: uint16(10000 + i), Oldtag: uint16(i)})
			if i%7 == 0 {
				tc.send(&plan9.Fcall{Type: plan9.Tflush, Tag: uint16(20000 + i), Oldtag: uint16(i)})
			}
		}
	}
	for i := n - 1; i >= 0; i-- {
		if i%100 != 0 {
			if r := tc.reply(uint16(10000 + i)); r.Type != plan9.Rflush {
				t.Fatalf("flush of %d: %v", i, r)
			}
			if i%7 == 0 {
				if r := tc.reply(uint16(20000 + i)); r.Type != plan9.Rflush {
					t.Fatalf("second flush of %d: %v", i, r)
				}
			}
		}
	}
	tc.sync()
	for i := 0; i < n; i += 100 {
		msg := fmt.Sprintf("m%d", i)
		tc.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 30000, Fid: 2, Data: []byte(msg)})
		if r := tc.reply(uint16(i)); r.Type != plan9.Rread || string(r.Data) != msg {
			t.Fatalf("read %d got %v, want %q", i, r, msg)
		}
	}
	tc.sync()
}

// A tag in use gets "tag in use"; the pending request keeps its tag and
// is answered in due course; the tag is free again afterwards
// (SPEC §8.7).
func TestTagReuse(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Tread tag 5 fid 3 count 100
Tstat tag 5 fid 3
Rerror tag 5 ename 'tag in use'
Tread tag 5 fid 3 count 100
Rerror tag 5 ename 'tag in use'
Twrite tag 6 fid 2 data first
Rwrite tag 6 count 5
Rread tag 5 data first
Tread tag 5 fid 3 count 100
Twrite tag 6 fid 2 data second
Rwrite tag 6 count 6
Rread tag 5 data second
`)
}

// A client that sends half a message and stalls holds up nobody: others
// are served, and when it goes its state goes with it (SPEC §8.8, §8.9).
func TestHalfMessageStall(t *testing.T) {
	tr := newTestTree(t)
	staller := session(t, tr, "glenda")
	staller.run(`
Twalk fid 0 newfid 1
Rwalk
`)
	b, _ := (&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: make([]byte, 1000)}).Bytes()
	staller.sendRaw(b[:500])
	tc := dialTest(t, tr)
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Twrite tag 1 fid 2 data hello
Rwrite tag 1 count 5
Tread tag 1 fid 3 count 100
Rread tag 1 data hello
`)
	staller.c.Close()
	tc.run(`
Tstat tag 1 fid 3
Rstat tag 1 ...
`)
}

// Clients that vanish mid-read and mid-write: their parked reads and
// waiting writes are released, and other clients carry on
// (SPEC §5.3, §8.8).
func TestVanishMidRequest(t *testing.T) {
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(setup + `
Twalk fid 0 newfid 5 wname [g ctl]
Rwalk ...
Topen fid 5 mode OWRITE
Ropen ...
Twrite tag 1 fid 5 data 'wait one'
Rwrite tag 1 count 8
`)
	// A reader with parked reads vanishes; then a wait-one writer with
	// nobody to read vanishes too.
	reader, writer := session(t, tr, "glenda"), session(t, tr, "glenda")
	reader.run(`
Twalk fid 0 newfid 1 wname [g s]
Rwalk ...
Topen fid 1 mode OREAD
Ropen ...
Tread tag 1 fid 1 count 100
Tread tag 2 fid 1 count 100
`)
	reader.c.Close()
	s := tr.root.byName["g"].byName["s"]
	waitFor(t, tr, func() bool { return len(s.sq.readers) == 0 && s.opens == 1 })
	writer.run(`
Twalk fid 0 newfid 1 wname [g s]
Rwalk ...
Topen fid 1 mode OWRITE
Ropen ...
Twrite tag 1 fid 1 data lost
Twrite tag 2 fid 1 data 'lost too'
`)
	writer.c.Close()
	waitFor(t, tr, func() bool { return s.opens == 1 && s.sq.head == nil })
	// The writes were written, but with their writer gone nobody waits
	// for them; the next reader starts after them and a new wait-one
	// write is met by it.
	tc.run(`
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Tread tag 3 fid 3 count 100
Twrite tag 2 fid 2 data fresh
Rread tag 3 data fresh
Rwrite tag 2 count 5
`)
	checkIdleBut(t, tr, 4) // tc's fids 1, 2, 3 and 5
}

// checkIdleBut checks that only n opens remain anywhere in tr.
func checkIdleBut(t *testing.T, tr *tree, n int) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	opens := 0
	var walk func(g *node)
	walk = func(g *node) {
		opens += g.opens
		for _, x := range g.entries() {
			if x.kind == kGroup {
				walk(x)
			} else {
				opens += x.opens
			}
		}
	}
	walk(tr.root)
	if opens != n {
		t.Fatalf("%d files open; want %d", opens, n)
	}
}
