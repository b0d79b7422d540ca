package main

// Hostile and faulty clients: whatever they send, the server answers
// or hangs up on them alone, and keeps serving everyone else
// (SPEC §8.8, §8.9).

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// staticSetup is setup with group g in replay all and static mode,
// holding one message "hello" in s; fid 3 reads s.
const staticSetup = setup + `
Twalk fid 0 newfid 5 wname [g ctl]
Rwalk ...
Topen fid 5 mode OWRITE
Ropen ...
Twrite tag 1 fid 5 data 'replay all'
Rwrite tag 1 count 10
Twrite tag 1 fid 2 data hello
Rwrite tag 1 count 5
Twrite tag 1 fid 5 data 'data static'
Rwrite tag 1 count 11
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
`

// A static read at an offset of 2⁶³ or more is past the end, not a
// negative index (SPEC §6.2, §8.9).
func TestStaticHugeOffset(t *testing.T) {
	tc := dialTest(t, newTestTree())
	tc.run(staticSetup + `
Tread tag 1 fid 3 offset 18446744073709551615 count 100
Rread tag 1
Tread tag 1 fid 3 offset 9223372036854775808 count 100
Rread tag 1
Tread tag 1 fid 3 offset 1 count 100
Rread tag 1 data ello
`)
}

// A client that sends requests and never reads the replies is, past a
// bounded backlog, no longer read from: it cannot make the server hold
// its replies without end. Other clients are served meanwhile
// (SPEC §8.8).
func TestUnreadRepliesStopReading(t *testing.T) {
	tr := newTestTree()
	cli, end := net.Pipe()
	go newServer(tr, nil).serve(end, 3)
	defer cli.Close()
	for _, f := range []*plan9.Fcall{
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"},
		{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"},
	} {
		b, _ := f.Bytes()
		cli.Write(b)
	}
	stat, _ := (&plan9.Fcall{Type: plan9.Tstat, Tag: 2, Fid: 0}).Bytes()
	rstat, _ := (&plan9.Fcall{Type: plan9.Rstat, Tag: 2, Stat: mustStat(t, tr.root)}).Bytes()
	// Enough requests for replies of ten times the backlog.
	n := 10 * maxBacklog / len(rstat)
	sent := 0
	for ; sent < n; sent++ {
		// The deadline is how the test sees that the server stopped
		// reading; a slow server can only make it pass sooner.
		cli.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := cli.Write(stat); err != nil {
			break
		}
	}
	if sent == n {
		t.Fatalf("server read all %d requests whose replies nobody read (%d bytes of replies)", n, n*len(rstat))
	}
	tc := dialTest(t, tr)
	tc.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
`)
	// The stalled client's replies are all still owed and come once it reads.
	cli.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(cli)
	for i := 0; i < 2+sent; i++ {
		if _, err := plan9.ReadFcall(br); err != nil {
			t.Fatalf("reply %d of %d: %v", i, 2+sent, err)
		}
	}
}

func mustStat(t *testing.T, n *node) []byte {
	b, err := n.stat().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A wait-one write is answered when a reader has received the message,
// not when a reader goes away without it, by clunk or by hanging up:
// the next reader to come gets it and releases the writer (SPEC §5.3,
// §8.8).
func TestWaitOneReaderLeaves(t *testing.T) {
	tr := newTestTree()
	tc := dialTest(t, tr)
	tc.run(setup + `
Twalk fid 0 newfid 5 wname [g ctl]
Rwalk ...
Topen fid 5 mode OWRITE
Ropen ...
Twrite tag 1 fid 5 data 'wait one'
Rwrite tag 1 count 8
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Twrite tag 2 fid 2 data hello
Tclunk tag 3 fid 3
Rclunk tag 3
`)
	rc := dialTest(t, tr)
	rc.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
Twalk fid 0 newfid 1 wname [g s]
Rwalk ...
Topen fid 1 mode OREAD
Ropen ...
`)
	rc.c.Close()
	waitFor(t, tr, func() bool { return len(tr.root.byName["g"].byName["s"].sq.readers) == 0 })
	tc.sync() // the write is still owed
	tc.run(`
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
Tread tag 4 fid 4 count 100
Rread tag 4 data hello
Rwrite tag 2 count 5
`)
}

// waitFor waits until cond, checked with tree.mu held, holds: for what
// a server does after a client hangs up, which no reply announces.
func waitFor(t *testing.T, tr *tree, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tr.mu.Lock()
		ok := cond()
		tr.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("server state did not settle")
		}
		time.Sleep(time.Millisecond)
	}
}

