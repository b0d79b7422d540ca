//go:build !plan9

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"time"

	"9fans.net/go/plan9"
)

// filler is the body of every payload; each message stamps its lane
// and sequence number over the front, so a reply is checked against
// exactly what was written and in what order.
var filler = func() []byte {
	b := make([]byte, 8192)
	rand.New(rand.NewSource(9)).Read(b)
	return b
}()

func stamp(dst []byte, lane int, seq uint64) []byte {
	copy(dst, filler)
	if len(dst) >= 10 {
		binary.LittleEndian.PutUint16(dst, uint16(lane))
		binary.LittleEndian.PutUint64(dst[2:], seq)
	}
	return dst
}

// timer splits a run into warm-up and a timed part.
type timer struct {
	start, end time.Time
	started    bool
	n0         int
}

func newTimer(warm, d time.Duration) *timer {
	now := time.Now()
	return &timer{start: now.Add(warm), end: now.Add(warm + d)}
}

// timed is the server's CPU time over the timed part of the last
// measurement, and the operations done in it: CPU per operation does
// not depend on what else the machine is doing, as rates do.
var timed struct {
	cpu    func() time.Duration // the server's CPU time so far
	c0, c1 time.Duration
	ops    int
}

// tick notes that count operations are done so far and says whether
// to start more.
func (t *timer) tick(count int) bool {
	now := time.Now()
	if !t.started {
		if !now.Before(t.start) {
			t.started, t.n0, t.start = true, count, now
			if timed.cpu != nil {
				timed.c0 = timed.cpu()
			}
		}
		return true
	}
	return now.Before(t.end)
}

func (t *timer) rate(count int) float64 {
	if timed.cpu != nil {
		timed.c1, timed.ops = timed.cpu(), count-t.n0
	}
	return float64(count-t.n0) / time.Since(t.start).Seconds()
}

// lane is one writer fid and one reader fid on a stream.
type lane struct {
	w, r       uint32
	seq        uint64
	buf        []byte
	gotR, gotW bool
}

// setupLanes makes group dir with n streams, each with a writer and a
// reader.
func setupLanes(s *session, dir string, n, size int) ([]*lane, error) {
	lanes := make([]*lane, n)
	for i := range lanes {
		name := fmt.Sprintf("s%d", i)
		w, err := s.mkstream(dir, name)
		if err != nil {
			return nil, err
		}
		r, err := s.open(plan9.OREAD, dir, name)
		if err != nil {
			return nil, err
		}
		lanes[i] = &lane{w: w, r: r, buf: make([]byte, size)}
	}
	return lanes, nil
}

// pingpong runs rounds of Tread then Twrite on every lane, each lane
// starting its next round once both of its replies are in; it returns
// messages delivered per second.
func pingpong(s *session, lanes []*lane, warm, d time.Duration) (float64, error) {
	size := len(lanes[0].buf)
	send := func(i int) {
		l := lanes[i]
		l.gotR, l.gotW = false, false
		s.sendRead(uint16(2*i), l.r, 0, uint32(size))
		s.sendWrite(uint16(2*i+1), l.w, stamp(l.buf, i, l.seq))
	}
	for i := range lanes {
		send(i)
	}
	t := newTimer(warm, d)
	count, inflight := 0, len(lanes)
	for inflight > 0 {
		if err := s.flush(); err != nil {
			return 0, err
		}
		for {
			r, err := s.recv()
			if err != nil {
				return 0, err
			}
			i := int(r.tag / 2)
			if i >= len(lanes) {
				return 0, fmt.Errorf("reply with unknown tag %d", r.tag)
			}
			l := lanes[i]
			switch {
			case r.typ == plan9.Rread && r.tag%2 == 0:
				if !bytes.Equal(r.data, l.buf) {
					return 0, fmt.Errorf("lane %d message %d: read %d bytes that differ from the %d written", i, l.seq, len(r.data), len(l.buf))
				}
				l.gotR = true
			case r.typ == plan9.Rwrite && r.tag%2 == 1:
				if int(r.count) != size {
					return 0, fmt.Errorf("lane %d: Rwrite count %d, want %d", i, r.count, size)
				}
				l.gotW = true
			default:
				return 0, fmt.Errorf("lane %d: unexpected reply type %d tag %d: %s", i, r.typ, r.tag, r.ename)
			}
			if l.gotR && l.gotW {
				count++
				l.seq++
				inflight--
				if t.tick(count) {
					send(i)
					inflight++
				}
			}
			if s.r.Buffered() == 0 || inflight == 0 {
				break
			}
		}
	}
	return t.rate(count), nil
}

// fanout opens n readers on one stream and, per round, parks a Tread
// on each and sends one Twrite; it returns deliveries per second.
func fanout(s *session, dir string, n int, warm, d time.Duration) (float64, error) {
	if err := s.mkgroup(dir); err != nil {
		return 0, err
	}
	w, err := s.mkstream(dir, "s")
	if err != nil {
		return 0, err
	}
	readers := make([]uint32, n)
	for i := range readers {
		if readers[i], err = s.open(plan9.OREAD, dir, "s"); err != nil {
			return 0, err
		}
	}
	buf := make([]byte, 64)
	t := newTimer(warm, d)
	count := 0
	for seq := uint64(0); t.tick(count); seq++ {
		for i, r := range readers {
			s.sendRead(uint16(i+1), r, 0, 64)
		}
		s.sendWrite(0, w, stamp(buf, 0, seq))
		if err := s.flush(); err != nil {
			return 0, err
		}
		for range n + 1 {
			r, err := s.recv()
			if err != nil {
				return 0, err
			}
			switch {
			case r.typ == plan9.Rwrite && r.tag == 0 && r.count == 64:
			case r.typ == plan9.Rread && r.tag >= 1 && int(r.tag) <= n && bytes.Equal(r.data, buf):
				count++
			default:
				return 0, fmt.Errorf("round %d: bad reply type %d tag %d (%d bytes) %s", seq, r.typ, r.tag, len(r.data), r.ename)
			}
		}
	}
	return t.rate(count), nil
}

