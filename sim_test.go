package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"testing"

	"9fans.net/go/plan9"
)

// A sim drives several connections of one in-process server by calling
// their dispatch directly, with no goroutines, so everything a request
// causes (its reply, reads it wakes on other connections, writes it
// releases) is queued when dispatch returns. After each step the sim
// checks what the replies and the server's state must satisfy whatever
// the requests were (SPEC §5, §6, §7, §8):
//
//   - every request is answered exactly once, unless flushed or its
//     session ended, and nothing after its Rflush;
//   - what the server holds as pending tags and fids is exactly what
//     the client is still owed and has;
//   - the bytes retained are within the cap and add up;
//   - each reader gets a contiguous run of its stream (or of order),
//     losing messages only where it was told how many.
type sim struct {
	t     testing.TB
	tr    *tree
	srv   *server
	conns []*simConn
	// model state, keyed by the server's own objects
	groups  map[*queue]*mGroup
	streams map[*streamq]*mStream
	log     []string
	steps   int
	written int // payloads written, to make each one unique
}

type simConn struct {
	c           *conn
	msize       uint32
	outstanding map[uint16]*simReq
	reused      map[uint16]int      // tags sent again while outstanding
	have        map[uint32]bool     // fids the client holds
	fids        map[uint32]*mReader // those that are readers
}

// simReq is a request owed a reply.
type simReq struct {
	f      *plan9.Fcall
	rd     *mReader // for a read on a stream or order
	static bool     // read in static mode: no cursor
	count  int      // a read's count after the msize cap
	flush  uint16   // a Tflush's old tag
}

// mGroup is the model of a group's history: every message written, in
// order, whether or not the server still holds it.
type mGroup struct {
	q       *queue
	entries []*mEntry
	readers map[*mReader]bool
}

type mStream struct {
	sq      *streamq
	g       *mGroup
	entries []*mEntry
	removed bool
}

type mEntry struct {
	m       *message
	s       *mStream
	data    []byte
	name    string
	dropped bool // left the history while its stream lived
	when    int  // the step it left in
	removed bool // left with its stream (SPEC §3.5)
}

// mReader is a reader's position in the model: entry idx of its view
// (the stream's entries, or the group's for order), off bytes in.
type mReader struct {
	g        *mGroup
	s        *mStream // nil for order
	idx, off int
}

func newSim(t testing.TB, tr *tree, nconn int) *sim {
	sm := &sim{t: t, tr: tr, srv: newServer(tr, nil),
		groups: make(map[*queue]*mGroup), streams: make(map[*streamq]*mStream)}
	for range nconn {
		sm.conns = append(sm.conns, sm.newConn())
	}
	return sm
}

func (sm *sim) newConn() *simConn {
	c := sm.srv.newConn(nil, 3)
	return &simConn{c: c, msize: maxMsize, outstanding: make(map[uint16]*simReq),
		reused: make(map[uint16]int), have: make(map[uint32]bool), fids: make(map[uint32]*mReader)}
}

func (sm *sim) fail(format string, args ...any) {
	sm.t.Helper()
	n := len(sm.log)
	sm.t.Fatalf("%s\nlast steps:\n%s", fmt.Sprintf(format, args...), strings.Join(sm.log[max(0, n-40):], "\n"))
}

func (sm *sim) group(q *queue) *mGroup {
	g := sm.groups[q]
	if g == nil {
		g = &mGroup{q: q, readers: make(map[*mReader]bool)}
		sm.groups[q] = g
	}
	return g
}

func (sm *sim) stream(sq *streamq) *mStream {
	s := sm.streams[sq]
	if s == nil {
		s = &mStream{sq: sq, g: sm.group(sq.q)}
		sm.streams[sq] = s
	}
	return s
}

