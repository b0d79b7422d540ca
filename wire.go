package main

// How a connection's bytes move: requests read in, many at a time, and
// replies encoded as they are made and written, by the reading
// goroutine when it can and by the connection's writer when it cannot.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"9fans.net/go/plan9"
)

// maxBacklog bounds the bytes of replies a connection may have waiting
// to be sent. Past it, no more of its requests are read until the
// client takes its replies, so a client that never reads cannot make
// the server grow without end.
const maxBacklog = 4 * maxMsize

// maxBuf is the largest reply buffer a connection keeps between
// batches.
const maxBuf = maxMsize

// maxIn is the largest a connection's request buffer grows to while the
// client sends more at once than it holds, besides the room for two of
// the largest message.
const maxIn = 64 << 10

// deadliner is a connection whose writes can be given a deadline.
type deadliner interface {
	SetWriteDeadline(time.Time) error
}

// ioHdrSize is the size of an Rread's or Rwrite's header: size[4]
// type[1] tag[2] count[4].
const ioHdrSize = 11

// roomy says whether the client has taken enough of its replies for
// more of its requests to be read, with held bytes of replies not yet
// queued.
func (c *conn) roomy(held int) bool { return c.backlog.Load()+int64(held) <= maxBacklog }

// waitRoom waits until the client has taken enough of its replies.
func (c *conn) waitRoom() {
	c.outMu.Lock()
	for !c.roomy(0) && !c.closed {
		c.roomc.Wait()
	}
	c.outMu.Unlock()
}

// readMsg reads one message no larger than msize (SPEC §8.9). It is
// good until the next.
func (c *conn) readMsg(in *msgReader) (*plan9.Fcall, error) {
	b, err := in.next(c.msize)
	if err != nil {
		return nil, err
	}
	if f := c.decodeIO(b); f != nil {
		return f, nil
	}
	if err := checkMsg(b); err != nil {
		return nil, err
	}
	return plan9.UnmarshalFcall(b)
}

// tShapes gives each T-message's fields after size[4] type[1] tag[2]:
// a digit is a number of that many bytes; s a string, n[2] and n bytes;
// w a walk's names, n[2] (at most 16) and n strings; d a write's data,
// count[4] and count bytes; t a stat, n[2] and n bytes.
var tShapes = [256]struct{ name, shape string }{
	plan9.Tversion: {"Tversion", "4s"},
	plan9.Tauth:    {"Tauth", "4ss"},
	plan9.Tattach:  {"Tattach", "44ss"},
	plan9.Tflush:   {"Tflush", "2"},
	plan9.Twalk:    {"Twalk", "44w"},
	plan9.Topen:    {"Topen", "41"},
	plan9.Tcreate:  {"Tcreate", "4s41"},
	plan9.Tread:    {"Tread", "484"},
	plan9.Twrite:   {"Twrite", "48d"},
	plan9.Tclunk:   {"Tclunk", "4"},
	plan9.Tremove:  {"Tremove", "4"},
	plan9.Tstat:    {"Tstat", "4"},
	plan9.Twstat:   {"Twstat", "4t"},
}

// checkMsg says what is wrong with b, a message whose size is len(b),
// or nil if it is a well-formed T-message. UnmarshalFcall writes on
// standard error about messages it cannot decode, and a client must
// not be able to make mq do that (SPEC §8.9): nothing reaches it that
// this has not passed.
func checkMsg(b []byte) error {
	if len(b) < 7 || int64(binary.LittleEndian.Uint32(b)) != int64(len(b)) {
		return fmt.Errorf("bad message size %d", len(b))
	}
	ts := tShapes[b[4]]
	if ts.shape == "" {
		return fmt.Errorf("unknown message type %d", b[4])
	}
	p := b[7:]
	truncated := func() error { return fmt.Errorf("malformed %s: truncated", ts.name) }
	// take moves p past a field of n bytes.
	take := func(n int64) bool {
		if n > int64(len(p)) {
			return false
		}
		p = p[n:]
		return true
	}
	// counted is the length of a field that begins with its count, of
	// w bytes: 2 or 4. It is past the end if p cannot hold the count.
	counted := func(w int) int64 {
		switch {
		case len(p) < w:
			return int64(len(p)) + 1
		case w == 2:
			return 2 + int64(binary.LittleEndian.Uint16(p))
		}
		return 4 + int64(binary.LittleEndian.Uint32(p))
	}
	for _, c := range ts.shape {
		ok := true
		switch c {
		case 's', 't':
			ok = take(counted(2))
		case 'd':
			ok = take(counted(4))
		case 'w':
			if len(p) < 2 {
				return truncated()
			}
			k := binary.LittleEndian.Uint16(p)
			if k > plan9.MAXWELEM {
				return fmt.Errorf("malformed %s: %d names, more than %d", ts.name, k, plan9.MAXWELEM)
			}
			p = p[2:]
			for range k {
				if !take(counted(2)) {
					return truncated()
				}
			}
		default:
			ok = take(int64(c - '0'))
		}
		if !ok {
			return truncated()
		}
	}
	if len(p) != 0 {
		return fmt.Errorf("malformed %s: %d bytes too many", ts.name, len(p))
	}
	return nil
}

