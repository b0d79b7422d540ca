package main

// Hostile and faulty clients: whatever they send, the server answers
// or hangs up on them alone, and keeps serving everyone else
// (SPEC §8.8, §8.9).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

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
	tc := dialTest(t, newTestTree(t))
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
	tr := newTestTree(t)
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
	tr := newTestTree(t)
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
	tr := newTestTree(t)
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
	tc := dialTest(t, newTestTree(t))
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
// §8.1, §8.9), and is cut between runes, as 9P strings are UTF-8: a
// line with "é" across the cut was sent with half of it.
func TestLongErrorStrings(t *testing.T) {
	prefix := len(`unknown control message "`)
	for _, tt := range []struct {
		msize uint32
		data  string
	}{
		{131072, strings.Repeat("x", 70000)},
		{256, strings.Repeat("\x01", 200)},
		{8216, strings.Repeat("x", errmax-2-prefix) + "é"},
		{8216, strings.Repeat("x", errmax-3-prefix) + "世界"},
	} {
		tc := dialTest(t, newTestTree(t))
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
		if r.Type != plan9.Rerror || len(b) > int(tt.msize) || len(r.Ename) >= errmax || !utf8.ValidString(r.Ename) {
			t.Errorf("msize %d: bad ctl line of %d bytes: %d-byte reply %.80v", tt.msize, len(tt.data), len(b), r)
		}
	}
}

