package main

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"9fans.net/go/plan9"
)

// benchSetup starts a session: the root on fid 0, and a group g with
// a stream s open for writing on fid 2.
func benchSetup() []*plan9.Fcall {
	return []*plan9.Fcall{
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"},
		{Type: plan9.Tattach, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"},
		{Type: plan9.Twalk, Fid: 0, Newfid: 1},
		{Type: plan9.Tcreate, Fid: 1, Name: "g", Perm: plan9.DMDIR | 0775},
		{Type: plan9.Twalk, Fid: 0, Newfid: 2, Wname: []string{"g"}},
		{Type: plan9.Tcreate, Fid: 2, Name: "s", Perm: 0664, Mode: plan9.OWRITE},
	}
}

// BenchmarkServePingPong is one Tread and one Twrite of 64 bytes on a
// stream through the whole 9P loop, over an in-memory pipe. The client
// side allocates nothing, so allocs/op is the server's per message
// pair. test/bench measures the same over a socketpair.
func BenchmarkServePingPong(b *testing.B) {
	cli, srv := net.Pipe()
	defer cli.Close()
	go newServer(newTestTree(b), nil).serve(srv, 3)
	rpc := func(f *plan9.Fcall) {
		if err := plan9.WriteFcall(cli, f); err != nil {
			b.Fatal(err)
		}
		r, err := plan9.ReadFcall(cli)
		if err != nil || r.Type != f.Type+1 {
			b.Fatalf("%v: %v %v", f, r, err)
		}
	}
	for _, f := range benchSetup() {
		rpc(f)
	}
	rpc(&plan9.Fcall{Type: plan9.Twalk, Fid: 0, Newfid: 3, Wname: []string{"g", "s"}})
	rpc(&plan9.Fcall{Type: plan9.Topen, Fid: 3, Mode: plan9.OREAD})

	data := make([]byte, 64)
	tread, _ := (&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 3, Count: 64}).Bytes()
	twrite, _ := (&plan9.Fcall{Type: plan9.Twrite, Tag: 2, Fid: 2, Data: data}).Bytes()
	req := append(tread, twrite...)
	reply := make([]byte, 256)
	recv := func() (typ uint8, n int) {
		if _, err := io.ReadFull(cli, reply[:4]); err != nil {
			b.Fatal(err)
		}
		n = int(binary.LittleEndian.Uint32(reply))
		if _, err := io.ReadFull(cli, reply[4:n]); err != nil {
			b.Fatal(err)
		}
		return reply[4], n
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cli.Write(req); err != nil {
			b.Fatal(err)
		}
		var got [2]uint8
		for i := range got {
			typ, n := recv()
			got[i] = typ
			if typ == plan9.Rread && n != 11+64 || typ != plan9.Rread && typ != plan9.Rwrite {
				b.Fatalf("reply type %d size %d", typ, n)
			}
		}
		if got[0] == got[1] {
			b.Fatalf("replies %v, want an Rread and an Rwrite", got)
		}
	}
}

// BenchmarkServeFanOut is the server's own work for one 64-byte
// Twrite reaching readers parked on 100 fids of one connection: the
// requests are handed to dispatch as the reading goroutine would, and
// the replies taken from the connection's queue, with no socket and no
// writer goroutine. ns/op and allocs/op are per delivery.
func BenchmarkServeFanOut(b *testing.B) {
	const readers = 100
	tr := newTestTree(b)
	c := newServer(tr, nil).newConn(nil, 3)
	do := func(f *plan9.Fcall) {
		tr.mu.Lock()
		ok := c.dispatch(f)
		tr.mu.Unlock()
		if !ok {
			b.Fatalf("%v: connection closed", f)
		}
	}
	replies := func(want int) {
		c.outMu.Lock()
		q := c.outq
		c.outq = q[:0]
		c.backlog.Store(0)
		c.outMu.Unlock()
		n := 0
		for ; len(q) > 0; n++ {
			if q[4] == plan9.Rerror {
				b.Fatalf("reply %d is an error", n)
			}
			q = q[binary.LittleEndian.Uint32(q):]
		}
		if n != want {
			b.Fatalf("%d replies, want %d", n, want)
		}
	}
	for _, f := range benchSetup() {
		do(f)
	}
	for i := range uint32(readers) {
		do(&plan9.Fcall{Type: plan9.Twalk, Fid: 0, Newfid: 10 + i, Wname: []string{"g", "s"}})
		do(&plan9.Fcall{Type: plan9.Topen, Fid: 10 + i, Mode: plan9.OREAD})
	}
	replies(6 + 2*readers)
	tread := plan9.Fcall{Type: plan9.Tread, Count: 64}
	twrite := plan9.Fcall{Type: plan9.Twrite, Tag: readers, Fid: 2, Data: make([]byte, 64)}
	b.ReportAllocs()
	for b.Loop() {
		for i := range uint32(readers) {
			tread.Tag, tread.Fid = uint16(i), 10+i
			do(&tread)
		}
		do(&twrite)
		replies(readers + 1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*readers), "ns/delivery")
}