// step sends f on connection ci and checks everything it caused.
func (sm *sim) step(ci int, f *plan9.Fcall) {
	sm.t.Helper()
	sc := sm.conns[ci]
	sm.log = append(sm.log, fmt.Sprintf("c%d %v", ci, f))
	sm.steps++
	req := &simReq{f: f}
	_, busy := sc.outstanding[f.Tag]
	dup := busy && f.Type != plan9.Tversion // a Tflush too (SPEC §8.7)
	switch {
	case dup:
		sc.reused[f.Tag]++
	case f.Type != plan9.Tversion:
		sc.outstanding[f.Tag] = req
	}
	if !dup && (f.Type == plan9.Tclunk || f.Type == plan9.Tremove) {
		delete(sc.have, f.Fid) // freed whatever the reply (SPEC §8.7)
	}
	sm.tr.mu.Lock()
	var before uint64
	var ws *node
	if fd := sc.c.fids[f.Fid]; f.Type == plan9.Twrite && fd != nil && fd.n.kind == kStream {
		ws = fd.n
		before = ws.parent.q.nextSeq
	}
	if fd := sc.c.fids[f.Fid]; f.Type == plan9.Tread && fd != nil && fd.rd != nil && sc.fids[f.Fid] != nil {
		req.rd = sc.fids[f.Fid]
		req.static = fd.rd.q.cfg.data == dataStatic
		req.count = int(min(f.Count, sc.msize-plan9.IOHDRSZ))
	}
	if f.Type == plan9.Tflush {
		req.flush = f.Oldtag
	}
	ok := sc.c.dispatch(f)
	if !ok {
		sc.c.abort()
	}
	if ws != nil && ws.parent.q.nextSeq != before {
		sm.wrote(ws, before, f.Data)
	}
	// A Twrite's data is the connection's read buffer, which the next
	// request overwrites: the server must have copied what it keeps.
	for i := range f.Data {
		f.Data[i] = '#'
	}
	sm.noteOpens(sc)
	sm.noteGone()
	sm.tr.mu.Unlock()
	if f.Type == plan9.Tversion && f.Msize >= 256 {
		sm.endSession(sc)
		sc.msize = min(f.Msize, maxMsize)
	}
	for i := range sm.conns {
		sm.replies(i)
	}
	if !ok {
		sm.log = append(sm.log, fmt.Sprintf("c%d closed", ci))
		sm.endSession(sc)
		sm.conns[ci] = sm.newConn()
	}
	sm.check()
}

// vanish ends connection ci as if its client went away (SPEC §8.8).
func (sm *sim) vanish(ci int) {
	sm.log = append(sm.log, fmt.Sprintf("c%d vanishes", ci))
	sc := sm.conns[ci]
	sm.tr.mu.Lock()
	sc.c.abort()
	sm.noteGone()
	sm.tr.mu.Unlock()
	sm.endSession(sc)
	for i := range sm.conns {
		sm.replies(i)
	}
	sm.conns[ci] = sm.newConn()
	sm.check()
}

// endSession forgets a session's requests and fids: no reply is owed
// to anything sent before a Tversion or a hang-up.
func (sm *sim) endSession(sc *simConn) {
	for tag := range sc.outstanding {
		delete(sc.outstanding, tag)
	}
	for num, r := range sc.fids {
		if r != nil {
			delete(r.g.readers, r)
		}
		delete(sc.fids, num)
	}
	for num := range sc.have {
		delete(sc.have, num)
	}
}

// wrote records a message the server took into its history.
func (sm *sim) wrote(n *node, seq uint64, data []byte) {
	q := n.parent.q
	s := sm.stream(n.sq)
	e := &mEntry{m: q.tail, s: s, data: append([]byte(nil), data...), name: n.name}
	if e.m == nil || e.m.seq != seq {
		// Dropped at once (no reader wanted it, or a depth smaller
		// than the message): it was written all the same.
		e.m = nil
		e.dropped, e.when = true, sm.steps
	}
	s.entries = append(s.entries, e)
	s.g.entries = append(s.g.entries, e)
}

// noteOpens gives every newly opened reader a model position where the
// server put it: where a reader starts is the replay mode's business.
func (sm *sim) noteOpens(sc *simConn) {
	for num, fd := range sc.c.fids {
		if fd.rd == nil || sc.fids[num] != nil {
			continue
		}
		g := sm.group(fd.rd.q)
		r := &mReader{g: g}
		view := g.entries
		if fd.rd.s != nil {
			r.s = sm.stream(fd.rd.s)
			view = r.s.entries
		}
		r.idx = len(view)
		if fd.rd.next != nil {
			r.idx = -1
			for i, e := range view {
				if e.m == fd.rd.next {
					r.idx = i
				}
			}
			if r.idx < 0 {
				sm.fail("new reader on fid %d starts at a message never written", num)
			}
		}
		r.off = fd.rd.off
		sc.fids[num] = r
		g.readers[r] = true
	}
	for num, r := range sc.fids {
		if fd := sc.c.fids[num]; fd == nil || fd.rd == nil {
			if r != nil {
				delete(r.g.readers, r)
			}
			delete(sc.fids, num)
		}
	}
}

