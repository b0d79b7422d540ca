package main

// SPEC §8: the 9P rules, checked in the protocol's own words.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// parse turns a transcript line into an Fcall, for tests that need the
// reply itself rather than a match.
func parse(t *testing.T, line string) *plan9.Fcall {
	t.Helper()
	f, err := plan9.ParseFcall(line)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return f
}

// stat is fid's directory entry.
func (tc *testConn) stat(fid uint32) *plan9.Dir {
	tc.t.Helper()
	r := tc.rpc(&plan9.Fcall{Type: plan9.Tstat, Tag: 0xfff0, Fid: fid})
	if r.Type != plan9.Rstat {
		tc.t.Fatalf("Tstat fid %d: %v", fid, r)
	}
	d, err := plan9.UnmarshalDir(r.Stat)
	if err != nil {
		tc.t.Fatalf("Tstat fid %d: %v", fid, err)
	}
	return d
}

// closed waits for the server to close the connection, failing if any
// reply arrives first (SPEC §8.9).
func (tc *testConn) closed() {
	tc.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-tc.replies:
			if !ok {
				return
			}
			tc.t.Fatalf("got %v; want the connection closed", f)
		case <-timeout:
			tc.t.Fatalf("connection still open")
		}
	}
}

// TestVersion checks msize and version negotiation (SPEC §8.1).
func TestVersion(t *testing.T) {
	tests := []struct{ send, want string }{
		{"Tversion tag 65535 msize 8216 version 9P2000", "Rversion tag 65535 msize 8216 version 9P2000"},
		{"Tversion tag 65535 msize 256 version 9P2000", "Rversion tag 65535 msize 256 version 9P2000"},
		{fmt.Sprintf("Tversion tag 65535 msize %d version 9P2000", 1<<30),
			fmt.Sprintf("Rversion tag 65535 msize %d version 9P2000", maxMsize)},
		{"Tversion tag 65535 msize 8216 version 9P2000.u", "Rversion tag 65535 msize 8216 version 9P2000"},
		{"Tversion tag 65535 msize 8216 version 9P2000.L", "Rversion tag 65535 msize 8216 version 9P2000"},
		{"Tversion tag 65535 msize 255 version 9P2000", "Rerror tag 65535 ename 'msize too small'"},
		{"Tversion tag 65535 msize 0 version 9P2000", "Rerror tag 65535 ename 'msize too small'"},
		{"Tversion tag 65535 msize 8216 version 9P1999", "Rversion tag 65535 msize 8216 version unknown"},
		{"Tversion tag 65535 msize 8216 version ''", "Rversion tag 65535 msize 8216 version unknown"},
		{"Tversion tag 65535 msize 8216 version 9P", "Rversion tag 65535 msize 8216 version unknown"},
		// An unknown version is never an Rerror, whatever the msize.
		{"Tversion tag 65535 msize 100 version 9P1999", "Rversion tag 65535 ..."},
	}
	if maxMsize < 8216 {
		t.Errorf("maxMsize = %d, want at least 8216", maxMsize)
	}
	for _, tt := range tests {
		t.Run(tt.send, func(t *testing.T) {
			dialTest(t, newTestTree(t)).run(tt.send + "\n" + tt.want)
		})
	}
}

// TestVersionMsize checks that the negotiated msize bounds iounit and
// messages, and that a bigger message closes only its connection
// (SPEC §8.1, §8.9).
func TestVersionMsize(t *testing.T) {
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(`
Tversion tag 65535 msize 256 version 9P2000
Rversion tag 65535 msize 256 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach qid 0xa000000000000000.0.d
Twalk fid 0 newfid 1
Rwalk
Tcreate fid 1 name s perm --rw-rw-rw- mode ORDWR
Rcreate qid 0x4.0.a iounit 232
`)
	other := dialTest(t, tr)
	other.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
`)
	// A message of exactly msize bytes is fine; one more byte is not.
	r := tc.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: make([]byte, 256-23)})
	if r.Type != plan9.Rwrite || r.Count != 233 {
		t.Fatalf("write of msize bytes: %v", r)
	}
	go tc.c.Write(mustBytes(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: 1, Data: make([]byte, 256-22)}))
	tc.closed()
	other.run(`
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach qid 0xa000000000000000.1.d
Twalk fid 0 newfid 1 wname s
Rwalk wqid 0x4.1.a
`)
}

// TestVersionAborts checks that a Tversion mid-session drops pending
// requests without replies and clunks every fid, ORCLOSE included
// (SPEC §8.1).
func TestVersionAborts(t *testing.T) {
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(setup + `
Twalk fid 0 newfid 4 wname [g ctl]
Rwalk ...
Topen fid 4 mode OWRITE
Ropen ...
Twrite tag 3 fid 4 data 'wait one'
Rwrite tag 3 count 8
Twalk fid 0 newfid 5 wname g
Rwalk ...
Tcreate fid 5 name t perm --rw-rw-rw- mode OWRITE
Rcreate ...
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD|ORCLOSE
Ropen ...
`)
	// A read parked on s, a write to t waiting for a reader, and a fid
	// open ORCLOSE on s.
	tc.send(parse(t, "Tread tag 1 fid 3 count 100"))
	tc.send(parse(t, "Twrite tag 2 fid 5 data waiting"))
	tc.run(`
Tread tag 1 fid 3 count 100
Rerror tag 1 ename 'tag in use'
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tstat tag 5 fid 0
Rerror tag 5 ename 'unknown fid'
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
Twalk fid 0 newfid 1 wname [g s]
Rwalk tag 0 wqid 0x4.3.d
Twalk fid 0 newfid 1 wname [g t]
Rwalk tag 0 wqid [0x4.3.d 0x8.1.a]
Topen fid 1 mode OREAD
Ropen ...
Tread tag 1 fid 1 count 100
`)
}

// TestOrcloseGroupAndStream checks that a group and a stream in it,
// both open ORCLOSE, both go when their fids are clunked together, as
// by a new session, the connection ending or mq exiting, whatever the
// order of the fids (SPEC §8.4, §8.8).
func TestOrcloseGroupAndStream(t *testing.T) {
	open := setup + `
Twalk fid 0 newfid 3 wname g
Rwalk ...
Topen fid 3 mode OREAD|ORCLOSE
Ropen ...
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen fid 4 mode OREAD|ORCLOSE
Ropen ...
`
	gone := func(tc *testConn) {
		tc.run(`
Tattach fid 9 afid NOFID uname glenda aname ''
Rattach ...
Twalk fid 9 newfid 10 wname g
Rerror ename 'file does not exist'
`)
	}
	// Fids are many orders of a map: one try in a few would pass by luck.
	for range 20 {
		tr := newTestTree(t)
		tc := dialTest(t, tr)
		tc.run(open + `
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
`)
		gone(tc)

		s := newServer(newTestTree(t), nil)
		tc = dialServer(t, s)
		tc.run(open)
		s.exit()
		gone(tc)

		tr = newTestTree(t)
		s = newServer(tr, nil)
		tc = dialServer(t, s)
		tc.run(open)
		tc.c.Close()
		tr.mu.Lock()
		for len(s.conns) > 0 {
			tr.mu.Unlock()
			time.Sleep(time.Millisecond) // the connection's end is not a reply
			tr.mu.Lock()
		}
		if tr.root.lookup("g") != nil {
			t.Errorf("g and g/s open ORCLOSE: g is there after the connection ended")
		}
		tr.mu.Unlock()
	}
}

// TestAuth checks that mq asks for no authentication (SPEC §8.2).
func TestAuth(t *testing.T) {
	dialTest(t, newTestTree(t)).run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tauth tag 1 afid 0 uname glenda aname ''
Rerror tag 1 ename 'mq: authentication not required'
Tattach tag 2 fid 0 afid 0 uname glenda aname ''
Rerror tag 2 ...
Tattach tag 2 fid 0 afid NOFID uname glenda aname ''
Rattach tag 2 qid 0xa000000000000000.0.d
Tattach tag 2 fid 0 afid NOFID uname glenda aname ''
Rerror tag 2 ename 'fid in use'
`)
}

