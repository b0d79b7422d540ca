package main

// This file owns time: a group's history, the readers' cursors, replay,
// depth and the server cap, parked reads and waiting writes. It knows
// nothing of 9P. Every function here runs with tree.mu held.

import "strings"

// message is one write, stored once whatever the number of readers
// (SPEC §7.1). It sits in two lists at once: its group's history, which
// is what order shows, and its stream's, which is what the stream shows.
// A history may hold millions, so it is kept to 64 bytes: the stream
// list is singly linked, as messages leave a stream almost always from
// its head, and a waiting write is found through its group.
type message struct {
	seq          uint64 // position in the group's history, from 1
	data         string
	from         *origin // the stream, and its name when written
	gprev, gnext *message
	snext        *message
	unread       int32 // readers of its stream or of order not yet past it
	waited       bool  // a write waits on it (SPEC §5.3): see queue.waits
	gone         bool  // dropped from the history
	logged       bool  // in the log (mq -r), so its leaving is logged
}

// origin is a stream under one name: what order shows for the messages
// written to it under that name (SPEC §6.3). It is shared by all of
// them and replaced when the stream is renamed.
type origin struct {
	s    *streamq
	line string // the name and a newline
}

// store is what all groups share: the server cap (SPEC §7.2).
type store struct {
	cap   int64
	total int64 // payload bytes held in all queues
}

// queue is a group's history and the readers of its order file.
type queue struct {
	st         *store
	cfg        config
	head, tail *message
	count      int
	bytes      int64
	nextSeq    uint64
	orderVers  uint32
	order      []*reader // open readers of order
	streams    []*streamq
	waits      map[*message]*writeWait
	spare      *message // a message written and gone at once, to reuse
	removed    bool
	got        []*message // waited on and just read whole, to tell after the read's answer
	log        *dlog      // with -r: drops are logged
	path       uint64     // the group's qid.path, which names it in the log
	quiet      bool       // drops are implied by a logged change
	logNext    bool       // the message write makes next is logged
}

// streamq is a stream's view of its group's history.
type streamq struct {
	q          *queue
	head, tail *message
	from       *origin // for the next message written
	bytes      int64
	vers       uint32
	readers    []*reader
	removed    bool
	path       uint64 // qid.path, which names it in the log
	node       *node
}

// reader is a fid open for reading on a stream (s set) or on order.
type reader struct {
	q      *queue
	s      *streamq
	next   *message // next message to read; nil when at the end
	off    int      // bytes of next already returned
	lost   int      // messages dropped before this reader got them
	eofs   []uint64 // eof marks: a 0-byte read is due once every message before seq is read
	opened uint64   // q.nextSeq when opened, to tell who a wait all counts
	parked []*readReq
}

// readReq is a read waiting for data (SPEC §6.2). The caller owns it;
// done is told once, with tree.mu held, unless the read is cancelled
// first.
type readReq struct {
	r      *reader
	offset int64 // for a static read, should the group turn static
	count  int
	done   readDone
}

// readDone is what a read returns to: data, or an error. data is
// never written to.
type readDone interface {
	readDone(data string, err error)
}

// writeWait is a write waiting for its readers (SPEC §5.3). respond is
// called once, with tree.mu held, unless the wait is cancelled first.
type writeWait struct {
	m       *message
	mode    waitMode
	need    int // for wait all: readers open at the write not yet past it
	respond func(err error)
}

func newQueue(st *store, cfg config) *queue {
	return &queue{st: st, cfg: cfg, nextSeq: 1}
}

func (q *queue) newStream() *streamq {
	s := &streamq{q: q}
	q.streams = append(q.streams, s)
	return s
}

// next is the message after m in the reader's view.
func (r *reader) after(m *message) *message {
	if r.s != nil {
		return m.snext
	}
	return m.gnext
}

// text is what m reads as in the reader's view: its data, or for
// order the stream's name and a newline (SPEC §6.3).
func (r *reader) text(m *message) string {
	if r.s != nil {
		return m.data
	}
	return m.from.line
}

