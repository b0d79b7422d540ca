package main

// The hand-rolled 9P loop: connections, fids, tags, flush. One method
// per T-message; replies leave through conn.respond and conn.send.

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"9fans.net/go/plan9"
)

// maxMsize is the server's own largest message; at least the 8216 the
// Plan 9 kernel asks for (SPEC §8.1). It is what 9fans.net/go's client
// asks for, so no other client can write a message longer than one of
// that client's reads.
const maxMsize = 128 << 10

// server is the 9P side of mq.
type server struct {
	tree  *tree
	trace *tracer // -D: every message, lib9p style; nil for none

	// exitMu guards exits, clean-up run once when mq exits.
	exitMu sync.Mutex
	exits  []func()

	// conns is the connections being served, guarded by tree.mu:
	// mq exiting ends them, and their fids' ORCLOSE is honoured.
	conns map[*conn]struct{}
}

// newServer serves t, tracing 9P to trace if it is not nil (-D).
func newServer(t *tree, trace io.Writer) *server {
	s := &server{tree: t, conns: make(map[*conn]struct{})}
	if trace != nil {
		s.trace = newTracer(trace)
	}
	return s
}

// onExit registers f to run when mq exits on purpose or by signal.
func (s *server) onExit(f func()) {
	s.exitMu.Lock()
	s.exits = append(s.exits, f)
	s.exitMu.Unlock()
}

func (s *server) exit() {
	s.removeOnClose()
	s.exitMu.Lock()
	fs := s.exits
	s.exits = nil
	s.exitMu.Unlock()
	for _, f := range fs {
		f()
	}
}

// removeOnClose removes the files open ORCLOSE on every connection, as
// their clunks would: mq exiting ends the connections (SPEC §8.8), and
// with -r the removals are logged before the log closes.
func (s *server) removeOnClose() {
	t := s.tree
	t.mu.Lock()
	defer t.mu.Unlock()
	var fds []*fid
	for c := range s.conns {
		for _, fd := range c.fids {
			if fd.rclose {
				fds = append(fds, fd)
			}
		}
	}
	for _, fd := range deepestFirst(fds) {
		fd.rclose = false
		t.remove(fd.n, fd.uid)
	}
}

// deepestFirst orders fds so that a file's comes before its group's:
// a group open ORCLOSE is removed once the files in it are.
func deepestFirst(fds []*fid) []*fid {
	slices.SortStableFunc(fds, func(a, b *fid) int { return b.n.depth() - a.n.depth() })
	return fds
}

// fid is a client's handle on a node.
type fid struct {
	n      *node
	uid    string
	root   *node // the attach root, above which .. does not go
	open   bool
	omode  uint8
	rclose bool
	rd     *reader // for fids open for reading on a stream or order

	dirents []*node // directory read: the entries listed at offset 0
	dirpos  int     // next entry to list
	diroff  uint64  // where the previous read ended
}

// request is a request that may wait for its reply: a read, which
// the queue answers through readDone, or a write that waits.
type request struct {
	c       *conn
	tag     uint16
	f       *fid
	rd      readReq // rd.r is set for a read
	wr      *writeWait
	count   uint32 // a write's count, for its Rwrite
	pending bool   // in c.pending
	logOff  uint64 // a write's end in the log, which its Rwrite waits for
}

// readDone answers a read. A parked one is done with; one answered
// at once is freed by conn.read.
func (r *request) readDone(data string, err error) {
	c := r.c
	if err != nil {
		c.respond(r.tag, nil, err)
	} else {
		c.sendRead(r.tag, data)
	}
	if r.pending {
		c.pending.del(r.tag)
		c.freeRead(r)
	}
}

// maxSpare bounds the read requests a connection keeps for reuse: up
// to 10 KB, once it has had that many reads in flight.
const maxSpare = 128

// newRead returns a read request, zeroed: reads are the commonest
// requests, and reusing them spares the garbage collector.
func (c *conn) newRead() *request {
	if n := len(c.spare); n > 0 {
		r := c.spare[n-1]
		c.spare = c.spare[:n-1]
		return r
	}
	return new(request)
}

func (c *conn) freeRead(r *request) {
	*r = request{}
	if len(c.spare) < maxSpare {
		c.spare = append(c.spare, r)
	}
}