// TestAttachName checks attach names and that .. never leads above
// the attach root (SPEC §8.2, §8.3).
func TestAttachName(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname g
Rwalk ...
Tcreate fid 3 name h perm d-rwxrwxr-x mode OREAD
Rcreate tag 0 qid 0x8.0.d iounit 8192
Tattach tag 1 fid 10 afid NOFID uname glenda aname g
Rattach tag 1 qid 0x4.2.d
Tattach tag 1 fid 11 afid NOFID uname glenda aname g/h
Rattach tag 1 qid 0x8.0.d
Tattach tag 1 fid 12 afid NOFID uname glenda aname /g/h/
Rattach tag 1 qid 0x8.0.d
Tattach tag 1 fid 13 afid NOFID uname glenda aname nosuch
Rerror tag 1 ename 'file does not exist'
Tattach tag 1 fid 13 afid NOFID uname glenda aname g/nosuch
Rerror tag 1 ename 'file does not exist'
Tattach tag 1 fid 13 afid NOFID uname glenda aname g/s
Rerror tag 1 ename 'file does not exist'
# .. of the attach root is itself, however often it is walked.
Twalk tag 1 fid 10 newfid 20 wname ..
Rwalk tag 1 wqid 0x4.2.d
Twalk tag 1 fid 11 newfid 21 wname [.. .. ..]
Rwalk tag 1 wqid [0x8.0.d 0x8.0.d 0x8.0.d]
Twalk tag 1 fid 11 newfid 22 wname [.. .. s]
Rwalk tag 1 wqid [0x8.0.d 0x8.0.d]
Twalk tag 1 fid 10 newfid 22 wname [h .. .. s]
Rwalk tag 1 wqid [0x8.0.d 0x4.2.d 0x4.2.d 0x7.0.a]
Twalk tag 1 fid 10 newfid 23 wname [.. .. ctl]
Rwalk tag 1 wqid [0x4.2.d 0x4.2.d 0x5.0]
Tstat tag 1 fid 21
Rstat tag 1 ...
Twalk tag 1 fid 0 newfid 24 wname [.. g .. ..]
Rwalk tag 1 wqid [0xa000000000000000.1.d 0x4.2.d 0xa000000000000000.1.d 0xa000000000000000.1.d]
`)
	if d := tc.stat(21); d.Name != "h" {
		t.Errorf("fid 21 walked to %q, want the attach root h", d.Name)
	}
}

// TestWalk checks Twalk's rules (SPEC §8.3).
func TestWalk(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
# A failure at the first name is an Rerror; newfid stays unset.
Twalk tag 1 fid 0 newfid 10 wname nosuch
Rerror tag 1 ename 'file does not exist'
Tstat tag 1 fid 10
Rerror tag 1 ename 'unknown fid'
# A later failure returns the qids walked so far; newfid stays unset.
Twalk tag 1 fid 0 newfid 10 wname [g nosuch]
Rwalk tag 1 wqid 0x4.1.d
Tstat tag 1 fid 10
Rerror tag 1 ename 'unknown fid'
Twalk tag 1 fid 0 newfid 10 wname [g s x]
Rwalk tag 1 wqid [0x4.1.d 0x7.0.a]
Tstat tag 1 fid 10
Rerror tag 1 ename 'unknown fid'
Twalk tag 1 fid 0 newfid 10 wname [g ctl x]
Rwalk tag 1 wqid [0x4.1.d 0x5.0]
# Walking in a file fails.
Twalk tag 1 fid 0 newfid 10 wname [g s]
Rwalk tag 1 wqid [0x4.1.d 0x7.0.a]
Twalk tag 1 fid 10 newfid 11 wname x
Rerror tag 1 ename 'not a directory'
# A zero-name walk clones, even a file's fid.
Twalk tag 1 fid 10 newfid 11
Rwalk tag 1 wqid []
Tstat tag 1 fid 11
Rstat tag 1 ...
# newfid may equal fid: a partial walk leaves it where it was ...
Twalk tag 1 fid 11 newfid 11 wname [.. ..]
Rerror tag 1 ename 'not a directory'
Twalk tag 1 fid 0 newfid 12
Rwalk tag 1
Twalk tag 1 fid 12 newfid 12 wname [g nosuch]
Rwalk tag 1 wqid 0x4.1.d
# ... and a whole one moves it.
Twalk tag 1 fid 12 newfid 12 wname [g order]
Rwalk tag 1 wqid [0x4.1.d 0x6.0]
# newfid in use, unknown fid, open fid.
Twalk tag 1 fid 0 newfid 10 wname g
Rerror tag 1 ename 'fid in use'
Twalk tag 1 fid 99 newfid 98
Rerror tag 1 ename 'unknown fid'
Twalk tag 1 fid 1 newfid 13
Rerror tag 1 ...
Twalk tag 1 fid 1 newfid 1 wname ..
Rerror tag 1 ...
`)
	if d := tc.stat(12); d.Name != "order" {
		t.Errorf("fid 12 is at %q, want order", d.Name)
	}
	if d := tc.stat(11); d.Name != "s" {
		t.Errorf("fid 11 is at %q after a failed walk, want s", d.Name)
	}
	// The longest walk 9P allows.
	w := &plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 30}
	var want []plan9.Qid
	for range plan9.MAXWELEM {
		w.Wname = append(w.Wname, "..")
		want = append(want, plan9.Qid{Path: rootPath, Vers: 1, Type: plan9.QTDIR})
	}
	r := tc.rpc(w)
	if diff := cmp.Diff(want, r.Wqid); r.Type != plan9.Rwalk || diff != "" {
		t.Errorf("16-name walk: %v (-want +got):\n%s", r, diff)
	}
	tc.sync()
}