// waiter is the write waiting on m, if any.
func (q *queue) waiter(m *message) *writeWait {
	if !m.waited {
		return nil
	}
	return q.waits[m]
}

// setWaiter makes w, or nobody when w is nil, the write waiting on m.
func (q *queue) setWaiter(m *message, w *writeWait) {
	if w == nil {
		if m.waited {
			delete(q.waits, m)
			m.waited = false
		}
		return
	}
	if q.waits == nil {
		q.waits = make(map[*message]*writeWait)
	}
	q.waits[m] = w
	m.waited = true
}

// write appends data to s as one message and its entry to order, in
// one step (SPEC §5.1), delivers it to parked readers and trims the
// history. When it returns a writeWait, the write waits (SPEC §5.3):
// respond is called exactly once, perhaps before write returns, unless
// the wait is cancelled. Otherwise the write is done. respond may be
// nil when mayWait is false.
//
// data is only borrowed: write copies it if the message stays, so a
// message that every reader takes at once and nobody keeps is never
// copied out of the request that brought it.
func (q *queue) write(s *streamq, name string, data string, respond func(error)) (*writeWait, error) {
	n := int64(len(data))
	if err := q.makeRoom(n); err != nil {
		return nil, err
	}
	if f := s.from; f == nil || len(f.line) != len(name)+1 || f.line[:len(name)] != name {
		s.from = &origin{s: s, line: name + "\n"}
	}
	m := q.spare
	if m != nil {
		q.spare = nil
		*m = message{seq: q.nextSeq, data: data, from: s.from}
	} else {
		m = &message{seq: q.nextSeq, data: data, from: s.from}
	}
	m.logged, q.logNext = q.logNext, false
	q.nextSeq++
	prev := s.tail
	q.append(m)
	var w *writeWait
	switch q.cfg.wait {
	case waitOne:
		w = &writeWait{m: m, mode: waitOne, respond: respond}
	case waitAll:
		if len(s.readers) > 0 {
			w = &writeWait{m: m, mode: waitAll, need: len(s.readers), respond: respond}
		}
	}
	q.setWaiter(m, w)
	for _, r := range s.readers {
		if r.next == nil {
			r.next = m
		}
	}
	for _, r := range q.order {
		if r.next == nil {
			r.next = m
		}
	}
	for _, r := range s.readers {
		q.wake(r)
	}
	for _, r := range q.order {
		q.wake(r)
	}
	if prev != nil {
		q.maybeDrop(prev) // no longer the newest, for replay last
	}
	q.maybeDrop(m)
	q.trimDepth()
	switch {
	case !m.gone:
		m.data = strings.Clone(m.data)
	case w == nil:
		// Taken by every reader at once, and never waited on: nothing
		// refers to it now, and the next write can have it.
		q.spare = m
	}
	return w, nil
}

// mayWait says whether a write now could wait for readers (SPEC §5.3).
func (q *queue) mayWait() bool { return q.cfg.wait != waitOff }

// fits says whether the server cap can take n more bytes, by dropping
// this group's messages if need be: whether write would succeed.
func (q *queue) fits(n int64) bool { return q.st.total-q.bytes+n <= q.st.cap }

// makeRoom makes the server cap hold n more bytes by dropping this
// group's oldest messages, or fails without dropping any (SPEC §7.2).
func (q *queue) makeRoom(n int64) error {
	if !q.fits(n) {
		return errNoSpace
	}
	for q.st.total+n > q.st.cap {
		q.drop(q.head, true)
	}
	return nil
}

func (q *queue) append(m *message) {
	s := m.from.s
	m.gprev = q.tail
	if q.tail != nil {
		q.tail.gnext = m
	} else {
		q.head = m
	}
	q.tail = m
	if s.tail != nil {
		s.tail.snext = m
	} else {
		s.head = m
	}
	s.tail = m
	n := int64(len(m.data))
	q.count++
	q.bytes += n
	s.bytes += n
	q.st.total += n
	s.vers++
	q.orderVers++
	m.unread = int32(len(s.readers) + len(q.order))
}