// Names and attach names are bounded, so every stat fits a directory
// read at msize 8216 (SPEC §8.5).
func TestLongNames(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
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

// A stat that would make a reply longer than the msize the client asked
// for is refused, not sent past it (SPEC §8.1): a name fits a stat at
// msize 8216, not at the smallest msize.
func TestStatFitsMsize(t *testing.T) {
	tr := newTestTree(t)
	long := strings.Repeat("n", 200)
	tc := dialTest(t, tr)
	tc.run(fmt.Sprintf(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
Twalk fid 0 newfid 1
Rwalk
Tcreate fid 1 name %s perm --rw-rw-rw- mode OWRITE
Rcreate ...
Tstat tag 1 fid 1
Rstat tag 1 ...
`, long))
	small := dialTest(t, tr)
	small.run(fmt.Sprintf(`
Tversion tag 65535 msize 256 version 9P2000
Rversion tag 65535 msize 256 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
Twalk fid 0 newfid 1 wname %s
Rwalk ...
Tstat tag 1 fid 1
Rerror tag 1 ename 'stat buffer too small'
Tstat tag 1 fid 0
Rstat tag 1 ...
`, long))
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

// slowReader takes a client's replies 64 bytes every 2 ms until it
// has taken slow bytes, then as they come.
type slowReader struct {
	r    io.Reader
	slow int

	mu   sync.Mutex
	took chan struct{} // closed by the next read that takes anything
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.slow > 0 {
		time.Sleep(2 * time.Millisecond)
		p = p[:min(len(p), 64)]
	}
	n, err := s.r.Read(p)
	s.slow -= n
	s.mu.Lock()
	if n > 0 && s.took != nil {
		close(s.took)
		s.took = nil
	}
	s.mu.Unlock()
	return n, err
}

// next returns a channel closed once a read takes something.
func (s *slowReader) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.took = make(chan struct{})
	return s.took
}

// A client that takes its replies more slowly than the 50 ms the
// reading goroutine gives it, so that the server gives up writing them
// part way through and leaves the rest to the connection's writer,
// behind a reply that another connection's write caused meanwhile,
// gets every reply exactly once, whole, in the order the server made
// them: its reads on one fid answered in the order it sent them, each
// with the next message of the stream, and its writes' Rwrites in the
// order it sent them (SPEC §6, §8.8).
//
// Where a connection takes no write deadline, as on Plan 9, the writer
// writes every reply, and the same holds.
func TestSlowReaderRepliesOnce(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		slowReaderRepliesOnce(t, func(c net.Conn) io.ReadWriteCloser { return c })
	})
	t.Run("no deadline", func(t *testing.T) {
		slowReaderRepliesOnce(t, func(c net.Conn) io.ReadWriteCloser { return noDeadline{c} })
	})
}

// noDeadline is a connection that cannot be given a write deadline.
type noDeadline struct{ io.ReadWriteCloser }

func slowReaderRepliesOnce(t *testing.T, conn func(net.Conn) io.ReadWriteCloser) {
	tr := newTestTree(t)
	w := dialTest(t, tr)
	w.run(setup)
	cli, end := net.Pipe()
	go newServer(tr, nil).serve(conn(end), 3)
	defer cli.Close()
	const (
		own, other = 60, 60 // messages written by the slow client and by w
		size       = 3000
		firstWrite = 1000 // tag of the slow client's first write
	)
	payload := func(who string, i int) []byte {
		b := bytes.Repeat([]byte{'.'}, size)
		copy(b, fmt.Sprintf("%s%d:", who, i))
		return b
	}
	sr := &slowReader{r: cli, slow: 16 << 10}
	replies := make(chan *plan9.Fcall, 2*(own+other)+10)
	go func() {
		defer close(replies)
		br := bufio.NewReader(sr)
		for {
			f, err := plan9.ReadFcall(br)
			if err != nil {
				return
			}
			replies <- f
		}
	}()
	var got []*plan9.Fcall
	timeout := time.After(10 * time.Second)
	// await collects replies up to the one with tag.
	await := func(tag uint16) {
		t.Helper()
		for len(got) == 0 || got[len(got)-1].Tag != tag {
			select {
			case f, ok := <-replies:
				if !ok {
					t.Fatalf("connection closed after %d replies", len(got))
				}
				got = append(got, f)
			case <-timeout:
				t.Fatalf("no reply with tag %d after %d replies (a reply cut short or sent twice leaves the client reading garbage)", tag, len(got))
			}
		}
	}
	send := func(b []byte) error {
		cli.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := cli.Write(b)
		return err
	}
	wwrite := func(i int) {
		t.Helper()
		if r := w.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 2, Data: payload("w", i)}); r.Type != plan9.Rwrite {
			t.Fatalf("w's write %d: %v", i, r)
		}
	}
	// A session, a reader and a writer of g/s, and a read parked for
	// every message to come; the probe's Rflush comes once all are.
	var out []byte
	for _, f := range []*plan9.Fcall{
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"},
		{Type: plan9.Tattach, Tag: 60000, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"},
		{Type: plan9.Twalk, Tag: 60001, Fid: 0, Newfid: 3, Wname: []string{"g", "s"}},
		{Type: plan9.Topen, Tag: 60002, Fid: 3, Mode: plan9.OREAD},
		{Type: plan9.Twalk, Tag: 60003, Fid: 0, Newfid: 4, Wname: []string{"g", "s"}},
		{Type: plan9.Topen, Tag: 60004, Fid: 4, Mode: plan9.OWRITE},
		{Type: plan9.Tflush, Tag: 60005, Oldtag: 60006},
	} {
		b, _ := f.Bytes()
		out = append(out, b...)
		if f.Type == plan9.Topen && f.Fid == 4 {
			for i := range own + other {
				b, _ := (&plan9.Fcall{Type: plan9.Tread, Tag: uint16(i), Fid: 3, Count: 8000}).Bytes()
				out = append(out, b...)
			}
		}
	}
	if err := send(out); err != nil {
		t.Fatalf("setup: %v", err)
	}
	await(60005)
	// The slow client's writes, in bursts of five: the server reads a
	// burst in more than one read and writes the replies (Rreads and
	// Rwrites) of what it has read before reading on.
	var bursts [][]byte
	out = nil
	for i := range own {
		b, _ := (&plan9.Fcall{Type: plan9.Twrite, Tag: uint16(firstWrite + i), Fid: 4, Data: payload("c", i)}).Bytes()
		out = append(out, b...)
		if i%5 == 4 {
			bursts, out = append(bursts, out), nil
		}
	}
	// Nothing else is written to the slow client, so the first bytes
	// it gets now are the first burst's replies, which the server
	// writes itself where the connection takes a deadline, for 50 ms
	// at most; they are more than the client takes in that time. w's
	// write now answers the next parked read: its reply waits behind
	// theirs. Once the first burst is read whole, the server has given
	// up and left what remains to the writer.
	took := sr.next()
	sent := make(chan error, 1)
	go func() { sent <- send(bursts[0]) }()
	<-took
	wwrite(0)
	if err := <-sent; err != nil {
		t.Fatalf("first burst: %v", err)
	}
	go func() {
		for _, b := range bursts[1:] {
			if err := send(b); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for i := 1; i < other; i++ {
		wwrite(i)
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending the slow client's requests: %v", err)
	}
	// Anything still owed comes before the Rflush of this probe.
	b, _ := (&plan9.Fcall{Type: plan9.Tflush, Tag: 0xfffe, Oldtag: 0xfffd}).Bytes()
	if err := send(b); err != nil {
		t.Fatalf("probe: %v", err)
	}
	await(0xfffe)
	seen := make(map[string]bool)
	nextRead, nextWrite := 0, firstWrite
	for _, f := range got[:len(got)-1] {
		switch {
		case f.Tag >= 60000 || f.Tag == plan9.NOTAG:
			if f.Type == plan9.Rerror {
				t.Fatalf("setup: %v", f)
			}
		case f.Type == plan9.Rread:
			if int(f.Tag) != nextRead {
				t.Fatalf("Rread tag %d, want %d: reads on one fid are answered in order", f.Tag, nextRead)
			}
			nextRead++
			d := string(f.Data)
			if len(d) != size || seen[d] {
				t.Fatalf("Rread tag %d: %d bytes %.12q, seen before: %v", f.Tag, len(d), d, seen[d])
			}
			seen[d] = true
		case f.Type == plan9.Rwrite:
			if int(f.Tag) != nextWrite || f.Count != size {
				t.Fatalf("%v, want Rwrite tag %d count %d", f, nextWrite, size)
			}
			nextWrite++
		default:
			t.Fatalf("unexpected reply %v", f)
		}
	}
	if nextRead != own+other || nextWrite != firstWrite+own {
		t.Fatalf("%d Rreads and %d Rwrites, want %d and %d", nextRead, nextWrite-firstWrite, own+other, own)
	}
	for i := range own {
		if !seen[string(payload("c", i))] {
			t.Errorf("the slow client's message %d was never read", i)
		}
	}
	for i := range other {
		if !seen[string(payload("w", i))] {
			t.Errorf("w's message %d was never read", i)
		}
	}
}