// TestWalkTooLong checks that a walk of more than 16 names, which 9P
// cannot carry, closes the connection (SPEC §8.3, §8.9).
func TestWalkTooLong(t *testing.T) {
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
`)
	// Fcall.Bytes refuses to build it, so it is built by hand.
	msg := []byte{plan9.Twalk, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, plan9.MAXWELEM + 1, 0}
	for range plan9.MAXWELEM + 1 {
		msg = append(msg, 2, 0, '.', '.')
	}
	go tc.c.Write(append(le32(uint32(4+len(msg))), msg...))
	tc.closed()
}

// TestOpenModes checks Topen's modes (SPEC §8.4).
func TestOpenModes(t *testing.T) {
	tests := []struct {
		path, mode, want string
	}{
		{"g", "OREAD", "Ropen tag 1 qid 0x4.1.d iounit 8192"},
		{"g", "OREAD|ORCLOSE", "Ropen tag 1 ..."},
		{"g", "OWRITE", "Rerror tag 1 ename 'is a directory'"},
		{"g", "ORDWR", "Rerror tag 1 ename 'is a directory'"},
		{"g", "OEXEC", "Rerror tag 1 ename 'is a directory'"},
		{"g", "OREAD|OTRUNC", "Rerror tag 1 ename 'is a directory'"},
		{"g s", "OREAD", "Ropen tag 1 qid 0x7.0.a iounit 8192"},
		{"g s", "OWRITE", "Ropen tag 1 qid 0x7.0.a iounit 8192"},
		{"g s", "ORDWR", "Ropen tag 1 qid 0x7.0.a iounit 8192"},
		{"g s", "OWRITE|OTRUNC", "Ropen tag 1 qid 0x7.0.a iounit 8192"},
		{"g s", "OEXEC", "Rerror tag 1 ename 'permission denied'"},
		{"g ctl", "ORDWR", "Ropen tag 1 qid 0x5.0 iounit 8192"},
		{"g ctl", "OWRITE|OTRUNC", "Ropen tag 1 qid 0x5.0 iounit 8192"}, // echo ... >ctl
		{"g order", "OREAD", "Ropen tag 1 qid 0x6.0 iounit 8192"},
		{"g order", "OWRITE", "Rerror tag 1 ename 'permission denied'"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.mode, func(t *testing.T) {
			tc := dialTest(t, newTestTree(t))
			tc.run(setup + `
Twalk fid 0 newfid 10 wname [` + tt.path + `]
Rwalk ...
Topen tag 1 fid 10 mode ` + tt.mode + `
` + tt.want)
		})
	}
}

// TestOpenTwice checks that a fid opens once (SPEC §8.4).
func TestOpenTwice(t *testing.T) {
	dialTest(t, newTestTree(t)).run(setup + `
Topen tag 1 fid 2 mode OREAD
Rerror tag 1 ...
Tcreate tag 1 fid 2 name x perm --rw-rw-rw- mode OREAD
Rerror tag 1 ...
Topen tag 1 fid 99 mode OREAD
Rerror tag 1 ename 'unknown fid'
`)
}

// TestOpenTrunc checks that OTRUNC keeps a stream's history (SPEC §8.4).
func TestOpenTrunc(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Twrite tag 1 fid 3 data 'replay all'
Rwrite tag 1 count 10
Twrite tag 1 fid 2 data hello
Rwrite tag 1 count 5
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen tag 1 fid 4 mode OWRITE|OTRUNC
Ropen tag 1 qid 0x7.1.a iounit 8192
Twalk fid 0 newfid 5 wname [g s]
Rwalk ...
Topen tag 1 fid 5 mode OREAD
Ropen tag 1 ...
Tread tag 1 fid 5 count 100
Rread tag 1 data hello
`)
	if d := tc.stat(4); d.Length != 5 {
		t.Errorf("length after OTRUNC = %d, want 5", d.Length)
	}
}

// TestCreateExisting checks create on a name already taken (SPEC §3.2, §8.4).
func TestCreateExisting(t *testing.T) {
	for _, name := range []string{"s", "ctl", "order"} {
		for _, perm := range []string{"--rw-rw-rw-", "d-rwxrwxrwx"} {
			t.Run(name+" "+perm, func(t *testing.T) {
				dialTest(t, newTestTree(t)).run(setup + `
Twalk fid 0 newfid 3 wname g
Rwalk ...
Tcreate tag 1 fid 3 name ` + name + ` perm ` + perm + ` mode OREAD
Rerror tag 1 ename 'file already exists'
`)
			})
		}
	}
}