// trimDepth drops the oldest messages while the history is over its
// depth limit.
func (q *queue) trimDepth() {
	d := q.cfg.depth
	for q.head != nil && d.n > 0 && (!d.inBytes && int64(q.count) > d.n || d.inBytes && q.bytes > d.n) {
		q.drop(q.head, true)
	}
}

// droppable says whether m may go without any reader losing it
// (SPEC §7.2). A static read moves no cursor, so in a static group no
// reader is owed anything and readers hold nothing back (SPEC §6.2).
func (q *queue) droppable(m *message) bool {
	if m.unread > 0 && q.cfg.data != dataStatic || m.waited {
		return false
	}
	switch q.cfg.replay {
	case replayAll:
		return false
	case replayLast:
		return m != m.from.s.tail
	}
	return true
}

func (q *queue) maybeDrop(m *message) {
	if !m.gone && q.droppable(m) {
		q.drop(m, false)
	}
}

// drop takes m out of the history. Readers whose next message it was
// move on; when forced (depth, cap) they are told how many they lost
// (SPEC §7.3). A write still waiting on m fails.
func (q *queue) drop(m *message, forced bool) {
	s := m.from.s
	m.gone = true
	if m.logged && q.log != nil {
		q.log.dropped(q, m, q.quiet)
	}
	if forced || m.unread > 0 {
		for _, r := range s.readers {
			q.skip(r, m, forced)
		}
		for _, r := range q.order {
			q.skip(r, m, forced)
		}
	}
	if m.gprev != nil {
		m.gprev.gnext = m.gnext
	} else {
		q.head = m.gnext
	}
	if m.gnext != nil {
		m.gnext.gprev = m.gprev
	} else {
		q.tail = m.gprev
	}
	s.unlink(m)
	// Nothing follows a gone message's links (no reader is on it, and
	// mq -r's hints check gone): cut, they would keep every message
	// after it from being collected while anything still points to it,
	// such as a hint of the log's, and the collector would walk them.
	m.gprev, m.gnext, m.snext = nil, nil, nil
	n := int64(len(m.data))
	q.count--
	q.bytes -= n
	s.bytes -= n
	q.st.total -= n
	m.data = ""
	if w := q.waiter(m); w != nil {
		q.setWaiter(m, nil)
		w.respond(errDropped)
	}
}

// unlink takes m out of the stream's list. It is nearly always the
// head: in a stream, a message that may go was written after none that
// must stay, but for a write still waiting on an older one.
func (s *streamq) unlink(m *message) {
	var prev *message
	if s.head != m {
		prev = s.head
		for prev.snext != m {
			prev = prev.snext
		}
	}
	if prev != nil {
		prev.snext = m.snext
	} else {
		s.head = m.snext
	}
	if s.tail == m {
		s.tail = prev
	}
}

func (q *queue) skip(r *reader, m *message, forced bool) {
	if r.next != m {
		return
	}
	r.next = r.after(m)
	if forced || r.off > 0 {
		r.lost++ // a half-read message is lost, not cut short
	}
	r.off = 0
}

// open makes a reader of s, or of order when s is nil, starting where
// the replay mode says (SPEC §6.1).
func (q *queue) open(s *streamq) *reader {
	r := &reader{q: q, s: s, opened: q.nextSeq}
	switch q.cfg.replay {
	case replayAll:
		r.next = q.head
		if s != nil {
			r.next = s.head
		}
	case replayLast:
		r.next = q.tail
		if s != nil {
			r.next = s.tail
		}
	}
	// A writer waiting for a reader is met by the next one to come,
	// whatever the replay mode.
	if s != nil && q.cfg.replay != replayAll {
		for m := s.head; m != nil && m != r.next; m = m.snext {
			if w := q.waiter(m); w != nil && w.mode == waitOne {
				r.next = m
				break
			}
		}
	}
	for m := r.next; m != nil; m = r.after(m) {
		m.unread++
	}
	if s != nil {
		s.readers = append(s.readers, r)
	} else {
		q.order = append(q.order, r)
	}
	return r
}

