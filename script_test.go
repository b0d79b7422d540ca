package main

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
)

// A script is a 9P transcript, as in 9fans.net/go/plan9/srv9p's tests:
// each T line is sent; each R line names the reply expected for its
// tag (tag 0 when none is written). Replies may come in any order, but
// every reply must be expected: at the end the script checks that
// nothing else arrived. A reply line ending in "..." matches any reply
// of that type. Lines starting with # are comments.

// testConn is a client connection to an in-process server.
type testConn struct {
	t       *testing.T
	c       net.Conn
	replies chan *plan9.Fcall
	got     []*plan9.Fcall // received, not yet matched
}

func newTestTree(tb testing.TB) *tree {
	t := newTree("glenda", nil, 1<<20)
	if os.Getenv("MQTEST_LOG") != "" {
		// The whole suite over a log: it goes when the test ends, so
		// that its goroutines do not outlive the knobs a later test sets.
		l, err := openLog(tb.TempDir(), os.Getenv("MQTEST_LOG") == "S", t, os.Stderr)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(l.close)
	}
	return t
}

// dialTest starts a session on tr and returns its client end.
func dialTest(t *testing.T, tr *tree) *testConn {
	t.Helper()
	return dialServer(t, newServer(tr, nil))
}

// dialServer starts a session of s, as connection 3, and returns its
// client end.
func dialServer(t *testing.T, s *server) *testConn {
	t.Helper()
	cli, srv := net.Pipe()
	go s.serve(srv, 3)
	tc := &testConn{t: t, c: cli, replies: make(chan *plan9.Fcall, 1000)}
	go func() {
		defer close(tc.replies)
		br := bufio.NewReader(cli)
		for {
			f, err := plan9.ReadFcall(br)
			if err != nil {
				return
			}
			tc.replies <- f
		}
	}()
	t.Cleanup(func() { cli.Close() })
	return tc
}

func (tc *testConn) sendRaw(b []byte) {
	tc.t.Helper()
	if _, err := tc.c.Write(b); err != nil {
		tc.t.Fatalf("write: %v", err)
	}
}

func (tc *testConn) send(f *plan9.Fcall) {
	tc.t.Helper()
	b, err := f.Bytes()
	if err != nil {
		tc.t.Fatalf("marshal %v: %v", f, err)
	}
	tc.sendRaw(b)
}

// reply waits for the reply with tag.
func (tc *testConn) reply(tag uint16) *plan9.Fcall {
	tc.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		for i, f := range tc.got {
			if f.Tag == tag {
				tc.got = append(tc.got[:i], tc.got[i+1:]...)
				return f
			}
		}
		select {
		case f, ok := <-tc.replies:
			if !ok {
				tc.t.Fatalf("connection closed while waiting for tag %d", tag)
			}
			tc.got = append(tc.got, f)
		case <-timeout:
			tc.t.Fatalf("no reply for tag %d; unmatched replies: %v", tag, tc.got)
		}
	}
}

// rpc sends f and returns its reply.
func (tc *testConn) rpc(f *plan9.Fcall) *plan9.Fcall {
	tc.t.Helper()
	tc.send(f)
	return tc.reply(f.Tag)
}

// sync checks that no reply is outstanding that the script did not
// expect: the server answers a connection's requests in the order it
// settles them, so anything owed comes before the Rflush of this probe.
func (tc *testConn) sync() {
	tc.t.Helper()
	const probe = 0xfffe
	tc.send(&plan9.Fcall{Type: plan9.Tflush, Tag: probe, Oldtag: probe - 1})
	r := tc.reply(probe)
	if r.Type != plan9.Rflush {
		tc.t.Fatalf("probe flush got %v", r)
	}
	if len(tc.got) > 0 {
		tc.t.Fatalf("unexpected replies: %v", tc.got)
	}
}

// run plays a transcript.
func (tc *testConn) run(script string) {
	tc.t.Helper()
	for i, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		prefix := strings.HasSuffix(line, "...")
		text := strings.TrimSpace(strings.TrimSuffix(line, "..."))
		want, err := plan9.ParseFcall(text)
		if err != nil {
			tc.t.Fatalf("line %d: %q: %v", i+1, line, err)
		}
		if want.Type%2 == 0 {
			tc.send(want)
			continue
		}
		got := tc.reply(want.Tag)
		if prefix && got.Type == want.Type {
			continue
		}
		if gs, ws := got.String(), want.String(); gs != ws {
			tc.t.Fatalf("line %d: %s\n got %s\nwant %s", i+1, text, gs, ws)
		}
	}
	tc.sync()
}

// session opens a connection to tr attached as user on fid 0.
func session(t *testing.T, tr *tree, user string) *testConn {
	t.Helper()
	tc := dialTest(t, tr)
	tc.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname ` + user + ` aname ''
Rattach ...
`)
	return tc
}

// le32 encodes a message size for raw byte tests.
func le32(n uint32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, n)
	return b
}

var _ = io.EOF