// TestRclose checks ORCLOSE: the file goes at clunk, with write
// permission on its parent, and when the connection goes (SPEC §8.4, §8.8).
func TestRclose(t *testing.T) {
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen tag 1 fid 3 mode OREAD|ORCLOSE
Ropen tag 1 ...
Tclunk tag 1 fid 3
Rclunk tag 1
Twalk tag 1 fid 0 newfid 3 wname [g s]
Rwalk tag 1 wqid 0x4.2.d
# A group: removed if empty.
Twalk fid 0 newfid 4 wname g
Rwalk ...
Tcreate tag 1 fid 4 name h perm d-rwxrwxr-x mode OREAD|ORCLOSE
Rcreate tag 1 ...
Tclunk tag 1 fid 4
Rclunk tag 1
Twalk tag 1 fid 0 newfid 4 wname [g h]
Rwalk tag 1 wqid 0x4.4.d
# Without write permission on the parent, ORCLOSE is refused.
Tattach tag 1 fid 20 afid NOFID uname bob aname ''
Rattach tag 1 ...
Twalk tag 1 fid 0 newfid 5 wname g
Rwalk tag 1 ...
Tcreate tag 1 fid 5 name t perm --rw-rw-rw- mode OWRITE
Rcreate tag 1 ...
Twalk tag 1 fid 20 newfid 21 wname [g t]
Rwalk tag 1 ...
Topen tag 1 fid 21 mode OREAD|ORCLOSE
Rerror tag 1 ename 'permission denied'
Topen tag 1 fid 21 mode OREAD
Ropen tag 1 ...
Tclunk tag 1 fid 21
Rclunk tag 1
Twalk tag 1 fid 20 newfid 21 wname [g t]
Rwalk tag 1 ...
`)
	// A connection that goes away honours its fids' ORCLOSE; the parked
	// read of another connection sees the stream removed.
	other := dialTest(t, tr)
	other.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 ...
Tattach fid 0 afid NOFID uname glenda aname g
Rattach ...
Twalk fid 0 newfid 1 wname t
Rwalk ...
Topen fid 1 mode OREAD|ORCLOSE
Ropen ...
`)
	tc.run(`
Twalk tag 1 fid 0 newfid 6 wname [g t]
Rwalk tag 1 ...
Topen tag 1 fid 6 mode OREAD
Ropen tag 1 ...
`)
	tc.send(parse(t, "Tread tag 2 fid 6 count 100"))
	other.c.Close()
	tc.run(`
Rread tag 2
Twalk tag 1 fid 0 newfid 7 wname [g t]
Rwalk tag 1 wqid 0x4.6.d
`)
}

// TestExclusive checks DMEXCL: one open fid at a time (SPEC §8.4).
func TestExclusive(t *testing.T) {
	tr := newTestTree(t)
	tc := dialTest(t, tr)
	tc.run(setup + `
Twalk fid 0 newfid 3 wname g
Rwalk ...
Tcreate tag 1 fid 3 name x perm -lrw-rw-rw- mode OWRITE
Rcreate tag 1 qid 0x8.0.al iounit 8192
Twalk fid 0 newfid 4 wname [g x]
Rwalk tag 0 wqid [0x4.2.d 0x8.0.al]
Topen tag 1 fid 4 mode OREAD
Rerror tag 1 ename 'file in use'
`)
	other := dialTest(t, tr)
	other.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 ...
Tattach fid 0 afid NOFID uname glenda aname g
Rattach ...
Twalk fid 0 newfid 1 wname x
Rwalk ...
Topen tag 1 fid 1 mode OWRITE
Rerror tag 1 ename 'file in use'
`)
	tc.run(`
Tclunk tag 1 fid 3
Rclunk tag 1
Topen tag 1 fid 4 mode OREAD
Ropen tag 1 qid 0x8.0.al iounit 8192
`)
	other.run(`
Topen tag 1 fid 1 mode OWRITE
Rerror tag 1 ename 'file in use'
`)
	if d := tc.stat(4); d.Mode != plan9.DMAPPEND|plan9.DMEXCL|0664 {
		t.Errorf("mode = %v, want al-rw-rw-r--", d.Mode)
	}
}

// dirEntries splits a directory read into its entries' names, failing
// unless the data is whole entries only.
func dirEntries(t *testing.T, data []byte) []string {
	t.Helper()
	var names []string
	for len(data) > 0 {
		if len(data) < 2 {
			t.Fatalf("partial entry: %x", data)
		}
		n := int(data[0]) | int(data[1])<<8 + 2
		if n > len(data) {
			t.Fatalf("partial entry: %x", data)
		}
		d, err := plan9.UnmarshalDir(data[:n])
		if err != nil {
			t.Fatalf("bad entry: %v", err)
		}
		names = append(names, d.Name)
		data = data[n:]
	}
	return names
}

// TestDirRead checks that directory reads pack whole entries and
// continue only where the last one ended (SPEC §8.5).
func TestDirRead(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname g
Rwalk ...
Tcreate tag 1 fid 3 name sub perm d-rwxrwxr-x mode OREAD
Rcreate tag 1 ...
Twalk fid 0 newfid 4 wname g
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
`)
	read := func(off uint64, count uint32) *plan9.Fcall {
		return tc.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 4, Offset: off, Count: count})
	}
	r := read(0, 8192)
	all := r.Data
	if diff := cmp.Diff([]string{"ctl", "order", "s", "sub"}, dirEntries(t, all)); diff != "" {
		t.Fatalf("entries (-want +got):\n%s", diff)
	}
	if r := read(uint64(len(all)), 8192); r.Type != plan9.Rread || len(r.Data) != 0 {
		t.Errorf("read at the end: %v, want 0 bytes", r)
	}

	// Entry sizes, to choose counts that cut between them.
	var sizes []int
	for b := all; len(b) > 0; {
		n := int(b[0]) | int(b[1])<<8 + 2
		sizes = append(sizes, n)
		b = b[n:]
	}
	if r := read(0, uint32(sizes[0]-1)); r.Type != plan9.Rerror || r.Ename != "read count too small" {
		t.Errorf("count below one entry: %v, want Rerror read count too small", r)
	}
	// One and a half entries' room gives one entry; the rest follows
	// from where it ended.
	var got []byte
	off := uint64(0)
	for {
		r := read(off, uint32(sizes[0]+sizes[1]/2))
		if r.Type != plan9.Rread {
			t.Fatalf("read at %d: %v", off, r)
		}
		if len(r.Data) == 0 {
			break
		}
		dirEntries(t, r.Data)
		got = append(got, r.Data...)
		off += uint64(len(r.Data))
	}
	if diff := cmp.Diff(dirEntries(t, all), dirEntries(t, got)); diff != "" {
		t.Errorf("piecewise read (-want +got):\n%s", diff)
	}

	// Offsets other than 0 and the end of the last read are refused.
	read(0, uint32(sizes[0]))
	for _, off := range []uint64{1, uint64(sizes[0] + 1), uint64(sizes[0] + sizes[1]), 1 << 40} {
		r := read(off, 8192)
		if r.Type != plan9.Rerror || r.Ename != "bad offset in directory read" {
			t.Errorf("read at %d: %v, want Rerror bad offset in directory read", off, r)
		}
	}
	if r := read(uint64(sizes[0]), 8192); r.Type != plan9.Rread || len(dirEntries(t, r.Data)) != 3 {
		t.Errorf("read at %d: %v, want the other 3 entries", sizes[0], r)
	}
	tc.sync()
}