// BenchmarkServeLog is BenchmarkServePingPong's Tread and Twrite with
// mq -r (SPEC §11.3): each Rwrite waits until its record is written.
// The group keeps no history, or all of it (replay all, depth 1000),
// with messages of 64 bytes and of 8 KiB.
func BenchmarkServeLog(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  string
		size int
	}{
		{"off/64", "", 64},
		{"all/64", "replay all\ndepth 1000", 64},
		{"off/8192", "", 8192},
		{"all/8192", "replay all\ndepth 1000", 8192},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := newTree("glenda", nil, 64<<20)
			l, err := openLog(b.TempDir(), false, tr, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			defer l.close()
			cli, srv := net.Pipe()
			defer cli.Close()
			go newServer(tr, nil).serve(srv, 3)
			rpc := func(f *plan9.Fcall) {
				if err := plan9.WriteFcall(cli, f); err != nil {
					b.Fatal(err)
				}
				r, err := plan9.ReadFcall(cli)
				if err != nil || r.Type != f.Type+1 {
					b.Fatalf("%v: %v %v", f, r, err)
				}
			}
			setup := benchSetup()
			for _, f := range setup[:2] {
				rpc(f)
			}
			if bc.cfg != "" {
				rpc(&plan9.Fcall{Type: plan9.Twalk, Fid: 0, Newfid: 4, Wname: []string{"ctl"}})
				rpc(&plan9.Fcall{Type: plan9.Topen, Fid: 4, Mode: plan9.OWRITE})
				rpc(&plan9.Fcall{Type: plan9.Twrite, Fid: 4, Data: []byte(bc.cfg)})
			}
			for _, f := range setup[2:] {
				rpc(f)
			}
			rpc(&plan9.Fcall{Type: plan9.Twalk, Fid: 0, Newfid: 3, Wname: []string{"g", "s"}})
			rpc(&plan9.Fcall{Type: plan9.Topen, Fid: 3, Mode: plan9.OREAD})

			data := make([]byte, bc.size)
			tread, _ := (&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 3, Count: uint32(bc.size)}).Bytes()
			twrite, _ := (&plan9.Fcall{Type: plan9.Twrite, Tag: 2, Fid: 2, Data: data}).Bytes()
			req := append(tread, twrite...)
			reply := make([]byte, 11+bc.size)
			recv := func() uint8 {
				if _, err := io.ReadFull(cli, reply[:4]); err != nil {
					b.Fatal(err)
				}
				n := int(binary.LittleEndian.Uint32(reply))
				if _, err := io.ReadFull(cli, reply[4:n]); err != nil {
					b.Fatal(err)
				}
				return reply[4]
			}
			b.ReportAllocs()
			b.SetBytes(int64(bc.size))
			for b.Loop() {
				if _, err := cli.Write(req); err != nil {
					b.Fatal(err)
				}
				if t1, t2 := recv(), recv(); t1 == t2 || t1 == plan9.Rerror || t2 == plan9.Rerror {
					b.Fatalf("replies %d %d, want an Rread and an Rwrite", t1, t2)
				}
			}
		})
	}
}