// conn is one 9P session.
type conn struct {
	s       *server
	t       *tree
	rwc     io.ReadWriteCloser
	in, out int         // names in -D traces, as lib9p's file descriptors
	msize   uint32      // set only by the reading goroutine
	fc      plan9.Fcall // the reading goroutine's Tread or Twrite, decoded in place
	clock   uint32      // when the message being handled arrived, for atime and mtime

	fids    map[uint32]*fid // guarded by tree.mu
	pending tagTable        // guarded by tree.mu
	spare   []*request      // read requests to reuse; guarded by tree.mu
	own     bool            // replies go to ownq, for the reading goroutine to write; guarded by tree.mu
	ownq    []byte          // replies made while own is set; guarded by tree.mu
	ownAt   uint64          // ownq waits for the log to be written up to here; guarded by tree.mu
	pend    []byte          // ownq handed back to wait for the log; the reading goroutine's
	pendAt  uint64          // the log's offset pend waits for

	// With -r, replies to changes wait until the log has them
	// (SPEC §11.3); guarded by tree.mu.
	holding bool   // a request is being handled: its reply may wait
	holdTag uint16 // its tag
	mark    uint64 // the log's ackEnd before it
	holdAt  uint64 // a reply being made waits for the log up to here
	nheld   int    // replies waiting in the log; guarded by dlog.mu

	// outMu guards outq, backlog, writing, deadline and closed:
	// replies waiting to be written.
	outMu    sync.Mutex
	outc     *sync.Cond   // signalled when the writer has work, or closed is set
	roomc    *sync.Cond   // signalled when backlog shrinks or closed is set
	outq     []byte       // replies, encoded, in order
	backlog  atomic.Int64 // bytes queued and not yet written; roomy reads it without outMu
	writing  bool         // the writer or the reading goroutine is writing
	deadline bool         // rwc has a write deadline the reading goroutine set
	closed   bool
	werr     error // why writing replies failed, for -D

	direct      deadliner // rwc, when the reading goroutine may write to it; nil if not
	ownBuf      []byte    // the reading goroutine's spare output buffer
	ownDeadline time.Time // the write deadline the reading goroutine last set
	slow        bool      // the client once left its replies waiting: the writer writes them all
}

// serve speaks 9P on rwc until it fails or closes. id names the
// connection in -D traces: 0 is standard input and output.
func (s *server) serve(rwc io.ReadWriteCloser, id int) {
	c := s.newConn(rwc, id)
	c.t.mu.Lock()
	s.conns[c] = struct{}{}
	c.t.mu.Unlock()
	done := make(chan struct{})
	go func() {
		c.writer()
		close(done)
	}()
	in := &msgReader{r: rwc, buf: make([]byte, 8192)}
	eof := false
	locked := false
	var why error // why the connection closes, for -D
	for {
		// Requests that came together are handled under one hold of
		// the tree's lock, let go before anything that may block.
		if locked && (!in.ready() || !c.roomy(len(c.ownq))) {
			own := c.handOwn()
			c.t.mu.Unlock()
			locked = false
			if l := c.t.log; l != nil {
				var self *conn
				if own {
					self = c
				}
				l.flushOwn(self, c.pendAt)
				c.sendPend(l)
			}
			if own {
				c.writeOwn()
			}
		}
		if !locked {
			c.waitRoom()
		}
		f, err := c.readMsg(in)
		// The clock is read once per read from the client, not once
		// per message: a burst of requests arrives together, and
		// reading the time for each cost a tenth of a fan-out's time.
		if in.fresh {
			c.clock, in.fresh = now(), false
		}
		if err != nil {
			eof = err == io.EOF
			why = err
			break
		}
		if !locked {
			c.t.mu.Lock()
			locked = true
			c.own = c.direct != nil && !c.slow
		}
		if !c.dispatch(f) {
			why = errors.New("unexpected " + fcallString(f))
			break
		}
	}
	if s.trace != nil {
		why = c.closeReason(why) // before this side closes rwc too
	}
	if !locked {
		c.t.mu.Lock()
	}
	c.abort()
	delete(s.conns, c)
	if l := c.t.log; l != nil {
		l.commit()
	}
	c.handOwn()
	c.t.mu.Unlock()
	if l := c.t.log; l != nil {
		l.flushOwn(nil, c.pendAt)
		c.sendPend(l)
	}
	c.outMu.Lock()
	c.closed = true
	c.outc.Broadcast()
	// Replies already queued still go out, but a client that has
	// stopped reading does not keep this connection forever.
	if d, ok := rwc.(deadliner); ok {
		d.SetWriteDeadline(time.Now().Add(time.Minute))
		c.deadline = false
	}
	c.outMu.Unlock()
	if !eof {
		// Hang up at once on a protocol error: the writer may be
		// stuck on a client that sent garbage and reads nothing.
		rwc.Close()
	}
	<-done
	rwc.Close()
	if s.trace != nil {
		s.trace.printf("mq: connection %d closed: %v\n", id, why)
	}
}