// msgReader reads 9P messages, as many per read from the client as it
// has sent. Its buffer grows to hold two of the largest message yet, so
// that a run of large writes costs one read each, not two, and while
// reads fill it, so that a burst of small requests is taken in few.
type msgReader struct {
	r      io.Reader
	buf    []byte
	lo, hi int  // buf[lo:hi] is read and not yet returned
	fresh  bool // a read from r has returned
	filled bool // the last read filled the buffer
}

// next returns the next message, which stays in the buffer until the
// following call.
func (in *msgReader) next(msize uint32) ([]byte, error) {
	if err := in.fill(4); err != nil {
		if err == io.ErrUnexpectedEOF && in.hi == in.lo {
			err = io.EOF // between messages
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(in.buf[in.lo:])
	if n < 7 || n > msize {
		return nil, fmt.Errorf("bad message size %d", n)
	}
	if err := in.fill(int(n)); err != nil {
		return nil, err
	}
	b := in.buf[in.lo : in.lo+int(n)]
	in.lo += int(n)
	return b, nil
}

// ready says whether a whole message is buffered, so that next will
// not read.
func (in *msgReader) ready() bool {
	n := in.hi - in.lo
	return n >= 4 && n >= int(binary.LittleEndian.Uint32(in.buf[in.lo:]))
}

// fill reads until n bytes are buffered.
func (in *msgReader) fill(n int) error {
	if in.hi-in.lo >= n {
		return nil
	}
	// What is left of the buffer moves to its front, so that a read
	// can take all that has come. A client that filled it with the
	// last read is sending more at once than it holds: it doubles, up
	// to maxIn.
	buf := in.buf
	size := max(len(buf), 2*n)
	if in.filled {
		size = max(size, min(2*len(buf), maxIn))
	}
	if size > len(buf) {
		in.buf = make([]byte, size)
	}
	copy(in.buf, buf[in.lo:in.hi])
	in.lo, in.hi = 0, in.hi-in.lo
	for in.hi-in.lo < n {
		m, err := in.r.Read(in.buf[in.hi:])
		in.filled = in.hi+m == len(in.buf)
		in.hi += m
		in.fresh = true
		if m > 0 || err == nil {
			continue
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// decodeIO decodes a well-formed Tread or Twrite into c.fc, which the
// next message overwrites: the two messages of every transfer cost no
// allocation. Its Data points into b. Anything else is nil.
func (c *conn) decodeIO(b []byte) *plan9.Fcall {
	if len(b) < 23 || b[4] != plan9.Tread && b[4] != plan9.Twrite {
		return nil
	}
	// Only these fields are ever set in c.fc: clearing all 320 bytes of
	// it for every message cost more than decoding.
	f := &c.fc
	f.Type, f.Tag, f.Fid = b[4], binary.LittleEndian.Uint16(b[5:]), binary.LittleEndian.Uint32(b[7:])
	f.Offset, f.Count, f.Data = binary.LittleEndian.Uint64(b[11:]), binary.LittleEndian.Uint32(b[19:]), nil
	switch {
	case f.Type == plan9.Tread && len(b) == 23:
	case f.Type == plan9.Twrite && int64(f.Count) == int64(len(b)-23):
		f.Data = b[23:]
	default:
		return nil // malformed: UnmarshalFcall says so
	}
	return f
}

// writer sends replies in the order they were queued, many at a time,
// and never holds a lock while it writes. Replies are encoded into
// outq as they are made; the writer swaps it for an empty buffer, so
// a batch leaves in one write whatever its size (a bufio.Writer would
// split an 8 KiB Rread in two) and is not copied again.
func (c *conn) writer() {
	var buf []byte
	for {
		c.outMu.Lock()
		for (len(c.outq) == 0 || c.writing) && !c.closed {
			c.outc.Wait()
		}
		for c.writing {
			c.outc.Wait() // closed, but the reading goroutine is still writing
		}
		if len(c.outq) == 0 {
			c.outMu.Unlock()
			return
		}
		if c.deadline {
			c.direct.SetWriteDeadline(time.Time{})
			c.deadline = false
		}
		c.writing = true
		buf, c.outq = c.outq, buf[:0]
		c.outMu.Unlock()
		_, err := c.rwc.Write(buf)
		sent := len(buf)
		if cap(buf) > maxBuf {
			buf = nil // a burst does not pin its memory
		}
		c.outMu.Lock()
		c.writing = false
		c.backlog.Add(int64(-sent))
		if err != nil {
			c.closed = true
			c.outq = nil
			c.werr = err
		}
		c.roomc.Signal()
		c.outMu.Unlock()
		if err != nil {
			c.rwc.Close() // the reading goroutine sees it and cleans up
			return
		}
	}
}

// ownWait is about how long the reading goroutine waits for a client
// to take its replies before it leaves them to the writer and reads
// on: between half of it and all of it. The deadline is moved only
// when half has passed, as setting it for every write cost as much as
// the handing over it replaces.
const ownWait = 50 * time.Millisecond

// writeOwn writes the replies queued, from the reading goroutine,
// unless the writer is busy. Handing every round trip's replies to the
// writer woke another thread each time, which on more than one
// processor cost more than all the rest of the work. The write has a
// deadline: a client that does not read its replies while it sends
// requests must not stop its requests being read, so what is not
// taken by then is left to the writer.
func (c *conn) writeOwn() {
	c.outMu.Lock()
	if c.writing || len(c.outq) == 0 || c.closed {
		if len(c.outq) > 0 {
			c.outc.Signal()
		}
		c.outMu.Unlock()
		return
	}
	armed := c.deadline
	c.writing, c.deadline = true, true
	buf := c.outq
	c.outq, c.ownBuf = c.ownBuf[:0], nil
	c.outMu.Unlock()
	if now := time.Now(); !armed || now.After(c.ownDeadline.Add(-ownWait/2)) {
		c.ownDeadline = now.Add(ownWait)
		c.direct.SetWriteDeadline(c.ownDeadline)
	}
	n, err := c.rwc.Write(buf)
	c.outMu.Lock()
	c.writing = false
	c.backlog.Add(int64(-n))
	switch {
	case err == nil:
		if cap(buf) <= maxBuf {
			c.ownBuf = buf[:0]
		}
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.closed:
		// The rest goes first, then what was queued meanwhile. This
		// client may well do it again: from now on the reading
		// goroutine leaves its replies to the writer.
		c.outq = append(buf[n:len(buf):len(buf)], c.outq...)
		c.slow = true
	default:
		c.closed = true
		c.outq = nil
		c.werr = err
		c.rwc.Close() // the reading goroutine sees it and cleans up
	}
	if len(c.outq) > 0 || c.closed {
		c.outc.Broadcast()
	}
	c.roomc.Signal()
	c.outMu.Unlock()
}

// queue adds a reply, hdr then data, for the writer.
func (c *conn) queue(hdr []byte, data string) {
	if l := c.t.log; l != nil && c.heldBack(l, hdr, data) {
		return
	}
	if c.own {
		c.ownq = append(c.ownq, hdr...)
		c.ownq = append(c.ownq, data...)
		return
	}
	c.outMu.Lock()
	if !c.closed {
		c.outq = append(c.outq, hdr...)
		c.outq = append(c.outq, data...)
		c.backlog.Add(int64(len(hdr) + len(data)))
		c.outc.Signal()
	}
	c.outMu.Unlock()
}

// handOwn ends the reading goroutine's hold on its connection's
// replies, with tree.mu held: those it made go to outq in one step, in
// order, before any other reply can. It says whether there was a hold,
// and so whether writeOwn is to write them.
func (c *conn) handOwn() bool {
	if !c.own {
		return false
	}
	c.own = false
	if c.ownAt > 0 {
		// They wait for the log, which the reading goroutine writes
		// next, with no lock held: it queues them then (sendPend).
		c.pend, c.ownq = c.ownq, c.pend[:0]
		c.pendAt, c.ownAt = c.ownAt, 0
		return true
	}
	c.ownq = c.moveOut(c.ownq)
	return true
}

// moveOut queues the replies in b, in one step, taking b itself as
// outq when that is empty, and returns an empty buffer to fill next.
func (c *conn) moveOut(b []byte) []byte {
	c.outMu.Lock()
	if !c.closed {
		c.backlog.Add(int64(len(b)))
		if len(c.outq) == 0 {
			c.outq, b = b, c.outq
		} else {
			c.outq = append(c.outq, b...)
		}
	}
	c.outMu.Unlock()
	return b[:0]
}

// sendPend queues the replies handOwn kept back once the log is
// written as far as they need, or has the log hold them until it is
// (another goroutine is writing it, or a write failed). Only the
// reading goroutine calls it, after handOwn.
func (c *conn) sendPend(l *dlog) {
	if len(c.pend) == 0 {
		return
	}
	if !l.hold(c, c.pendAt, c.pend, "", false) {
		c.pend = c.moveOut(c.pend)
	}
	c.pend, c.pendAt = c.pend[:0], 0
}

// send queues a reply. It and respond are where replies are written.
func (c *conn) send(rx *plan9.Fcall) {
	if c.s.trace != nil {
		c.s.trace.printf("-%d-> %s\n", c.out, fcallString(rx))
	}
	b, err := rx.Bytes()
	if err != nil {
		b, _ = (&plan9.Fcall{Type: plan9.Rerror, Tag: rx.Tag, Ename: err.Error()}).Bytes()
	}
	c.queue(b, "")
}

// errmax is Plan 9's ERRMAX: error strings are shorter.
const errmax = 128

// respond answers the request with tag: rx, or Rerror when err is set.
func (c *conn) respond(tag uint16, rx *plan9.Fcall, err error) {
	if err != nil {
		e := err.Error()
		if len(e) >= errmax {
			// It fits any msize from 256 up, cut between runes, as
			// Plan 9 cuts one: a 9P string is UTF-8.
			n := errmax - 1
			for n > 0 && !utf8.RuneStart(e[n]) {
				n--
			}
			e = e[:n]
		}
		rx = &plan9.Fcall{Type: plan9.Rerror, Ename: e}
	}
	rx.Tag = tag
	c.send(rx)
}

// sendRead answers a read with data.
func (c *conn) sendRead(tag uint16, data string) {
	if c.s.trace != nil {
		c.s.trace.printf("-%d-> %s\n", c.out, fcallString(&plan9.Fcall{Type: plan9.Rread, Tag: tag, Data: []byte(data)}))
	}
	var h [ioHdrSize]byte
	putIOHdr(&h, plan9.Rread, tag, uint32(len(data)))
	c.queue(h[:], data)
}

// sendWrite answers a write with count, encoded here as sendRead does.
func (c *conn) sendWrite(tag uint16, count uint32) {
	if c.s.trace != nil {
		c.s.trace.printf("-%d-> %s\n", c.out, fcallString(&plan9.Fcall{Type: plan9.Rwrite, Tag: tag, Count: count}))
	}
	var h [ioHdrSize]byte
	putIOHdr(&h, plan9.Rwrite, tag, count)
	c.queue(h[:], "")
}

// putIOHdr encodes an Rread's header, whose data follows, or an
// Rwrite, which is nothing more.
func putIOHdr(h *[ioHdrSize]byte, typ uint8, tag uint16, count uint32) {
	size := uint32(ioHdrSize)
	if typ == plan9.Rread {
		size += count
	}
	binary.LittleEndian.PutUint32(h[0:], size)
	h[4] = typ
	binary.LittleEndian.PutUint16(h[5:], tag)
	binary.LittleEndian.PutUint32(h[7:], count)
}

// heldBack gives the log a reply that is to wait until a change is
// written (SPEC §11.3): the reply to the request that made it, a
// waiting write's Rwrite, and an Rflush or Rversion after any such
// reply: the client is to have every reply to the old session before
// Rversion, and none after (§8.1).
func (c *conn) heldBack(l *dlog, hdr []byte, data string) bool {
	off := c.holdAt
	if c.holding && binary.LittleEndian.Uint16(hdr[5:]) == c.holdTag && l.ackOff > c.mark {
		off = l.ackOff
	}
	flush := hdr[4] == plan9.Rflush || hdr[4] == plan9.Rversion
	if off == 0 && !flush {
		return false
	}
	if c.own && !l.sync {
		if !flush {
			// The reading goroutine writes the log before its
			// replies (flushOwn, then writeOwn): they wait together,
			// as one, if they must (holdOwn).
			c.ownAt = max(c.ownAt, off)
			return false
		}
		// An Rflush or Rversion leaves after every reply before it.
		c.holdOwn(l)
	}
	return l.hold(c, off, hdr, data, flush)
}

// holdOwn, with tree.mu held, gives the log the replies the reading
// goroutine made so far, to leave once it is written as far as they
// need, unless it already is: a reply the log holds after them leaves
// after them.
func (c *conn) holdOwn(l *dlog) {
	if c.ownAt == 0 {
		return
	}
	if l.hold(c, c.ownAt, c.ownq, "", false) {
		c.ownq = c.ownq[:0]
	}
	c.ownAt = 0
}

// queueOut adds a reply the log held back, from any goroutine. quiet
// says the reading goroutine writes it next: the writer is not woken.
func (c *conn) queueOut(b []byte, quiet bool) {
	c.outMu.Lock()
	if !c.closed {
		c.outq = append(c.outq, b...)
		c.backlog.Add(int64(len(b)))
		if !quiet {
			c.outc.Signal()
		}
	}
	c.outMu.Unlock()
}