// noteGone marks the messages that left the history in this step:
// with their stream, or otherwise.
func (sm *sim) noteGone() {
	for _, s := range sm.streams {
		if s.sq.removed && !s.removed {
			s.removed = true
			for _, e := range s.entries {
				if !e.dropped {
					e.removed = true
				}
			}
			// Order readers in the middle of one of its entries move on.
			for r := range s.g.readers {
				if r.s == nil && r.idx < len(s.g.entries) && s.g.entries[r.idx].removed {
					r.off = 0
					r.idx = s.g.next(r.idx)
				}
			}
		}
		for _, e := range s.entries {
			if e.m != nil && e.m.gone && !e.removed && !e.dropped {
				e.dropped, e.when = true, sm.steps
			}
		}
	}
}

// next is the index after i in the order view, past removed entries.
func (g *mGroup) next(i int) int {
	for i < len(g.entries) && g.entries[i].removed {
		i++
	}
	return i
}

func (r *mReader) view() []*mEntry {
	if r.s != nil {
		return r.s.entries
	}
	return r.g.entries
}

func (r *mReader) text(e *mEntry) []byte {
	if r.s != nil {
		return e.data
	}
	return []byte(e.name + "\n")
}

// skip moves r past its current entry.
func (r *mReader) skip() {
	r.off = 0
	r.idx++
	if r.s == nil {
		r.idx = r.g.next(r.idx)
	}
}

// takeReplies takes the replies queued for the writer, one message
// each.
func (c *conn) takeReplies() [][]byte {
	c.outMu.Lock()
	q := c.outq
	c.outq = nil
	c.backlog.Store(0)
	c.outMu.Unlock()
	var ms [][]byte
	for len(q) >= 4 {
		n := int(binary.LittleEndian.Uint32(q))
		ms = append(ms, q[:n:n])
		q = q[n:]
	}
	return ms
}

// replies takes connection i's queued replies and checks each.
func (sm *sim) replies(i int) {
	sm.t.Helper()
	sc := sm.conns[i]
	for _, b := range sc.c.takeReplies() {
		rx, err := plan9.UnmarshalFcall(b)
		if err != nil {
			sm.fail("c%d: unreadable reply: %v", i, err)
		}
		sm.log = append(sm.log, fmt.Sprintf("  c%d %v", i, rx))
		sm.reply(i, sc, rx)
	}
}

func (sm *sim) reply(i int, sc *simConn, rx *plan9.Fcall) {
	sm.t.Helper()
	if rx.Tag == plan9.NOTAG {
		if rx.Type != plan9.Rversion && (rx.Type != plan9.Rerror || rx.Ename != string(errMsizeSmall)) {
			sm.fail("c%d: Tversion answered %v", i, rx)
		}
		return
	}
	if sc.reused[rx.Tag] > 0 {
		sc.reused[rx.Tag]--
		if rx.Type != plan9.Rerror || rx.Ename != string(errTagInUse) {
			sm.fail("c%d: reused tag %d answered %v, want Rerror %q", i, rx.Tag, rx, errTagInUse)
		}
		return
	}
	req := sc.outstanding[rx.Tag]
	if req == nil {
		sm.fail("c%d: reply %v to no outstanding request (answered twice, or after its flush)", i, rx)
	}
	delete(sc.outstanding, rx.Tag)
	if rx.Type != req.f.Type+1 && rx.Type != plan9.Rerror {
		sm.fail("c%d: %v answered with %v", i, req.f, rx)
	}
	switch req.f.Type {
	case plan9.Tattach:
		if rx.Type == plan9.Rattach {
			sc.have[req.f.Fid] = true
		}
	case plan9.Twalk:
		if rx.Type == plan9.Rwalk && len(rx.Wqid) == len(req.f.Wname) {
			sc.have[req.f.Newfid] = true
		}
	case plan9.Tflush:
		if rx.Type != plan9.Rflush {
			sm.fail("c%d: Tflush answered %v (SPEC §8.6)", i, rx)
		}
		delete(sc.outstanding, req.flush)
	case plan9.Twrite:
		if rx.Type == plan9.Rwrite && rx.Count != uint32(len(req.f.Data)) {
			sm.fail("c%d: Rwrite count %d for %d bytes (SPEC §5.2)", i, rx.Count, len(req.f.Data))
		}
	case plan9.Tread:
		if req.rd != nil && !req.static {
			sm.readReply(i, req, rx)
		}
	}
}