// TestFlush checks Tflush (SPEC §8.6).
func TestFlush(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
# A parked read is abandoned with no reply of its own.
Tread tag 1 fid 3 count 100
Tflush tag 2 oldtag 1
Rflush tag 2
# Unknown and finished tags just get Rflush.
Tflush tag 2 oldtag 1
Rflush tag 2
Tflush tag 2 oldtag 77
Rflush tag 2
Tflush tag 2 oldtag 2
Rflush tag 2
# The flushed read took nothing: the next read gets the message.
Twrite tag 4 fid 2 data hello
Rwrite tag 4 count 5
Tread tag 5 fid 3 count 100
Rread tag 5 data hello
`)
}

// TestFlushWaitingWriteFirst checks that a flushed waiting write is
// answered with Rwrite before, not just with, the Rflush (SPEC §5.3, §8.6).
func TestFlushWaitingWriteFirst(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Twrite tag 1 fid 3 data 'wait one'
Rwrite tag 1 count 8
`)
	tc.send(parse(t, "Twrite tag 7 fid 2 data waiting"))
	tc.send(parse(t, "Tflush tag 8 oldtag 7"))
	if r := tc.reply(8); r.Type != plan9.Rflush {
		t.Fatalf("Tflush: %v, want Rflush", r)
	}
	// reply keeps what arrived before the Rflush.
	if len(tc.got) != 1 || tc.got[0].String() != "Rwrite tag 7 count 7" {
		t.Fatalf("before Rflush came %v, want [Rwrite tag 7 count 7]", tc.got)
	}
	tc.reply(7)
	tc.sync()
}

// TestFidRelease checks that Tclunk and Tremove free the fid even when
// they fail, and that bad fids get Rerror (SPEC §8.7).
func TestFidRelease(t *testing.T) {
	dialTest(t, newTestTree(t)).run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Tremove tag 1 fid 3
Rerror tag 1 ename 'permission denied'
Tstat tag 1 fid 3
Rerror tag 1 ename 'unknown fid'
Twalk fid 0 newfid 3 wname g
Rwalk ...
Tremove tag 1 fid 3
Rerror tag 1 ename 'directory not empty'
Tclunk tag 1 fid 3
Rerror tag 1 ename 'unknown fid'
Tremove tag 1 fid 3
Rerror tag 1 ename 'unknown fid'
Tread tag 1 fid 3 count 10
Rerror tag 1 ename 'unknown fid'
Twrite tag 1 fid 3 data zzz
Rerror tag 1 ename 'unknown fid'
Tstat tag 1 fid 3
Rerror tag 1 ename 'unknown fid'
Twstat tag 1 fid 3 stat ()
Rerror tag 1 ename 'unknown fid'
Tcreate tag 1 fid 3 name x perm --rw-rw-rw- mode OREAD
Rerror tag 1 ename 'unknown fid'
Twalk fid 0 newfid 3 wname g
Rwalk ...
Tclunk tag 1 fid 3
Rclunk tag 1
Tclunk tag 1 fid 3
Rerror tag 1 ename 'unknown fid'
`)
}

// TestTagInUse checks that a request reusing a pending tag is refused
// while the pending one is still answered (SPEC §8.7).
func TestTagInUse(t *testing.T) {
	dialTest(t, newTestTree(t)).run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Tread tag 1 fid 3 count 100
Tstat tag 1 fid 0
Rerror tag 1 ename 'tag in use'
Twrite tag 2 fid 2 data hello
Rwrite tag 2 count 5
Rread tag 1 data hello
Tstat tag 1 fid 0
Rstat tag 1 ...
`)
}

// TestFlushTagInUse checks that a Tflush whose own tag is pending gets
// Rerror "tag in use" and flushes nothing: both pending requests are
// answered in due course (SPEC §8.7).
func TestFlushTagInUse(t *testing.T) {
	dialTest(t, newTestTree(t)).run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
Tread tag 1 fid 3 count 100
Tread tag 2 fid 4 count 100
Tflush tag 1 oldtag 2
Rerror tag 1 ename 'tag in use'
Tflush tag 2 oldtag 2
Rerror tag 2 ename 'tag in use'
Twrite tag 5 fid 2 data hello
Rwrite tag 5 count 5
Rread tag 1 data hello
Rread tag 2 data hello
`)
}

// TestMalformed checks that a malformed message closes its connection
// and nothing else (SPEC §8.9).
func TestMalformed(t *testing.T) {
	version := mustBytes(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"})
	attach := mustBytes(&plan9.Fcall{Type: plan9.Tattach, Tag: 1, Afid: plan9.NOFID, Uname: "glenda"})
	tests := []struct {
		name string
		msg  []byte
	}{
		{"size 0", le32(0)},
		{"size 4", le32(4)},
		{"size 6", append(le32(6), 100, 0)},
		{"size over msize", append(le32(8217), make([]byte, 8213)...)},
		{"size 4G", le32(0xffffffff)},
		{"unknown type", append(le32(7), 99, 1, 0)},
		{"Terror", append(le32(7), plan9.Terror, 1, 0)},
		{"R-message", mustBytes(&plan9.Fcall{Type: plan9.Rclunk, Tag: 1})},
		{"truncated Twalk", append(le32(11), plan9.Twalk, 1, 0, 0, 0, 0, 0)},
		{"Twrite count past end", append(le32(23), plan9.Twrite, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0)},
		{"trailing bytes", append(le32(12), plan9.Tclunk, 1, 0, 0, 0, 0, 0, 9)},
		{"string past end", append(le32(13), plan9.Tversion, 1, 0, 0, 32, 0, 0, 50, 0)},
	}
	tr := newTestTree(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bystander := dialTest(t, tr)
			bystander.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
`)
			tc := dialTest(t, tr)
			tc.sendRaw(version)
			tc.reply(plan9.NOTAG)
			tc.sendRaw(attach)
			tc.reply(1)
			// The server may close before taking it all.
			go tc.c.Write(tt.msg)
			tc.closed()
			bystander.run(`
Tstat tag 1 fid 0
Rstat tag 1 ...
`)
		})
	}
}