// close ends r: its parked reads are answered with err, and the
// messages it had not read may go.
func (q *queue) close(r *reader, err error) {
	for _, p := range r.parked {
		p.done.readDone("", err)
	}
	r.parked = nil
	if r.s != nil {
		r.s.readers = without(r.s.readers, r)
	} else {
		q.order = without(q.order, r)
	}
	for m := r.next; m != nil; {
		next := r.after(m)
		m.unread--
		// A reader going away counts for wait all, but a wait one
		// write waits on for a reader that gets its message.
		if w := q.waiter(m); w != nil && w.mode == waitAll {
			r.passedWait(m)
		}
		q.maybeDrop(m)
		m = next
	}
	r.next = nil
}

func without(rs []*reader, r *reader) []*reader {
	for i, x := range rs {
		if x == r {
			rs[i] = rs[len(rs)-1]
			rs[len(rs)-1] = nil
			return rs[:len(rs)-1]
		}
	}
	return rs
}

// passedWait tells a write waiting on m that r has got m, or gone.
func (r *reader) passedWait(m *message) {
	w := r.q.waiter(m)
	if w == nil || r.s == nil {
		return
	}
	if w.mode == waitAll {
		if r.opened > m.seq {
			return
		}
		w.need--
		if w.need > 0 {
			return
		}
	}
	r.q.setWaiter(m, nil)
	w.respond(nil)
}

// cancelWait forgets a waiting write (flushed, or its client gone).
func (q *queue) cancelWait(w *writeWait) {
	m := w.m
	if q.waiter(m) != w {
		return
	}
	q.setWaiter(m, nil)
	q.maybeDrop(m)
}

// read serves p: at once, or later when data comes. It says whether p
// is parked, to be answered later or cancelled.
func (q *queue) read(p *readReq) bool {
	r := p.r
	if q.cfg.data == dataStatic {
		p.done.readDone(q.static(r, p.offset, p.count), nil)
		return false
	}
	r.parked = append(r.parked, p)
	q.wake(r)
	return len(r.parked) > 0 && r.parked[len(r.parked)-1] == p
}

// cancelRead forgets a parked read (flushed, or its client gone).
func (q *queue) cancelRead(p *readReq) {
	r := p.r
	for i, x := range r.parked {
		if x == p {
			r.parked = append(r.parked[:i], r.parked[i+1:]...)
			return
		}
	}
}

// wake answers r's parked reads, oldest first, while it has something
// to return.
func (q *queue) wake(r *reader) {
	for len(r.parked) > 0 {
		p := r.parked[0]
		var data string
		var err error
		ok := true
		if q.cfg.data == dataStatic {
			data = q.static(r, p.offset, p.count)
		} else if data, err, ok = q.take(r, p.count); !ok {
			return
		}
		r.parked[0] = nil
		if len(r.parked) == 1 {
			r.parked = r.parked[:0] // keep the array: the next read parks without allocating
		} else {
			r.parked = r.parked[1:]
		}
		p.done.readDone(data, err)
		q.received(r)
	}
}

// received tells the writes waiting on the messages r has just read
// whole, once the read that gave them is answered: a reader has
// received a message when its Rread is on its way, and the Rwrite
// must not overtake it (SPEC §5.3).
func (q *queue) received(r *reader) {
	for i, m := range q.got {
		q.got[i] = nil
		r.passedWait(m)
		q.maybeDrop(m)
	}
	q.got = q.got[:0]
}