// rawPingpong is pingpong over the bare socketpair: lanes frames in
// flight, each echoed once.
func rawPingpong(c net.Conn, lanes, size int, warm, d time.Duration) (float64, error) {
	r, w := bufio.NewReaderSize(c, 2*msize), bufio.NewWriterSize(c, 2*msize)
	bufs := make([][]byte, lanes)
	seqs := make([]uint64, lanes)
	got := make([]byte, size)
	for i := range bufs {
		bufs[i] = make([]byte, size)
		rawSend(w, stamp(bufs[i], i, 0), 1)
	}
	t := newTimer(warm, d)
	count, inflight := 0, lanes
	for i := 0; inflight > 0; i = (i + 1) % lanes {
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return 0, err
			}
		}
		if _, err := io.ReadFull(r, got); err != nil {
			return 0, err
		}
		if !bytes.Equal(got, bufs[i]) {
			return 0, fmt.Errorf("raw lane %d message %d differs", i, seqs[i])
		}
		count++
		seqs[i]++
		inflight--
		if t.tick(count) {
			rawSend(w, stamp(bufs[i], i, seqs[i]), 1)
			inflight++
		}
	}
	return t.rate(count), nil
}

// rawFanout asks for n copies of each frame: the transport's cost of
// delivering one message n times.
func rawFanout(c net.Conn, n int, warm, d time.Duration) (float64, error) {
	r, w := bufio.NewReaderSize(c, 2*msize), bufio.NewWriterSize(c, 2*msize)
	buf, got := make([]byte, 64), make([]byte, 64)
	t := newTimer(warm, d)
	count := 0
	for seq := uint64(0); t.tick(count); seq++ {
		rawSend(w, stamp(buf, 0, seq), n)
		if err := w.Flush(); err != nil {
			return 0, err
		}
		for range n {
			if _, err := io.ReadFull(r, got); err != nil {
				return 0, err
			}
			if !bytes.Equal(got, buf) {
				return 0, fmt.Errorf("raw fan-out message %d differs", seq)
			}
			count++
		}
	}
	return t.rate(count), nil
}

// writeMany writes n messages to fid with up to 64 in flight, stamping
// them with lane and sequence numbers from first.
func writeMany(s *session, fid uint32, lane int, first uint64, n int, size int) error {
	buf := make([]byte, size)
	sent, done := 0, 0
	for done < n {
		for sent < n && sent-done < 64 {
			s.sendWrite(uint16(sent%64), fid, stamp(buf, lane, first+uint64(sent)))
			sent++
		}
		if err := s.flush(); err != nil {
			return err
		}
		for {
			r, err := s.recv()
			if err != nil {
				return err
			}
			if r.typ != plan9.Rwrite || int(r.count) != size {
				return fmt.Errorf("write %d: reply type %d count %d %s", done, r.typ, r.count, r.ename)
			}
			done++
			if s.r.Buffered() == 0 {
				break
			}
		}
	}
	return nil
}

// readMany reads n messages from fid with up to 64 reads in flight and
// checks they are lane's messages first, first+1, … in order.
func readMany(s *session, fid uint32, lane int, first uint64, n int, size int) error {
	want := make([]byte, size)
	sent, done := 0, 0
	for done < n {
		for sent < n && sent-done < 64 {
			s.sendRead(uint16(sent%64), fid, 0, uint32(size))
			sent++
		}
		if err := s.flush(); err != nil {
			return err
		}
		for {
			r, err := s.recv()
			if err != nil {
				return err
			}
			if r.typ != plan9.Rread || !bytes.Equal(r.data, stamp(want, lane, first+uint64(done))) {
				return fmt.Errorf("read %d: reply type %d, %d bytes, not the message written %s", done, r.typ, len(r.data), r.ename)
			}
			done++
			if s.r.Buffered() == 0 {
				break
			}
		}
	}
	return nil
}

// fanoutConns is fanout with each reader on a connection of its own,
// as when many clients follow one stream: one write, then a read
// answered on each of n connections.
func fanoutConns(ch *child, n int, warm, d time.Duration) (float64, error) {
	s, err := ch.dial()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := s.mkgroup("g"); err != nil {
		return 0, err
	}
	w, err := s.mkstream("g", "s")
	if err != nil {
		return 0, err
	}
	readers, fids, err := ch.readers(n, "g", "s")
	defer closeAll(readers)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64)
	t := newTimer(warm, d)
	count := 0
	for seq := uint64(0); t.tick(count); seq++ {
		for i, r := range readers {
			r.sendRead(1, fids[i], 0, 64)
			if err := r.flush(); err != nil {
				return 0, err
			}
		}
		// A read that comes after the write gets the message all the
		// same: it was written while the fid was open.
		s.sendWrite(0, w, stamp(buf, 0, seq))
		if err := s.flush(); err != nil {
			return 0, err
		}
		if r, err := s.recv(); err != nil || r.typ != plan9.Rwrite {
			return 0, fmt.Errorf("round %d: write: %v %v", seq, r, err)
		}
		for i, r := range readers {
			rep, err := r.recv()
			if err != nil {
				return 0, err
			}
			if rep.typ != plan9.Rread || !bytes.Equal(rep.data, buf) {
				return 0, fmt.Errorf("round %d, connection %d: bad reply type %d %s", seq, i, rep.typ, rep.ename)
			}
			count++
		}
	}
	return t.rate(count), nil
}