// TestCheckMsg checks that what checkMsg passes UnmarshalFcall decodes,
// and that what it refuses never reaches UnmarshalFcall, which would
// write about it on standard error (SPEC §8.9).
func TestCheckMsg(t *testing.T) {
	good := []*plan9.Fcall{
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"},
		{Type: plan9.Tauth, Afid: 1, Uname: "glenda", Aname: ""},
		{Type: plan9.Tattach, Fid: 0, Afid: plan9.NOFID, Uname: "glenda", Aname: "g"},
		{Type: plan9.Tflush, Oldtag: 3},
		{Type: plan9.Twalk, Fid: 0, Newfid: 1},
		{Type: plan9.Twalk, Fid: 0, Newfid: 1, Wname: strings.Split("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", "/")},
		{Type: plan9.Topen, Fid: 1, Mode: plan9.OREAD},
		{Type: plan9.Tcreate, Fid: 1, Name: "s", Perm: 0666, Mode: plan9.OWRITE},
		{Type: plan9.Tread, Fid: 1, Offset: 9, Count: 100},
		{Type: plan9.Twrite, Fid: 1, Data: []byte("hello")},
		{Type: plan9.Tclunk, Fid: 1},
		{Type: plan9.Tremove, Fid: 1},
		{Type: plan9.Tstat, Fid: 1},
		{Type: plan9.Twstat, Fid: 1, Stat: mustDir(nulldir())},
	}
	for _, f := range good {
		b := mustBytes(f)
		if err := checkMsg(b); err != nil {
			t.Errorf("%v: %v, want nil", f, err)
		}
		// Every shorter size, every longer one, and every single
		// byte changed: what checkMsg passes must decode.
		for n := 0; n < len(b)+3; n++ {
			c := append([]byte(nil), b...)
			if n < len(b) {
				c = c[:n]
			} else {
				c = append(c, make([]byte, n-len(b)+1)...)
			}
			if len(c) >= 4 {
				binary.LittleEndian.PutUint32(c, uint32(len(c)))
			}
			if checkMsg(c) == nil {
				if _, err := plan9.UnmarshalFcall(c); err != nil {
					t.Errorf("%v cut to %d bytes: checkMsg passes what UnmarshalFcall refuses", f, n)
				}
			}
		}
		for i := 4; i < len(b); i++ {
			for _, v := range []byte{0, 1, 16, 17, 0xff} {
				c := append([]byte(nil), b...)
				c[i] = v
				if checkMsg(c) == nil {
					if _, err := plan9.UnmarshalFcall(c); err != nil {
						t.Errorf("%v with byte %d = %d: checkMsg passes what UnmarshalFcall refuses", f, i, v)
					}
				}
			}
		}
	}
	bad := []struct {
		name string
		msg  []byte
	}{
		{"size 6", append(le32(6), 100, 0)},
		{"size not the length", append(le32(12), plan9.Tclunk, 1, 0, 0, 0, 0, 0)},
		{"unknown type", append(le32(7), 99, 1, 0)},
		{"Terror", append(le32(7), plan9.Terror, 1, 0)},
		{"R-message", mustBytes(&plan9.Fcall{Type: plan9.Rclunk, Tag: 1})},
		{"truncated Twalk", append(le32(11), plan9.Twalk, 1, 0, 0, 0, 0, 0)},
		{"Twalk of 17 names", append(le32(17), plan9.Twalk, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 17, 0)},
		{"Twalk name past end", append(le32(19), plan9.Twalk, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 5, 0)},
		{"Twrite count past end", append(le32(23), plan9.Twrite, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0)},
		{"Twrite count 4G", append(le32(23), plan9.Twrite, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)},
		{"Twstat stat past end", append(le32(13), plan9.Twstat, 1, 0, 0, 0, 0, 0, 9, 0)},
		{"trailing bytes", append(le32(12), plan9.Tclunk, 1, 0, 0, 0, 0, 0, 9)},
		{"string past end", append(le32(13), plan9.Tversion, 1, 0, 0, 32, 0, 0, 50, 0)},
	}
	for _, tt := range bad {
		if err := checkMsg(tt.msg); err == nil {
			t.Errorf("%s: checkMsg passes it", tt.name)
		} else {
			t.Logf("%s: %v", tt.name, err)
		}
	}
}

// TestTraceClose checks that with -D one trace line says why a
// connection was closed (SPEC §8.9).
func TestTraceClose(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"hang up", nil, "client hung up"},
		{"half a message", le32(20), "client hung up part way through a message"},
		{"size over msize", le32(8217), "bad message size 8217"},
		{"unknown type", append(le32(7), 99, 1, 0), "unknown message type 99"},
		{"R-message", mustBytes(&plan9.Fcall{Type: plan9.Rclunk, Tag: 1}), "unknown message type 121"},
		{"truncated Twalk", append(le32(11), plan9.Twalk, 1, 0, 0, 0, 0, 0), "malformed Twalk: truncated"},
		{"trailing bytes", append(le32(12), plan9.Tclunk, 1, 0, 0, 0, 0, 0, 9), "malformed Tclunk: 1 bytes too many"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace lockedBuffer
			cli, srv := net.Pipe()
			s := newServer(newTestTree(t), &trace)
			done := make(chan struct{})
			go func() {
				s.serve(srv, 7)
				close(done)
			}()
			if err := plan9.WriteFcall(cli, parse(t, "Tversion tag 65535 msize 8216 version 9P2000")); err != nil {
				t.Fatal(err)
			}
			if _, err := plan9.ReadFcall(cli); err != nil {
				t.Fatal(err)
			}
			go func() {
				cli.Write(tt.msg)
				cli.Close()
			}()
			<-done
			s.trace.flush(0)
			lines := strings.Split(strings.TrimSuffix(trace.String(), "\n"), "\n")
			want := []string{"<-7- Tversion tag 65535 msize 8216 version '9P2000'",
				"-7-> Rversion tag 65535 msize 8216 version '9P2000'",
				"mq: connection 7 closed: " + tt.want}
			if diff := cmp.Diff(want, lines); diff != "" {
				t.Errorf("trace (-want +got):\n%s", diff)
			}
		})
	}
}

// stuckWriter is a standard error that nobody reads: writes block
// until it is let go.
type stuckWriter struct {
	lockedBuffer
	free chan struct{}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	<-w.free
	return w.lockedBuffer.Write(p)
}