// closeReason says why the connection is closing, given why reading
// stopped, in one line for -D (SPEC §8.9): the client hung up, sent a
// malformed message, or could not be written to, which closes rwc
// under the reading goroutine.
func (c *conn) closeReason(why error) error {
	c.outMu.Lock()
	werr := c.werr
	c.outMu.Unlock()
	switch {
	case why == io.EOF:
		return errors.New("client hung up")
	case why == io.ErrUnexpectedEOF:
		return errors.New("client hung up part way through a message")
	case werr != nil:
		return fmt.Errorf("writing replies: %v", werr)
	}
	return why
}

func (s *server) newConn(rwc io.ReadWriteCloser, id int) *conn {
	c := &conn{s: s, t: s.tree, rwc: rwc, in: id, out: id, msize: maxMsize, clock: now(),
		fids: make(map[uint32]*fid)}
	if id == 0 {
		c.out = 1
	}
	c.outc = sync.NewCond(&c.outMu)
	c.roomc = sync.NewCond(&c.outMu)
	if d, ok := rwc.(deadliner); ok && exactDeadlines && d.SetWriteDeadline(time.Time{}) == nil {
		c.direct = d
	}
	return c
}

// dispatch handles one T-message with tree.mu held. It returns false
// when the connection must close (SPEC §8.9).
func (c *conn) dispatch(f *plan9.Fcall) bool {
	if c.s.trace != nil {
		c.s.trace.printf("<-%d- %s\n", c.in, fcallString(f))
	}
	// A Tflush on a tag in use is refused too, and flushes nothing
	// (SPEC §8.7).
	if c.pending.get(f.Tag) != nil && f.Type != plan9.Tversion {
		c.respond(f.Tag, nil, errTagInUse)
		return true
	}
	var rx *plan9.Fcall
	var err error
	var logEnd uint64
	if l := c.t.log; l != nil {
		c.holding, c.holdTag, c.mark = true, f.Tag, l.ackOff
		logEnd = l.end
		defer func() { c.holding = false }()
	}
	switch f.Type {
	case plan9.Tversion:
		rx, err = c.version(f)
	case plan9.Tauth:
		err = errNoAuth
	case plan9.Tattach:
		rx, err = c.attach(f)
	case plan9.Tflush:
		rx = c.flush(f)
	case plan9.Twalk:
		rx, err = c.walk(f)
	case plan9.Topen:
		rx, err = c.open(f)
	case plan9.Tcreate:
		rx, err = c.create(f)
	case plan9.Tread:
		rx, err = c.read(f)
	case plan9.Twrite:
		rx, err = c.write(f)
	case plan9.Tclunk:
		rx, err = c.clunk(f)
	case plan9.Tremove:
		rx, err = c.remove(f)
	case plan9.Tstat:
		rx, err = c.stat(f)
	case plan9.Twstat:
		rx, err = c.wstat(f)
	default:
		return false
	}
	if rx != nil || err != nil {
		c.respond(f.Tag, rx, err)
	}
	if l := c.t.log; l != nil && (l.end != logEnd || l.trimQ != nil) {
		l.commit() // (l.end and l.trimQ change only with tree.mu held)
	}
	return true
}

func (c *conn) version(f *plan9.Fcall) (*plan9.Fcall, error) {
	if !strings.HasPrefix(f.Version, "9P2000") {
		// Not a version we speak: say so with Rversion, never Rerror,
		// whatever the msize (SPEC §8.1).
		c.abort()
		return &plan9.Fcall{Type: plan9.Rversion, Msize: min(f.Msize, c.msize), Version: "unknown"}, nil
	}
	if f.Msize < 256 {
		return nil, errMsizeSmall
	}
	c.abort()
	c.msize = min(f.Msize, maxMsize)
	return &plan9.Fcall{Type: plan9.Rversion, Msize: c.msize, Version: "9P2000"}, nil
}