// readReply checks a cursor read against the model (SPEC §6.2, §7.3).
func (sm *sim) readReply(i int, req *simReq, rx *plan9.Fcall) {
	sm.t.Helper()
	r := req.rd
	if rx.Type == plan9.Rerror {
		rest, ok := strings.CutPrefix(rx.Ename, "reader fell behind: ")
		if !ok {
			return
		}
		n, err := strconv.Atoi(strings.TrimSuffix(rest, " messages lost"))
		if err != nil || n < 1 {
			sm.fail("c%d: bad error %q", i, rx.Ename)
		}
		for range n {
			if r.idx >= len(r.view()) {
				sm.fail("c%d: told %d lost but only %d were left to read", i, n, len(r.view())-r.idx)
			}
			r.skip()
		}
		return
	}
	data := rx.Data
	if len(data) > req.count {
		sm.fail("c%d: read of %d returned %d bytes", i, req.count, len(data))
	}
	if len(data) == 0 {
		if req.count > 0 && r.s != nil && !r.s.removed && r.off != 0 {
			sm.fail("c%d: 0-byte read in the middle of a message", i)
		}
		return
	}
	message := r.g.q.cfg.data == dataMessage
	for len(data) > 0 {
		view := r.view()
		if r.idx >= len(view) {
			sm.fail("c%d: read %q beyond anything written to its view", i, data)
		}
		e := view[r.idx]
		// A message may leave in the step that delivers it: consumed
		// by this read, or forced out after a write woke the read.
		if e.dropped && e.when < sm.steps || e.removed {
			sm.fail("c%d: read %q from a message the history dropped, without an error first", i, data)
		}
		t := r.text(e)[r.off:]
		n := min(len(t), len(data))
		if message && (len(data) != min(len(t), req.count)) {
			sm.fail("c%d: message-mode read of %d returned %q; message left %q", i, req.count, data, t)
		}
		if !bytes.Equal(t[:n], data[:n]) {
			sm.fail("c%d: read %q, want a continuation of %q", i, data, t)
		}
		data = data[n:]
		r.off += n
		if r.off == len(r.text(e)) {
			r.skip()
		}
	}
}

// check verifies the server's state after a step.
func (sm *sim) check() {
	sm.t.Helper()
	tr := sm.tr
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.st.total > tr.st.cap {
		sm.fail("retained %d bytes over the cap %d (SPEC §7.2)", tr.st.total, tr.st.cap)
	}
	for i, sc := range sm.conns {
		if got, want := tagSet(maps.Collect(sc.c.pending.all())), tagSetReq(sc.outstanding); got != want {
			sm.fail("c%d: server has pending tags %s, client is owed %s", i, got, want)
		}
		if got, want := fidSet(sc.c.fids), fidSetHave(sc.have); got != want {
			sm.fail("c%d: server has fids %s, client holds %s", i, got, want)
		}
	}
	queues := map[*queue]bool{}
	var walk func(n *node)
	walk = func(n *node) {
		queues[n.q] = true
		for _, c := range n.children {
			if c.kind == kGroup {
				walk(c)
			}
		}
	}
	walk(tr.root)
	var total int64
	for q := range queues {
		total += q.bytes
	}
	for q := range sm.groups {
		if !queues[q] {
			if q.bytes != 0 {
				sm.fail("a removed group holds %d bytes", q.bytes)
			}
			queues[q] = true
		}
	}
	if total != tr.st.total {
		sm.fail("groups hold %d bytes, the store counts %d", total, tr.st.total)
	}
	parked := map[*readReq]bool{}
	waiting := map[*writeWait]bool{}
	for _, sc := range sm.conns {
		for tag, r := range sc.c.pending.all() {
			if r.rd.r != nil {
				parked[&r.rd] = true
			}
			if r.wr != nil {
				waiting[r.wr] = true
				if r.wr.m.from.s.q.waiter(r.wr.m) != r.wr || r.wr.m.gone {
					sm.fail("tag %d waits on a message that no longer waits for it", tag)
				}
			}
		}
	}
	for q := range queues {
		sm.checkQueue(q, parked, waiting)
	}
}