// take cuts the next read of up to count bytes from r's view. ok is
// false when there is nothing to return yet. No data and no error is
// end of file, but for a count of 0. Data from one message is not
// copied.
func (q *queue) take(r *reader, count int) (data string, err error, ok bool) {
	if r.s != nil && r.s.removed || r.s == nil && q.removed {
		// Every read ends the file, whatever the reader had lost.
		return "", nil, true
	}
	if r.lost > 0 {
		err = fellBehind(r.lost)
		r.lost = 0
		return "", err, true
	}
	if r.eofDue() {
		if count > 0 { // a read of nothing leaves the mark to a read that can take it
			r.eofs = r.eofs[1:]
		}
		return "", nil, true
	}
	if r.next == nil {
		return "", nil, false
	}
	if count == 0 {
		// The smaller of count and the message, which stays: a read
		// of nothing waits as any read does, and is no end of file.
		return "", nil, true
	}
	data = r.cut(count)
	if q.cfg.data == dataMessage || len(data) == count || r.next == nil || r.eofDue() {
		return data, nil, true
	}
	var b strings.Builder // bytes: join messages up to count
	b.WriteString(data)
	for r.next != nil && b.Len() < count && !r.eofDue() {
		b.WriteString(r.cut(count - b.Len()))
	}
	return b.String(), nil, true
}

// cut returns up to n bytes of r's next message and moves r past them.
func (r *reader) cut(n int) string {
	m := r.next
	t := r.text(m)
	rest := t[r.off:]
	if len(rest) > n {
		rest = rest[:n]
	}
	r.off += len(rest)
	if r.off == len(t) {
		r.next = r.after(m)
		r.off = 0
		m.unread--
		if m.waited && r.s != nil {
			r.q.got = append(r.q.got, m) // told by wake, after the read's answer
		} else {
			r.q.maybeDrop(m)
		}
	}
	return rest
}

// eofDue says whether r has read everything written before its oldest
// eof mark.
func (r *reader) eofDue() bool {
	return len(r.eofs) > 0 && r.off == 0 && (r.next == nil || r.next.seq >= r.eofs[0])
}

// static is a read of r's view as a regular file: its retained
// messages back to back, read at offset (SPEC §6.2).
func (q *queue) static(r *reader, offset int64, count int) string {
	if offset < 0 {
		return "" // a Tread offset past 2⁶³: far beyond the end
	}
	var data strings.Builder
	start := q.head
	if r.s != nil {
		start = r.s.head
	}
	for m := start; m != nil && data.Len() < count; m = r.after(m) {
		t := r.text(m)
		if offset >= int64(len(t)) {
			offset -= int64(len(t))
			continue
		}
		t = t[offset:]
		offset = 0
		if len(t) > count-data.Len() {
			t = t[:count-data.Len()]
		}
		data.WriteString(t)
	}
	return data.String()
}

// apply carries out one ctl line; s is eof's stream, nil for all.
func (q *queue) apply(st ctlStep, s *streamq) {
	switch st.verb {
	case "":
		q.setConfig(st.cfg)
	case "clear":
		q.clear()
	case "eof":
		q.eof(s)
	}
}

// setConfig applies a new configuration at once (SPEC §4.3).
func (q *queue) setConfig(cfg config) {
	static := cfg.data == dataStatic && q.cfg.data != dataStatic
	q.cfg = cfg
	if static {
		q.wakeAll() // static reads never block
	}
	for m := q.head; m != nil; {
		next := m.gnext
		q.maybeDrop(m)
		m = next
	}
	q.trimDepth()
}

// clear drops the whole history and moves every reader to its end
// without error (SPEC §4.2).
func (q *queue) clear() {
	for _, s := range q.streams {
		for _, r := range s.readers {
			r.next, r.off, r.lost = nil, 0, 0
		}
	}
	for _, r := range q.order {
		r.next, r.off, r.lost = nil, 0, 0
	}
	for q.head != nil {
		q.head.unread = 0
		q.drop(q.head, false)
	}
	q.wakeAll()
}

// eof gives every reader now open on s (every stream if s is nil) one
// end of file after what was written so far (SPEC §4.2).
func (q *queue) eof(s *streamq) {
	for _, t := range q.streams {
		if s != nil && t != s {
			continue
		}
		for _, r := range t.readers {
			r.eofs = append(r.eofs, q.nextSeq)
			q.wake(r)
		}
	}
}

