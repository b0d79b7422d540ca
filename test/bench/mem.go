//go:build !plan9

package main

import (
	"fmt"
	"math"
	"net"
	"time"

	"9fans.net/go/plan9"
)

// firehose runs eight ping-pong lanes in a replay-off group for d and
// returns the growth of the server's live memory and of its resident
// set over that time, in MB, and the messages it carried.
func firehose(b *bench, ch *child, s *session, d time.Duration) (heapMB, rssMB float64, msgs float64, err error) {
	if err := s.mkgroup("g"); err != nil {
		return 0, 0, 0, err
	}
	lanes, err := setupLanes(s, "g", 8, 64)
	if err != nil {
		return 0, 0, 0, err
	}
	// A warm-up run first, so the start is measured in the steady state.
	if _, err := pingpong(s, lanes, 0, time.Second); err != nil {
		return 0, 0, 0, err
	}
	h0, err := ch.heap()
	if err != nil {
		return 0, 0, 0, err
	}
	r0, err := ch.rss()
	if err != nil {
		return 0, 0, 0, err
	}
	rate, err := pingpong(s, lanes, 0, d)
	if err != nil {
		return 0, 0, 0, err
	}
	h1, err := ch.heap()
	if err != nil {
		return 0, 0, 0, err
	}
	r1, err := ch.rss()
	if err != nil {
		return 0, 0, 0, err
	}
	return float64(h1-h0) / (1 << 20), float64(r1-r0) / (1 << 20), rate * d.Seconds(), nil
}

// retained writes 2n 64-byte messages into a replay-all group and
// returns the live memory each of the last n costs beyond its payload,
// after reading them all back in order through a new reader.
func retained(ch *child, s *session, n int, memprofile string) (float64, error) {
	if err := s.mkgroup("g"); err != nil {
		return 0, err
	}
	if err := s.ctl("g", "replay all"); err != nil {
		return 0, err
	}
	w, err := s.mkstream("g", "s")
	if err != nil {
		return 0, err
	}
	// The figure is the heap's growth between n and 2n retained
	// messages, so that what the first writes set up once (buffers) is
	// not counted as if every message held it, nor a goroutine's stack
	// growing by a few kilobytes meanwhile.
	if err := writeMany(s, w, 0, 0, n, 64); err != nil {
		return 0, err
	}
	h1, _, err := ch.mem()
	if err != nil {
		return 0, err
	}
	if err := writeMany(s, w, 0, uint64(n), n, 64); err != nil {
		return 0, err
	}
	h2, _, err := ch.mem()
	if err != nil {
		return 0, err
	}
	if memprofile != "" {
		if _, err := ch.ask("heap " + memprofile); err != nil {
			return 0, err
		}
	}
	r, err := s.open(plan9.OREAD, "g", "s")
	if err != nil {
		return 0, err
	}
	if err := readMany(s, r, 0, 0, 2*n, 64); err != nil {
		return 0, err
	}
	return float64(h2-h1)/float64(n) - 64, nil
}

// parked opens n readers on one stream, parks a Tread on each, and
// returns the live memory each parked read costs; then one write must
// reach them all.
func parked(ch *child, s *session, n int) (float64, error) {
	if err := s.mkgroup("g"); err != nil {
		return 0, err
	}
	w, err := s.mkstream("g", "s")
	if err != nil {
		return 0, err
	}
	readers := make([]uint32, n)
	for i := range readers {
		if readers[i], err = s.open(plan9.OREAD, "g", "s"); err != nil {
			return 0, err
		}
	}
	h0, err := ch.heap()
	if err != nil {
		return 0, err
	}
	for i, r := range readers {
		s.sendRead(uint16(i+1), r, 0, 64)
	}
	if err := settle(s); err != nil {
		return 0, err
	}
	h1, err := ch.heap()
	if err != nil {
		return 0, err
	}
	buf := stamp(make([]byte, 64), 0, 1)
	s.sendWrite(0, w, buf)
	if err := s.flush(); err != nil {
		return 0, err
	}
	for range n + 1 {
		r, err := s.recv()
		if err != nil {
			return 0, err
		}
		if !(r.typ == plan9.Rwrite && r.tag == 0 || r.typ == plan9.Rread && bytes64(r.data, buf)) {
			return 0, fmt.Errorf("parked reads: bad reply type %d tag %d %s", r.typ, r.tag, r.ename)
		}
	}
	return float64(h1-h0) / float64(n), nil
}

func bytes64(a, b []byte) bool { return string(a) == string(b) }

// settle makes sure the server has taken in everything sent so far:
// it answers a walk sent after it, and is given a moment to park.
func settle(s *session) error {
	if err := sync9p(s); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond)
	return nil
}

// sync9p returns once the server has answered a walk sent after
// everything else.
func sync9p(s *session) error {
	if err := s.flush(); err != nil {
		return err
	}
	fid := s.newFid()
	s.send(&plan9.Fcall{Type: plan9.Twalk, Tag: 0xfff0, Fid: rootFid, Newfid: fid})
	if err := s.flush(); err != nil {
		return err
	}
	r, err := s.recv()
	if err != nil {
		return err
	}
	if r.tag != 0xfff0 || r.typ != plan9.Rwalk {
		return fmt.Errorf("sync: reply type %d tag %d %s", r.typ, r.tag, r.ename)
	}
	return nil
}