// abort drops every pending request without a reply and clunks every
// fid: a new session, or the end of this one (SPEC §8.1, §8.8).
func (c *conn) abort() {
	for tag, r := range c.pending.all() {
		c.cancel(r)
		c.pending.del(tag)
	}
	fds := make([]*fid, 0, len(c.fids))
	for num, fd := range c.fids {
		delete(c.fids, num)
		fds = append(fds, fd)
	}
	for _, fd := range deepestFirst(fds) {
		c.release(fd)
	}
}

// cancel forgets a request taken from c.pending. A read is done with;
// a write is left to its caller to answer.
func (c *conn) cancel(r *request) {
	if r.rd.r != nil {
		r.rd.r.q.cancelRead(&r.rd)
		c.freeRead(r)
	}
	if r.wr != nil {
		r.wr.m.from.s.q.cancelWait(r.wr)
	}
}

func (c *conn) attach(f *plan9.Fcall) (*plan9.Fcall, error) {
	if c.fids[f.Fid] != nil {
		return nil, errFidInUse
	}
	if f.Afid != plan9.NOFID {
		return nil, errNoAuth
	}
	if len(f.Uname) > maxName {
		return nil, errNameLong
	}
	n, err := c.t.walkTo(f.Aname, f.Uname)
	if err != nil {
		return nil, err
	}
	c.fids[f.Fid] = &fid{n: n, uid: f.Uname, root: n}
	return &plan9.Fcall{Type: plan9.Rattach, Qid: n.qid()}, nil
}

// flush abandons the request with oldtag. A waiting write has been
// written all the same, so it is answered first (SPEC §5.3, §8.6).
func (c *conn) flush(f *plan9.Fcall) *plan9.Fcall {
	if r := c.pending.get(f.Oldtag); r != nil {
		c.pending.del(f.Oldtag)
		c.cancel(r)
		if r.wr != nil {
			c.holdAt = r.logOff
			c.respond(r.tag, &plan9.Fcall{Type: plan9.Rwrite, Count: r.count}, nil)
			c.holdAt = 0
		}
	}
	return &plan9.Fcall{Type: plan9.Rflush}
}

func (c *conn) walk(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	switch {
	case fd == nil:
		return nil, errUnknownFid
	case fd.open:
		return nil, errWalkOpen
	case f.Newfid != f.Fid && c.fids[f.Newfid] != nil:
		return nil, errFidInUse
	}
	n := fd.n
	var qids []plan9.Qid
	var err error
	for _, name := range f.Wname {
		if n, err = c.t.walk1(n, fd.root, fd.uid, name); err != nil {
			break
		}
		qids = append(qids, n.qid())
	}
	if err != nil && len(qids) == 0 {
		return nil, err
	}
	if err == nil {
		if f.Newfid == f.Fid {
			fd.n = n
		} else {
			c.fids[f.Newfid] = &fid{n: n, uid: fd.uid, root: fd.root}
		}
	}
	return &plan9.Fcall{Type: plan9.Rwalk, Wqid: qids}, nil
}

func (c *conn) open(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	switch {
	case fd == nil:
		return nil, errUnknownFid
	case fd.open:
		return nil, errOpen
	case fd.n.gone():
		return nil, errNotExist
	}
	if err := c.t.checkOpen(fd.n, fd.uid, f.Mode); err != nil {
		return nil, err
	}
	if err := c.openFid(fd, f.Mode); err != nil {
		return nil, err
	}
	return &plan9.Fcall{Type: plan9.Ropen, Qid: fd.n.qid(), Iounit: c.msize - plan9.IOHDRSZ}, nil
}

func readable(mode uint8) bool { return mode&3 != plan9.OWRITE }
func writable(mode uint8) bool { return mode&3 == plan9.OWRITE || mode&3 == plan9.ORDWR }