func (q *queue) wakeAll() {
	for _, s := range q.streams {
		for _, r := range s.readers {
			q.wake(r)
		}
	}
	for _, r := range q.order {
		q.wake(r)
	}
}

// removeStream takes s and its messages out of the group; its readers
// read end of file from now on (SPEC §3.5).
func (q *queue) removeStream(s *streamq) {
	s.removed = true
	q.quiet = true // the stream's removal is logged, and says it
	for m := s.head; m != nil; {
		next := m.snext
		q.drop(m, false)
		m = next
	}
	q.quiet = false
	for i, t := range q.streams {
		if t == s {
			q.streams = append(q.streams[:i], q.streams[i+1:]...)
			break
		}
	}
	for _, r := range s.readers {
		r.next = nil
		q.wake(r)
	}
}

// remove ends an empty group: readers of order read end of file.
func (q *queue) remove() {
	q.removed = true
	for _, r := range q.order {
		q.wake(r)
	}
}

// restore puts a message read back from the log into the history, in
// order of seq: at the end, but for messages a group turning replay on
// logged late and messages carried forward. Nothing is dropped and no
// reader is told. It returns the message, or nil if the history had
// it already.
//
// The place in the middle is looked for from the head of the group's
// list and of the stream's, or from h's messages if they are still in
// the history and before seq: messages carried forward come back in
// runs of ascending seq, and with the previous one of the run as h the
// place is found in a step or two (SPEC §11.5).
func (q *queue) restore(s *streamq, seq uint64, name, data string, h *restoreHint) *message {
	if f := s.from; f == nil || len(f.line) != len(name)+1 || f.line[:len(name)] != name {
		s.from = &origin{s: s, line: name + "\n"}
	}
	m := &message{seq: seq, data: data, from: s.from, logged: true}
	q.nextSeq = max(q.nextSeq, seq+1)
	if q.tail == nil || q.tail.seq < seq {
		q.append(m)
		s.vers-- // append counts a write; the caller does
		q.orderVers--
		return m
	}
	var hg, hs *message
	if h != nil {
		hg, hs = h.before(q, nil, seq), h.before(q, s, seq)
	}
	// Before at, the first message with a greater seq.
	at, steps := q.head, 0
	if hg != nil {
		at = hg.gnext // not nil: the tail's seq is not below seq
	}
	for at.seq < seq {
		at = at.gnext
		steps++
	}
	if at.seq == seq {
		if h != nil {
			h.steps += steps
		}
		return nil
	}
	m.gnext, m.gprev = at, at.gprev
	if at.gprev != nil {
		at.gprev.gnext = m
	} else {
		q.head = m
	}
	at.gprev = m
	prev, x := hs, s.head
	if hs != nil {
		x = hs.snext
	}
	for ; x != nil && x.seq < seq; x = x.snext {
		prev = x
		steps++
	}
	if prev == nil {
		m.snext, s.head = s.head, m
	} else {
		m.snext, prev.snext = prev.snext, m
	}
	if m.snext == nil {
		s.tail = m
	}
	if h != nil {
		h.steps += steps
	}
	n := int64(len(data))
	q.count++
	q.bytes += n
	s.bytes += n
	q.st.total += n
	return m
}

// restoreHint is where restore may start looking for a message's place.
type restoreHint struct {
	g     *message // a message of the group thought to be before the one restored
	s     *message // one of the stream
	steps int      // links followed looking for places, for tests
}

// before is the hint's message of q (of s if s is not nil) with the
// greatest seq below seq that is still in the history, or nil.
func (h *restoreHint) before(q *queue, s *streamq, seq uint64) *message {
	var best *message
	for _, m := range [2]*message{h.g, h.s} {
		if m == nil || m.gone || m.seq >= seq || m.from.s.q != q || s != nil && m.from.s != s {
			continue
		}
		if best == nil || m.seq > best.seq {
			best = m
		}
	}
	return best
}