func (sm *sim) checkQueue(q *queue, parked map[*readReq]bool, waiting map[*writeWait]bool) {
	sm.t.Helper()
	var readers []*reader
	readers = append(readers, q.order...)
	for _, s := range q.streams {
		readers = append(readers, s.readers...)
	}
	var bytes int64
	count := 0
	for m := q.head; m != nil; m = m.gnext {
		bytes += int64(len(m.data))
		count++
		if m.gone {
			sm.fail("message %d is gone but still in the history", m.seq)
		}
		if w := q.waits[m]; m.waited != (w != nil) || w != nil && (!waiting[w] || w.m != m) {
			sm.fail("message %d: waited %v, but its waiting write is %v", m.seq, m.waited, w)
		}
		unread := 0
		for _, r := range readers {
			if (r.s == nil || r.s == m.from.s) && r.next != nil && r.next.seq <= m.seq {
				unread++
			}
		}
		if int32(unread) != m.unread {
			sm.fail("message %d: unread %d, but %d readers are at or before it", m.seq, m.unread, unread)
		}
	}
	if bytes != q.bytes || count != q.count {
		sm.fail("history holds %d messages, %d bytes; queue counts %d, %d", count, bytes, q.count, q.bytes)
	}
	if len(q.waits) > count {
		sm.fail("%d waiting writes for %d messages", len(q.waits), count)
	}
	for _, s := range q.streams {
		// A stream's list is its messages in the history, in order.
		var want, got []uint64
		var last *message
		for m := q.head; m != nil; m = m.gnext {
			if m.from.s == s {
				want = append(want, m.seq)
				last = m
			}
		}
		for m := s.head; m != nil; m = m.snext {
			got = append(got, m.seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || s.tail != last {
			sm.fail("stream list %v, history has %v", got, want)
		}
	}
	for _, r := range readers {
		if r.next != nil && r.next.gone {
			sm.fail("a reader's next message is gone")
		}
		for _, p := range r.parked {
			if !parked[p] {
				sm.fail("a parked read nobody is owed")
			}
		}
		if len(r.parked) > 0 && canTake(q, r) {
			sm.fail("a read is parked though the reader has something to return")
		}
	}
}

// canTake says whether a read of r would be answered now.
func canTake(q *queue, r *reader) bool {
	return r.lost > 0 || r.s != nil && r.s.removed || r.s == nil && q.removed ||
		r.eofDue() || r.next != nil
}

func tagSet(m map[uint16]*request) string   { return keys(m) }
func tagSetReq(m map[uint16]*simReq) string { return keys(m) }
func fidSet(m map[uint32]*fid) string       { return keys(m) }
func fidSetHave(m map[uint32]bool) string   { return keys(m) }

func keys[K uint16 | uint32, V any](m map[K]V) string {
	var ks []int
	for k := range m {
		ks = append(ks, int(k))
	}
	sort.Ints(ks)
	return fmt.Sprint(ks)
}

// finish flushes everything outstanding and clunks every fid on every
// connection, then hangs them all up, checking that nothing is left
// behind: no parked read, waiting write, reader or open count
// (SPEC §8.6, §8.7, §8.8).
func (sm *sim) finish() {
	sm.t.Helper()
	for ci, sc := range sm.conns {
		var tags []uint16
		for tag := range sc.outstanding {
			tags = append(tags, tag)
		}
		sort.Slice(tags, func(i, j int) bool { return tags[i] < tags[j] })
		for _, tag := range tags {
			sm.step(ci, &plan9.Fcall{Type: plan9.Tflush, Tag: 0xfff0, Oldtag: tag})
		}
		var fids []uint32
		for num := range sc.c.fids {
			fids = append(fids, num)
		}
		sort.Slice(fids, func(i, j int) bool { return fids[i] < fids[j] })
		for _, num := range fids {
			sm.step(ci, &plan9.Fcall{Type: plan9.Tclunk, Tag: 0xfff1, Fid: num})
		}
		if len(sc.c.fids) != 0 || sc.c.pending.len() != 0 {
			sm.fail("c%d: %d fids and %d tags left after flushing and clunking everything", ci, len(sc.c.fids), sc.c.pending.len())
		}
	}
	for ci := range sm.conns {
		sm.vanish(ci)
	}
	sm.tr.mu.Lock()
	defer sm.tr.mu.Unlock()
	var walk func(n *node)
	walk = func(n *node) {
		for _, x := range append(n.entries(), n) {
			if x.opens != 0 {
				sm.fail("%s open %d times with no fid left", x.name, x.opens)
			}
		}
		q := n.q
		if len(q.order) > 0 {
			sm.fail("group %s: readers of order with no fid left", n.name)
		}
		for _, s := range q.streams {
			if len(s.readers) > 0 {
				sm.fail("group %s: stream readers with no fid left", n.name)
			}
		}
		// With no readers, replay off keeps nothing and replay last
		// only each stream's newest message (SPEC §7.2).
		for m := q.head; m != nil; m = m.gnext {
			if m.waited {
				sm.fail("group %s: a write still waits with nobody to answer", n.name)
			}
			if q.cfg.replay == replayOff || q.cfg.replay == replayLast && m != m.from.s.tail {
				sm.fail("group %s: replay %s keeps message %d with no reader", n.name, replayNames[q.cfg.replay], m.seq)
			}
		}
		for _, c := range n.children {
			if c.kind == kGroup {
				walk(c)
			}
		}
	}
	walk(sm.tr.root)
}