// openFid opens fd on its node; a fid that can read a stream or order
// becomes a reader with its own cursor (SPEC §6).
func (c *conn) openFid(fd *fid, mode uint8) error {
	n := fd.n
	if n.mode&plan9.DMEXCL != 0 && n.opens > 0 {
		return errInUse
	}
	n.opens++
	fd.open, fd.omode, fd.rclose = true, mode, mode&plan9.ORCLOSE != 0
	if readable(mode) {
		switch n.kind {
		case kStream:
			fd.rd = n.parent.q.open(n.sq)
		case kOrder:
			fd.rd = n.parent.q.open(nil)
		}
	}
	return nil
}

func (c *conn) create(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	switch {
	case fd == nil:
		return nil, errUnknownFid
	case fd.open:
		return nil, errOpen
	case f.Perm&plan9.DMDIR != 0 && (f.Mode&3 != plan9.OREAD || f.Mode&plan9.OTRUNC != 0):
		return nil, errIsDir
	}
	n, err := c.t.create(fd.n, fd.uid, f.Name, f.Perm)
	if err != nil {
		return nil, err
	}
	fd.n = n
	if err := c.openFid(fd, f.Mode); err != nil {
		return nil, err
	}
	return &plan9.Fcall{Type: plan9.Rcreate, Qid: n.qid(), Iounit: c.msize - plan9.IOHDRSZ}, nil
}

func (c *conn) read(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	switch {
	case fd == nil:
		return nil, errUnknownFid
	case !fd.open:
		return nil, errNotOpen
	case !readable(fd.omode):
		return nil, errPerm
	}
	n := fd.n
	n.atime = c.clock
	count := min(f.Count, c.msize-plan9.IOHDRSZ)
	switch n.kind {
	case kGroup:
		data, err := fd.dirread(f.Offset, count)
		if err != nil {
			return nil, err
		}
		return &plan9.Fcall{Type: plan9.Rread, Data: data}, nil
	case kCtl:
		return &plan9.Fcall{Type: plan9.Rread, Data: sliceAt(n.parent.q.cfg.String(), f.Offset, count)}, nil
	}
	r := c.newRead()
	r.c, r.tag, r.f = c, f.Tag, fd
	r.rd = readReq{r: fd.rd, offset: int64(f.Offset), count: int(count), done: r}
	if fd.rd.q.read(&r.rd) {
		c.pending.put(r.tag, r)
		r.pending = true
	} else {
		c.freeRead(r)
	}
	return nil, nil
}

func sliceAt(s string, off uint64, count uint32) []byte {
	if off >= uint64(len(s)) {
		return nil
	}
	s = s[off:]
	return []byte(s[:min(uint64(len(s)), uint64(count))])
}

// dirread lists the entries of fd's group, whole ones only, continuing
// where its previous read ended (SPEC §8.5).
func (fd *fid) dirread(offset uint64, count uint32) ([]byte, error) {
	if offset == 0 {
		fd.dirents, fd.dirpos, fd.diroff = fd.n.entries(), 0, 0
	} else if offset != fd.diroff {
		return nil, errDirOffset
	}
	var data []byte
	for fd.dirpos < len(fd.dirents) {
		e := fd.dirents[fd.dirpos]
		if e.removed {
			fd.dirpos++
			continue
		}
		b, _ := e.stat().Bytes()
		if len(data)+len(b) > int(count) {
			break
		}
		data = append(data, b...)
		fd.dirpos++
	}
	if len(data) == 0 && fd.dirpos < len(fd.dirents) {
		return nil, errCountSmall
	}
	fd.diroff += uint64(len(data))
	return data, nil
}