// TestTraceStuck checks that a -D trace that cannot be written holds
// up no client: lines that do not fit are dropped and counted
// (SPEC §8.9).
func TestTraceStuck(t *testing.T) {
	w := &stuckWriter{free: make(chan struct{})}
	tr := newTestTree(t)
	s := newServer(tr, w)
	tc := dialServer(t, s)
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
`)
	// Each round trip traces four lines of over 60 bytes: these are
	// well over maxTrace.
	msg := strings.Repeat("x", 100)
	for i := range 2 * maxTrace / 200 {
		tag := uint16(10 + i%1000)
		tc.send(&plan9.Fcall{Type: plan9.Twrite, Tag: tag, Fid: 2, Data: []byte(msg)})
		if r := tc.reply(tag); r.Type != plan9.Rwrite {
			t.Fatalf("write %d: %v", i, r)
		}
		tc.send(&plan9.Fcall{Type: plan9.Tread, Tag: tag, Fid: 3, Count: 8192})
		if r := tc.reply(tag); r.Type != plan9.Rread {
			t.Fatalf("read %d: %v", i, r)
		}
	}
	tc.sync()
	close(w.free)
	s.trace.flush(0)
	tc.run("Tstat tag 1 fid 3\nRstat tag 1 ...")
	s.trace.flush(0)
	got := w.String()
	if len(got) > maxTrace+1000 {
		t.Errorf("trace of %d bytes, more than the %d held", len(got), maxTrace)
	}
	dropped := regexp.MustCompile(`(?m)^mq: [0-9]+ trace lines dropped$`).FindStringIndex(got)
	if dropped == nil {
		t.Fatalf("no line counts the lines dropped")
	}
	// Once the trace could be written, it went on whole.
	if !strings.Contains(got[dropped[1]:], "\n-3-> Rstat tag 1 ") {
		t.Errorf("the Rstat after standard error came free is not traced after the lines dropped")
	}
}

func mustBytes(f *plan9.Fcall) []byte {
	b, err := f.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

// TestErrorStrings checks Plan 9's error strings for common failures
// (SPEC §8.10).
func TestErrorStrings(t *testing.T) {
	dialTest(t, newTestTree(t)).run(setup + `
Twalk tag 1 fid 0 newfid 10 wname nosuch
Rerror tag 1 ename 'file does not exist'
Twalk fid 0 newfid 10 wname g
Rwalk ...
Tcreate tag 1 fid 10 name s perm --rw-rw-rw- mode OREAD
Rerror tag 1 ename 'file already exists'
Twalk fid 0 newfid 11 wname [g ctl]
Rwalk ...
Tcreate tag 1 fid 11 name x perm --rw-rw-rw- mode OREAD
Rerror tag 1 ename 'not a directory'
Topen tag 1 fid 10 mode OWRITE
Rerror tag 1 ename 'is a directory'
Tremove tag 1 fid 10
Rerror tag 1 ename 'directory not empty'
Tstat tag 1 fid 10
Rerror tag 1 ename 'unknown fid'
Twalk fid 0 newfid 12 wname [g order]
Rwalk ...
Topen tag 1 fid 12 mode OWRITE
Rerror tag 1 ename 'permission denied'
Twalk fid 0 newfid 12 wname g
Rerror tag 0 ename 'fid in use'
`)
}

// A Twstat whose stat cannot be decoded gets Plan 9's error for it,
// not a library's words (SPEC §8.10), and changes nothing.
func TestWstatMalformed(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup)
	before := tc.stat(0)
	good, err := (&plan9.Dir{Name: "x", Mode: 0777 | plan9.DMDIR}).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, stat := range [][]byte{
		{1, 2, 3, 4, 5},
		good[:len(good)-1],
		append(good[:len(good):len(good)], 0),
		{0, 0},
	} {
		r := tc.rpc(&plan9.Fcall{Type: plan9.Twstat, Tag: 1, Fid: 0, Stat: stat})
		if want := "malformed stat buffer"; r.Type != plan9.Rerror || r.Ename != want {
			t.Errorf("Twstat of %d bytes %x: %v; want Rerror %q", len(stat), stat, r, want)
		}
	}
	if diff := cmp.Diff(before, tc.stat(0)); diff != "" {
		t.Errorf("root changed (-before +after):\n%s", diff)
	}
	tc.sync()
}

// lockedBuffer collects a -D trace written while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTrace checks that -D traces each message in lib9p's form: <-N-
// before T-messages, -N-> before replies, and the message as Plan 9's
// %F prints it (SPEC §2).
func TestTrace(t *testing.T) {
	var trace lockedBuffer
	cli, srv := net.Pipe()
	defer cli.Close()
	tr := newTestTree(t)
	s := newServer(tr, &trace)
	done := make(chan struct{})
	go func() {
		s.serve(srv, 5)
		close(done)
	}()
	br := bufio.NewReader(cli)
	for _, line := range []string{
		"Tversion tag 65535 msize 8216 version 9P2000",
		"Tattach tag 1 fid 0 afid NOFID uname glenda aname ''",
		"Twalk tag 2 fid 0 newfid 1 wname nosuch",
		"Twalk tag 3 fid 0 newfid 1 wname [ctl]",
		"Topen tag 4 fid 1 mode OREAD",
		"Tread tag 5 fid 1 offset 0 count 13",
	} {
		if err := plan9.WriteFcall(cli, parse(t, line)); err != nil {
			t.Fatal(err)
		}
		if _, err := plan9.ReadFcall(br); err != nil {
			t.Fatal(err)
		}
	}
	cli.Close()
	<-done
	s.trace.flush(0)
	want := []string{
		"<-5- Tversion tag 65535 msize 8216 version '9P2000'",
		"-5-> Rversion tag 65535 msize 8216 version '9P2000'",
		"<-5- Tattach tag 1 fid 0 afid -1 uname glenda aname ",
		"-5-> Rattach tag 1 qid (a000000000000000 0 d)",
		"<-5- Twalk tag 2 fid 0 newfid 1 nwname 1 0:nosuch ",
		"-5-> Rerror tag 2 ename file does not exist",
		"<-5- Twalk tag 3 fid 0 newfid 1 nwname 1 0:ctl ",
		"-5-> Rwalk tag 3 nwqid 1 0:(0000000000000002 0 ) ",
		"<-5- Topen tag 4 fid 1 mode 0",
		"-5-> Ropen tag 4 qid (0000000000000002 0 ) iounit 8192 ",
		"<-5- Tread tag 5 fid 1 offset 0 count 13",
		"-5-> Rread tag 5 count 13 '64617461 206d6573 73616765 0a'",
		"mq: connection 5 closed: client hung up",
	}
	got := strings.Split(strings.TrimSuffix(trace.String(), "\n"), "\n")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	for _, l := range want[:2] {
		t.Log(l)
	}
}

// TestReadsFitMsize checks that no read reply outgrows a small msize,
// whatever count the client asks for (SPEC §8.1).
func TestReadsFitMsize(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(`
Tversion tag 65535 msize 256 version 9P2000
Rversion tag 65535 msize 256 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
`)
	mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
	mustOK(t, "ctl", tc.put("g/ctl", "data coalesce\nreplay all"))
	for i := range 20 {
		name := fmt.Sprintf("stream-with-a-long-name-%02d", i)
		mustOK(t, "touch", tc.create("g/"+name, 0664))
		mustOK(t, "write", tc.put("g/"+name, strings.Repeat("x", 200)))
	}
	for _, p := range []string{"g", "g/stream-with-a-long-name-00", "g/order", "g/ctl"} {
		mustOK(t, "open "+p, tc.openAt(1, p, plan9.OREAD))
		r := tc.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 1, Count: 1 << 20})
		b, _ := r.Bytes()
		if r.Type != plan9.Rread || len(b) > 256 || len(r.Data) == 0 {
			t.Errorf("read of %s with count 1M under msize 256: %d bytes, %v", p, len(b), r)
		}
		tc.clunk(1)
	}
}

// TestRandomRequests sends a long seeded run of well-formed requests
// with arbitrary fields, each followed by a Tflush: every request must
// be settled by the Rflush, with at most one reply of its own, and none
// may crash the server or close the connection (SPEC §8.6, §8.7, §8.9).
func TestRandomRequests(t *testing.T) {
	for seed := range int64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			randomRequests(t, seed, 2000)
		})
	}
}

func randomRequests(t *testing.T, seed int64, n int) {
	rnd := rand.New(rand.NewSource(seed))
	tr := newTestTree(t)
	tc := session(t, tr, "glenda")
	mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
	mustOK(t, "touch g/s", tc.create("g/s", 0664))
	names := []string{"g", "s", "t", "ctl", "order", "..", "h", "x"}
	paths := []string{"", "g", "g/s", "g/t", "g/ctl", "g/order", "ctl", "order", "g/h", "g/h/ctl", "g/h/s"}
	users := []string{"glenda", "bob", ""}
	ctls := []string{"replay all", "replay last", "replay off", "data coalesce", "data static",
		"data message", "depth 2", "depth 5b", "depth 0", "wait one", "wait all", "wait off",
		"clear", "eof", "eof s", "eof nosuch", "frob", ""}
	perms := []plan9.Perm{0, plan9.DMDIR, plan9.DMEXCL, plan9.DMAPPEND}
	pick := func(s []string) string { return s[rnd.Intn(len(s))] }
	// Request kinds, weighted so that fids get walked and opened.
	ops := []int{0, 1, 1, 1, 1, 1, 3, 3, 3, 4, 4, 5, 5, 7, 7, 7, 8, 9, 10, 11, 12}
	// Fid 0 stays on the root, for walks to start from.
	fid := func() uint32 { return uint32(1 + rnd.Intn(7)) }
	for i := range n {
		f := &plan9.Fcall{Tag: 1, Fid: fid()}
		switch ops[rnd.Intn(len(ops))] {
		case 0:
			f.Type, f.Afid, f.Uname, f.Aname = plan9.Tattach, plan9.NOFID, pick(users), pick([]string{"", "g", "g/h", "x"})
		case 1:
			f.Type, f.Newfid = plan9.Twalk, fid()
			if rnd.Intn(3) > 0 {
				f.Fid, f.Wname = 0, split(pick(paths))
				break
			}
			for range rnd.Intn(4) {
				f.Wname = append(f.Wname, pick(names))
			}
		case 3:
			f.Type, f.Mode = plan9.Topen, uint8(rnd.Intn(4))|[]uint8{0, plan9.OTRUNC, plan9.ORCLOSE}[rnd.Intn(3)]
		case 4:
			f.Type, f.Name, f.Mode = plan9.Tcreate, pick(names), uint8(rnd.Intn(3))
			f.Perm = plan9.Perm(rnd.Intn(01000)) | perms[rnd.Intn(len(perms))]
		case 5:
			f.Type, f.Offset, f.Count = plan9.Tread, uint64(rnd.Intn(300)), uint32(rnd.Intn(300))
		case 7:
			f.Type, f.Data = plan9.Twrite, []byte(pick(ctls))
		case 8:
			f.Type = plan9.Tclunk
		case 9:
			f.Type = plan9.Tremove
		case 10:
			f.Type = plan9.Tstat
		case 11:
			d := nulldir()
			switch rnd.Intn(5) {
			case 0:
				d.Name = pick(names)
			case 1:
				d.Mode = plan9.Perm(rnd.Intn(01000)) | perms[rnd.Intn(len(perms))]
			case 2:
				d.Length = uint64(rnd.Intn(3))
			case 3:
				d.Gid = pick(users)
			}
			f.Type, f.Stat = plan9.Twstat, mustDir(d)
		case 12:
			f.Type, f.Oldtag = plan9.Tflush, uint16(rnd.Intn(3))
		}
		tc.send(f)
		tc.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 2, Oldtag: 1})
		if r := tc.reply(2); r.Type != plan9.Rflush {
			t.Fatalf("request %d, %v: its flush got %v", i, f, r)
		}
		if len(tc.got) > 1 || len(tc.got) == 1 && tc.got[0].Tag != 1 {
			t.Fatalf("request %d, %v: replies %v", i, f, tc.got)
		}
		tc.got = tc.got[:0]
	}
	tc.sync()
	session(t, tr, "glenda").sync()
}

func mustDir(d plan9.Dir) []byte {
	b, err := d.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

// TestClunkInterrupts checks that clunking a fid ends the reads parked
// on it with "interrupted", and disturbs no other fid (SPEC §8.7, §8.10).
func TestClunkInterrupts(t *testing.T) {
	dialTest(t, newTestTree(t)).run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
Tread tag 1 fid 3 count 100
Tread tag 2 fid 3 count 100
Tread tag 3 fid 4 count 100
Tclunk tag 4 fid 3
Rerror tag 1 ename interrupted
Rerror tag 2 ename interrupted
Rclunk tag 4
Twrite tag 5 fid 2 data hello
Rwrite tag 5 count 5
Rread tag 3 data hello
`)
}