// dial attaches a new session to a listening child.
func (ch *child) dial() (*session, error) {
	c, err := net.Dial("unix", ch.listen)
	if err != nil {
		return nil, err
	}
	return attach(c)
}

// readers attaches n sessions to a listening child, each with path
// open for reading. The sessions made are returned even on error.
func (ch *child) readers(n int, path ...string) ([]*session, []uint32, error) {
	var ss []*session
	fids := make([]uint32, n)
	for i := range fids {
		s, err := ch.dial()
		if err != nil {
			return ss, nil, fmt.Errorf("connection %d: %v", i, err)
		}
		ss = append(ss, s)
		if fids[i], err = s.open(plan9.OREAD, path...); err != nil {
			return ss, nil, err
		}
	}
	return ss, fids, nil
}

func closeAll(ss []*session) {
	for _, s := range ss {
		s.Close()
	}
}

// conns opens n connections to a listening server, each parking one
// read on the same stream, and returns the live memory and resident
// memory each costs; then one write must reach them all.
func conns(ch *child, n int) (heapPer, rssPer float64, err error) {
	s, err := ch.dial()
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	if err := s.mkgroup("g"); err != nil {
		return 0, 0, err
	}
	w, err := s.mkstream("g", "s")
	if err != nil {
		return 0, 0, err
	}
	h0, err := ch.heap()
	if err != nil {
		return 0, 0, err
	}
	r0, err := ch.rss()
	if err != nil {
		return 0, 0, err
	}
	readers, fids, err := ch.readers(n, "g", "s")
	defer closeAll(readers)
	if err != nil {
		return 0, 0, err
	}
	for i, r := range readers {
		r.sendRead(1, fids[i], 0, 64)
		if err := sync9p(r); err != nil {
			return 0, 0, err
		}
	}
	time.Sleep(200 * time.Millisecond)
	h1, err := ch.heap()
	if err != nil {
		return 0, 0, err
	}
	r1, err := ch.rss()
	if err != nil {
		return 0, 0, err
	}
	buf := stamp(make([]byte, 64), 0, 1)
	if err := writeMany(s, w, 0, 1, 1, 64); err != nil {
		return 0, 0, err
	}
	for i, r := range readers {
		rep, err := r.recv()
		if err != nil {
			return 0, 0, err
		}
		if rep.typ != plan9.Rread || !bytes64(rep.data, buf) {
			return 0, 0, fmt.Errorf("connection %d: bad reply type %d %s", i, rep.typ, rep.ename)
		}
	}
	return float64(h1-h0) / float64(n), float64(r1-r0) / float64(n), nil
}

// manyStreams measures ping-pong on one stream of a group holding it
// alone and again holding n streams, and the time per entry to read the
// group's directory at 100 entries and at n.
func manyStreams(s *session, n int, warm, d time.Duration) (rate1, rateN, dir100, dirN float64, err error) {
	if err = s.mkgroup("g"); err != nil {
		return
	}
	lanes, err := setupLanes(s, "g", 1, 64)
	if err != nil {
		return
	}
	if rate1, err = pingpong(s, lanes, warm, d); err != nil {
		return
	}
	made := 1
	grow := func(to int) error {
		for ; made < to; made++ {
			fid, err := s.mkstream("g", fmt.Sprintf("x%d", made))
			if err != nil {
				return err
			}
			if err := s.clunk(fid); err != nil {
				return err
			}
		}
		return nil
	}
	dirTime := func() (float64, error) {
		var total time.Duration
		var entries int
		for range 5 {
			fid, err := s.open(plan9.OREAD, "g")
			if err != nil {
				return 0, err
			}
			t := time.Now()
			k, err := s.readDir(fid)
			total += time.Since(t)
			if err != nil {
				return 0, err
			}
			entries += k
			s.clunk(fid)
		}
		if entries == 0 {
			return math.NaN(), nil
		}
		return float64(total.Nanoseconds()) / float64(entries), nil
	}
	if err = grow(100); err != nil {
		return
	}
	if dir100, err = dirTime(); err != nil {
		return
	}
	if err = grow(n); err != nil {
		return
	}
	if dirN, err = dirTime(); err != nil {
		return
	}
	rateN, err = pingpong(s, lanes, warm, d)
	return
}

// history measures, in a replay-all group holding h retained messages
// for each h in hs, ping-pong on a stream and the rate at which a new
// reader catches up through the oldest 1000 messages.
func history(s *session, hs []int, warm, d time.Duration) (pp, catchup []float64, err error) {
	if err = s.mkgroup("g"); err != nil {
		return
	}
	if err = s.ctl("g", "replay all"); err != nil {
		return
	}
	fill, err := s.mkstream("g", "fill")
	if err != nil {
		return
	}
	lanes, err := setupLanes(s, "g", 1, 64)
	if err != nil {
		return
	}
	have := 0
	for _, h := range hs {
		if err = writeMany(s, fill, 1, uint64(have), h-have, 64); err != nil {
			return
		}
		have = h
		var rate float64
		if rate, err = pingpong(s, lanes, warm, d); err != nil {
			return
		}
		pp = append(pp, rate)
		var r uint32
		if r, err = s.open(plan9.OREAD, "g", "fill"); err != nil {
			return
		}
		k := min(h, 1000)
		t := time.Now()
		if err = readMany(s, r, 1, 0, k, 64); err != nil {
			return
		}
		catchup = append(catchup, float64(k)/time.Since(t).Seconds())
		if err = s.clunk(r); err != nil {
			return
		}
	}
	return
}