func (c *conn) write(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	switch {
	case fd == nil:
		return nil, errUnknownFid
	case !fd.open:
		return nil, errNotOpen
	case !writable(fd.omode):
		return nil, errPerm
	}
	n := fd.n
	count := uint32(len(f.Data))
	switch n.kind {
	case kGroup:
		return nil, errIsDir
	case kOrder:
		return nil, errPerm
	case kCtl:
		if n.gone() {
			return nil, errRemoved
		}
		if err := c.t.ctl(n.parent, string(f.Data), fd.uid, c.clock); err != nil {
			return nil, err
		}
		return &plan9.Fcall{Type: plan9.Rwrite, Count: count}, nil
	}
	if n.removed {
		return nil, errRemoved
	}
	tag := f.Tag
	if count == 0 {
		c.sendWrite(tag, 0) // adds nothing (SPEC §5.2)
		return nil, nil
	}
	// The data stays in the connection's buffer while the queue has
	// it; the queue copies what it keeps, and replies are encoded as
	// they are made.
	data := unsafe.String(unsafe.SliceData(f.Data), len(f.Data))
	q := n.parent.q
	if l := c.t.log; l != nil {
		// Logged first, so that the drops the write makes follow it;
		// nothing is logged for a write that would fail.
		if !q.fits(int64(len(data))) {
			return nil, errNoSpace
		}
		logged, err := l.logWrite(n, fd.uid, data, c.clock)
		if err != nil {
			return nil, err
		}
		q.logNext = logged
	}
	// Only a write that may wait needs a pending entry and a callback;
	// with wait off (the default) it is answered here and now.
	var r *request
	var respond func(error)
	if q.mayWait() {
		r = &request{c: c, tag: tag, f: fd, count: count, pending: true}
		c.pending.put(tag, r)
		respond = func(err error) {
			off := r.logOff
			c.pending.del(tag)
			c.holdAt = off // the Rwrite leaves once the write is logged
			if err != nil {
				c.respond(tag, nil, err)
			} else {
				c.sendWrite(tag, count)
			}
			c.holdAt = 0
		}
	}
	w, err := q.write(n.sq, n.name, data, respond)
	if r != nil && (err != nil || w == nil) {
		c.pending.del(tag)
	}
	if err != nil {
		return nil, err
	}
	n.mtime, n.muid = c.clock, fd.uid
	n.parent.order.mtime, n.parent.order.muid = n.mtime, fd.uid
	if w == nil {
		c.sendWrite(tag, count)
		return nil, nil
	}
	r.wr = w
	r.logOff = c.t.log.ackEnd()
	return nil, nil
}

func (c *conn) clunk(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	if fd == nil {
		return nil, errUnknownFid
	}
	delete(c.fids, f.Fid)
	c.release(fd)
	return &plan9.Fcall{Type: plan9.Rclunk}, nil
}

// release ends a fid that has been taken from the fid table: its
// reader goes, its parked reads are interrupted, its waiting writes are
// answered, and ORCLOSE is honoured.
func (c *conn) release(fd *fid) {
	for tag, r := range c.pending.all() {
		if r.f == fd && r.wr != nil {
			c.pending.del(tag)
			c.cancel(r)
			c.holdAt = r.logOff
			c.respond(tag, &plan9.Fcall{Type: plan9.Rwrite, Count: r.count}, nil)
			c.holdAt = 0
		}
	}
	if fd.rd != nil {
		fd.rd.q.close(fd.rd, errInterrupted)
		fd.rd = nil
	}
	if fd.open {
		fd.n.opens--
		fd.open = false
	}
	if fd.rclose {
		c.t.remove(fd.n, fd.uid)
	}
}

func (c *conn) remove(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	if fd == nil {
		return nil, errUnknownFid
	}
	delete(c.fids, f.Fid)
	fd.rclose = false
	c.release(fd)
	n := fd.n
	var err error
	if n.parent != nil && !c.t.hasPerm(n.parent, fd.uid, plan9.DMWRITE) {
		err = errPerm
	} else {
		err = c.t.remove(n, fd.uid)
	}
	if err != nil {
		return nil, err
	}
	return &plan9.Fcall{Type: plan9.Rremove}, nil
}

func (c *conn) stat(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	if fd == nil {
		return nil, errUnknownFid
	}
	b, err := fd.n.stat().Bytes()
	if err != nil {
		return nil, err
	}
	// Rstat is size[4] type[1] tag[2] n[2] stat[n]: it must fit the
	// msize the client asked for (SPEC §8.1), which long names need
	// not at the smallest.
	if 9+len(b) > int(c.msize) {
		return nil, errStatBig
	}
	return &plan9.Fcall{Type: plan9.Rstat, Stat: b}, nil
}

func (c *conn) wstat(f *plan9.Fcall) (*plan9.Fcall, error) {
	fd := c.fids[f.Fid]
	if fd == nil {
		return nil, errUnknownFid
	}
	d, err := plan9.UnmarshalDir(f.Stat)
	if err != nil {
		return nil, errBadStat // Plan 9's words, not the library's
	}
	if err := c.t.wstat(fd.n, fd.uid, d); err != nil {
		return nil, err
	}
	return &plan9.Fcall{Type: plan9.Rwstat}, nil
}