// A client that stops reading and then sends a malformed message is
// hung up on at once: its connection's goroutines do not wait for ever
// on replies it will never take (SPEC §8.9).
func TestMalformedWhileNotReading(t *testing.T) {
	tr := newTestTree()
	cli, end := net.Pipe()
	defer cli.Close()
	done := make(chan struct{})
	go func() {
		newServer(tr, nil).serve(end, 3)
		close(done)
	}()
	for _, f := range []*plan9.Fcall{
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"},
		{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"},
		{Type: plan9.Tstat, Tag: 2, Fid: 0},
	} {
		b, _ := f.Bytes()
		cli.Write(b)
	}
	cli.Write(le32(3)) // a size smaller than any message
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection still served 10s after a malformed message")
	}
}

// Names with control characters are refused at create and rename, as
// Plan 9 refuses them: a stream named "a\nb" would forge lines in
// order for every reader of the group (SPEC §3.2, §6.3).
func TestControlCharacterNames(t *testing.T) {
	tc := dialTest(t, newTestTree())
	tc.run(setup)
	for _, name := range []string{"a\nb", "tab\there", "nul\x00", "del\x7f", "esc\x1b[0m", "a/b"} {
		if r := tc.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 9, Wname: []string{"g"}}); r.Type != plan9.Rwalk {
			t.Fatal(r)
		}
		if r := tc.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 9, Name: name, Perm: 0666, Mode: plan9.OWRITE}); r.Type != plan9.Rerror || r.Ename != string(errBadName) {
			t.Errorf("create %q: %v, want Rerror %q", name, r, errBadName)
		}
		tc.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 9})
		var d plan9.Dir
		d.Null()
		d.Name = name
		stat, _ := d.Bytes()
		if r := tc.rpc(&plan9.Fcall{Type: plan9.Twstat, Tag: 1, Fid: 2, Stat: stat}); r.Type != plan9.Rerror || r.Ename != string(errBadName) {
			t.Errorf("rename to %q: %v, want Rerror %q", name, r, errBadName)
		}
	}
	tc.run(`
Twalk fid 0 newfid 9 wname [g]
Rwalk ...
Tcreate fid 9 name 'ünïcode ok' perm --rw-rw-rw- mode OWRITE
Rcreate ...
`)
}

// An error string naming a huge bad ctl line is cut to Plan 9's
// ERRMAX: it neither crashes the server nor outgrows msize (SPEC §4.2,
// §8.1, §8.9).
func TestLongErrorStrings(t *testing.T) {
	for _, tt := range []struct {
		msize uint32
		data  string
	}{
		{131072, strings.Repeat("x", 70000)},
		{256, strings.Repeat("\x01", 200)},
	} {
		tc := dialTest(t, newTestTree())
		tc.run(fmt.Sprintf(`
Tversion tag 65535 msize %d version 9P2000
Rversion tag 65535 msize %d version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
Twalk fid 0 newfid 1 wname ctl
Rwalk ...
Topen fid 1 mode OWRITE
Ropen ...
`, tt.msize, tt.msize))
		r := tc.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: []byte(tt.data)})
		b, _ := r.Bytes()
		if r.Type != plan9.Rerror || len(b) > int(tt.msize) || len(r.Ename) >= errmax {
			t.Errorf("msize %d: bad ctl line of %d bytes: %d-byte reply %.80v", tt.msize, len(tt.data), len(b), r)
		}
	}
}

// Names and attach names are bounded, so every stat fits a directory
// read at msize 8216 (SPEC §8.5).
func TestLongNames(t *testing.T) {
	tc := dialTest(t, newTestTree())
	tc.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
Twalk fid 0 newfid 1
Rwalk
`)
	r := tc.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: strings.Repeat("n", 8180), Perm: 0666, Mode: plan9.OWRITE})
	if r.Type != plan9.Rerror {
		t.Errorf("create with an 8180-byte name: %.80v", r)
	}
	r = tc.rpc(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 2, Afid: plan9.NOFID, Uname: strings.Repeat("u", 4000)})
	if r.Type != plan9.Rerror {
		t.Errorf("attach with a 4000-byte name: %.80v", r)
	}
	tc.sync()
}

// A reader of order partway through an entry whose stream is removed is
// told it lost the entry, rather than reading a line cut short
// (SPEC §6.3, §7.3).
func TestOrderEntryCutByRemove(t *testing.T) {
	x := newQtest(t, "replay off", 1<<20, "sss", "tt")
	o := x.open("order")
	x.write("sss", "x")
	if a := x.read(o, 2); a != "ss" {
		t.Fatalf("read = %q", a)
	}
	x.q.removeStream(x.s["sss"])
	x.write("tt", "y")
	want := []answer{"error: reader fell behind: 1 messages lost", "tt\n"}
	if diff := cmp.Diff(want, x.readAll(o, 100)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
