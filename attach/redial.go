package main

// A supervisor outlives the mq it talks to (SPEC §11.6). When its
// connection breaks (mq was killed, or restarted) it dials the service
// again, starting it if it is not posted (when it is the service attach
// starts, keepsHistory), opens its files again, and
// carries on where it was, so that the program sees nothing of it: its
// output waits (in the spool, then in its own writes) and its input
// resumes with the next message it has not had.
//
// Each open file has a 9P connection of its own: the 9fans client
// leaves the other calls in flight on a connection hanging when one of
// them finds it broken, while a call alone on its connection returns
// the error.
//
// Carrying on exactly needs to know, after a restart, which messages
// the old connection passed. mq -r keeps a stream's messages and its
// qid.vers, which goes up by one per message (SPEC §3.4, §11.2), so
// message number vers is the newest, and stat's length is the bytes
// the stream retains:
//
//   - Writing: the supervisor is its streams' only writer, so it knows
//     the vers its last acknowledged write left. A write whose reply
//     the break lost was logged, and so kept, if and only if vers is
//     one more after the restart (mq -r logs a write before it replies,
//     and a record a crash cut short is dropped whole, SPEC §11.3,
//     §11.5): then it is done, else it is sent again. Nothing is
//     written twice and nothing is missed. (A write to ctl is not
//     made again: its eof commands end readers, which the break ended.)
//   - Reading: the file is opened between two stats that agree, so at
//     the open the reader stood at the oldest of the messages
//     vers-K+1..vers that together hold length bytes. Reading until
//     that many bytes have come gives K, and so each message's number;
//     those up to the last one passed on before the break are dropped.
//     A "reader fell behind: N messages lost" error moves the count on
//     by N. order has no length: its readers line it up with the
//     streams (inputFollower); an rfile of order, or of ctl, returns
//     the error of a break.

import (
	"errors"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"9fans.net/go/plan9"

	"mq/internal/mqclient"
)

// redialMax is the longest pause between two dials of a service that
// does not answer.
const redialMax = time.Second

// superviseService is the service as the supervisor uses it: one that
// is dialled again whenever its connection breaks.
func superviseService(srv string) (mqclient.FS, error) {
	return &redialFS{srv: srv, restart: keepsHistory(srv)}, nil
}

// An rconn is one connection to the service (dial, per system):
// closing it ends the calls on it. An rfsys is the tree it reaches,
// and an rfid a file of it open.
type rconn interface{ Close() error }

type rfsys interface {
	Open(name string, mode uint8) (rfid, error)
	Create(name string, mode uint8, perm plan9.Perm) (rfid, error)
	Remove(name string) error
	Stat(name string) (*plan9.Dir, error)
}

type rfid interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	Stat() (*plan9.Dir, error)
	Dirreadall() ([]*plan9.Dir, error)
	Close() error
}

// redialFS is service srv, dialled again as needed. Calls other than
// Open use a connection each.
type redialFS struct {
	srv      string
	restart  bool       // start mq when the service is not posted
	starting sync.Mutex // held while one of our goroutines starts mq
	writes   gate       // our writes to streams, held back while input lines up
}

// A gate lets calls through unless shut; shutting it waits for the
// calls under way. No lock is held while they run.
type gate struct {
	mu       sync.Mutex // guards shut and inflight
	changed  *sync.Cond // broadcast when either changes
	shut     bool
	inflight int
}

func (g *gate) cond() *sync.Cond {
	if g.changed == nil {
		g.changed = sync.NewCond(&g.mu)
	}
	return g.changed
}

func (g *gate) enter() {
	g.mu.Lock()
	for g.shut {
		g.cond().Wait()
	}
	g.inflight++
	g.mu.Unlock()
}

func (g *gate) leave() {
	g.mu.Lock()
	g.inflight--
	g.cond().Broadcast()
	g.mu.Unlock()
}

// close shuts the gate once the calls under way are done.
func (g *gate) close() {
	g.mu.Lock()
	for g.shut {
		g.cond().Wait()
	}
	g.shut = true
	for g.inflight > 0 {
		g.cond().Wait()
	}
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	g.shut = false
	g.cond().Broadcast()
	g.mu.Unlock()
}

// errGone says the service is gone and is not ours to start again.
var errGone = errors.New("file does not exist: service gone")

// do calls f on a fresh connection, again on another if the
// connection breaks.
func (r *redialFS) do(f func(rfsys) error) error {
	for {
		c, fsys, err := r.dial()
		if err != nil {
			return err
		}
		err = f(fsys)
		c.Close()
		if !broken(err) {
			return err
		}
	}
}

func (r *redialFS) Open(name string, mode uint8) (mqclient.File, error) {
	base := path.Base(name)
	f := &rfile{r: r, name: name, mode: mode, exact: base != "ctl" && base != "order"}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

func (r *redialFS) Create(name string, perm plan9.Perm) error {
	return r.do(func(fsys rfsys) error {
		mode := uint8(plan9.OWRITE)
		if perm&plan9.DMDIR != 0 {
			mode = plan9.OREAD
		}
		fid, err := fsys.Create(path.Clean(name), mode, perm)
		if err == nil {
			fid.Close()
		}
		return err
	})
}

func (r *redialFS) Remove(name string) error {
	return r.do(func(fsys rfsys) error { return fsys.Remove(name) })
}

func (r *redialFS) stat(name string) (*plan9.Dir, error) {
	var d *plan9.Dir
	err := r.do(func(fsys rfsys) error {
		var err error
		d, err = fsys.Stat(name)
		return err
	})
	return d, err
}

func (r *redialFS) Stat(name string) (*mqclient.Dir, error) {
	d, err := r.stat(name)
	if err != nil {
		return nil, err
	}
	return &mqclient.Dir{Name: d.Name, IsDir: d.Mode&plan9.DMDIR != 0, Length: int64(d.Length)}, nil
}

func (r *redialFS) ReadDir(name string) ([]mqclient.Dir, error) {
	var dirs []mqclient.Dir
	err := r.do(func(fsys rfsys) error {
		fid, err := fsys.Open(name, plan9.OREAD)
		if err != nil {
			return err
		}
		defer fid.Close()
		ds, err := fid.Dirreadall()
		dirs = nil
		for _, d := range ds {
			dirs = append(dirs, mqclient.Dir{Name: d.Name, IsDir: d.Mode&plan9.DMDIR != 0, Length: int64(d.Length)})
		}
		return err
	})
	return dirs, err
}

// Gone says whether f's file was removed: qid.path names a file across
// restarts (SPEC §11.2).
func (r *redialFS) Gone(f mqclient.File, name string) bool {
	rf, ok := f.(*rfile)
	if !ok {
		return true
	}
	rf.mu.Lock()
	gone, p := rf.gone, rf.path
	rf.mu.Unlock()
	if gone {
		return true
	}
	d, err := r.stat(name)
	return err != nil || d.Qid.Path != p
}

func (*redialFS) MsgSize() int { return ninepMsgSize }

func (*redialFS) Close() error { return nil }

// An rfile is a file of a redialFS, opened again on a new connection
// when its own breaks. Reads are made by one goroutine at a time, and
// so are writes.
type rfile struct {
	r     *redialFS
	name  string
	mode  uint8
	exact bool // a stream: writes and reads carry on exactly

	mu     sync.Mutex // guards what Close and Gone touch
	conn   rconn
	fid    rfid
	path   uint64 // the file's qid.path
	gone   bool   // it was removed, or removed and made again
	closed bool

	// Reading.
	started bool      // messages were numbered
	pos     uint32    // number of the last message read from fid
	last    uint32    // number of the last message passed on
	pending []message // read while resuming, still to pass on
	window  int       // how many messages the last resume read back

	// Writing.
	vers uint32 // the stream's qid.vers after our last write
}

type message struct {
	num  uint32
	data []byte
}

// errBroken is what a read of order or ctl returns when the connection
// breaks.
var errBroken = errors.New("connection to the service broken")

// errUnsteady says a file changed while it was being opened or read
// back: it is opened again.
var errUnsteady = errors.New("file changed while opened")

// open opens the file on a new connection and, for reading, lines it
// up with the messages already passed on. It waits for the service.
func (f *rfile) open() error {
	for {
		c, fsys, err := f.r.dial()
		if err != nil {
			return err
		}
		err = f.openOn(c, fsys)
		if err == nil {
			return nil
		}
		c.Close()
		if !broken(err) {
			return err
		}
	}
}

func (f *rfile) openOn(c rconn, fsys rfsys) error {
	var fid rfid
	var d *plan9.Dir
	var err error
	if f.mode&3 == plan9.OWRITE || !f.exact {
		fid, d, err = openStat(fsys, f.name, f.mode)
	} else {
		fid, d, err = steadyOpen(fsys, f.name, f.mode)
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		fid.Close()
		return errors.New("file closed")
	}
	if f.path != 0 && d.Qid.Path != f.path {
		// Removed and made again while the service was away: not
		// the file we had.
		f.gone = true
	}
	f.path = d.Qid.Path
	f.conn, f.fid = c, fid
	f.mu.Unlock()
	if f.mode&3 == plan9.OWRITE && !f.started {
		f.started, f.vers = true, d.Qid.Vers
	}
	if f.mode&3 == plan9.OWRITE || !f.exact || f.gone {
		return nil
	}
	for {
		err := f.resume(fid, d)
		if err != errUnsteady {
			return err
		}
		fid.Close()
		if fid, d, err = steadyOpen(fsys, f.name, f.mode); err != nil {
			return err
		}
		f.mu.Lock()
		f.fid = fid
		f.mu.Unlock()
	}
}

func openStat(fsys rfsys, name string, mode uint8) (rfid, *plan9.Dir, error) {
	fid, err := fsys.Open(name, mode)
	if err != nil {
		return nil, nil, err
	}
	d, err := fid.Stat()
	if err != nil {
		fid.Close()
		return nil, nil, err
	}
	return fid, d, nil
}

// steadyOpen opens name between two stats that agree: no message came
// or left in between, so the second tells what the reader starts at.
func steadyOpen(fsys rfsys, name string, mode uint8) (rfid, *plan9.Dir, error) {
	for {
		d1, err := fsys.Stat(name)
		if err != nil {
			return nil, nil, err
		}
		fid, err := fsys.Open(name, mode)
		if err != nil {
			return nil, nil, err
		}
		d2, err := fsys.Stat(name)
		if err != nil {
			fid.Close()
			return nil, nil, err
		}
		if d1.Qid == d2.Qid && d1.Length == d2.Length {
			return fid, d2, nil
		}
		fid.Close()
	}
}

// resume reads back the d.Length bytes of messages fid starts at, the
// newest of them number d.Qid.Vers, and keeps those not yet passed on.
func (f *rfile) resume(fid rfid, d *plan9.Dir) error {
	newest := d.Qid.Vers
	// Messages that can still be owed: all of them the first time.
	owed := int64(-1)
	if f.started {
		owed = int64(newest - f.last)
	}
	var kept []message
	var k uint32
	for left := int64(d.Length); left > 0; {
		buf := make([]byte, ninepMsgSize)
		n, err := fid.Read(buf)
		if n == 0 {
			if broken(err) {
				return err
			}
			// An eof, a lost message or the stream gone: read it
			// back again (a stream gone fails the open).
			return errUnsteady
		}
		left -= int64(n)
		k++
		kept = append(kept, message{data: buf[:n:n]})
		if owed >= 0 && int64(len(kept)) > owed {
			kept = kept[1:]
		}
	}
	first := newest - uint32(len(kept)) + 1
	for i := range kept {
		kept[i].num = first + uint32(i)
	}
	f.pending = kept
	f.window = int(k)
	f.pos = newest
	if !f.started {
		f.started = true
		f.last = newest - k
	}
	return nil
}

func (f *rfile) current() (rconn, rfid, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn, f.fid, f.gone || f.closed
}

// reopen drops the broken connection c and opens the file again.
func (f *rfile) reopen(c rconn) error {
	c.Close()
	err := f.open()
	if err != nil && mqclient.IsNotExist(err) {
		f.mu.Lock()
		f.gone = true
		f.mu.Unlock()
	}
	return err
}

// reread opens the file again and reads back what it retains, as
// after a break.
func (f *rfile) reread() error {
	c, _, _ := f.current()
	return f.reopen(c)
}

func (f *rfile) Read(b []byte) (int, error) {
	for {
		if len(f.pending) > 0 {
			m := &f.pending[0]
			n := copy(b, m.data)
			if m.data = m.data[n:]; len(m.data) == 0 {
				f.last = m.num
				f.pending = f.pending[1:]
			}
			return n, nil
		}
		c, fid, done := f.current()
		if done {
			return 0, io.EOF
		}
		n, err := fid.Read(b)
		if n > 0 {
			f.pos++
			f.last = f.pos
			return n, nil
		}
		if lost, ok := lostCount(err); ok {
			f.pos += lost
			f.last = f.pos
			return 0, err
		}
		if err == io.EOF {
			// A 0-byte read, or a connection that ended: a call
			// of its own tells which.
			if _, serr := fid.Stat(); !broken(serr) {
				return 0, io.EOF
			}
		} else if !broken(err) {
			return 0, err
		}
		if !f.exact {
			return 0, errBroken
		}
		if err := f.reopen(c); err != nil {
			if mqclient.IsNotExist(err) {
				return 0, io.EOF
			}
			return 0, err
		}
	}
}

// lostCount is N of a "reader fell behind: N messages lost" error.
func lostCount(err error) (uint32, bool) {
	if !mqclient.IsFellBehind(err) {
		return 0, false
	}
	s := err.Error()
	s = s[strings.Index(s, "reader fell behind")+len("reader fell behind"):]
	s = strings.TrimPrefix(strings.TrimSpace(s), ":")
	n, _ := strconv.ParseUint(strings.Fields(s + " 0")[0], 10, 32)
	return uint32(n), true
}

func (f *rfile) Write(b []byte) (int, error) {
	if f.exact {
		f.r.writes.enter()
		defer f.r.writes.leave()
	}
	for {
		c, fid, done := f.current()
		if done {
			return 0, errors.New("file has been removed")
		}
		n, err := fid.Write(b)
		if !broken(err) {
			switch {
			case err == nil:
				f.vers++
			case f.exact && f.keptAnyway():
				// Refused, yet kept: it is done, and is not
				// to be written again.
				f.vers++
				return len(b), nil
			}
			return n, err
		}
		if !f.exact {
			// ctl: its eof commands end readers, and a break has
			// ended them all already.
			c.Close()
			return 0, errBroken
		}
		if err := f.reopen(c); err != nil {
			return 0, err
		}
		d, err := f.statNow()
		if err != nil {
			continue
		}
		if d.Qid.Vers == f.vers+1 {
			// Logged before the break lost its reply.
			f.vers = d.Qid.Vers
			return len(b), nil
		}
		// Not logged (or, against our assumption, someone else
		// writes here too: then we cannot tell): send it again.
		f.vers = d.Qid.Vers
	}
}

// keptAnyway says whether the stream holds the write that mq just
// refused: its vers went up by one all the same. A refusal should
// change nothing (SPEC §11.3), but the spool tries a refused write
// again, and what was kept must not be written twice.
func (f *rfile) keptAnyway() bool {
	d, err := f.statNow()
	return err == nil && d.Qid.Vers == f.vers+1
}

// statNow stats the open file on its connection.
func (f *rfile) statNow() (*plan9.Dir, error) {
	_, fid, _ := f.current()
	return fid.Stat()
}

func (f *rfile) Close() error {
	f.mu.Lock()
	c, fid, closed := f.conn, f.fid, f.closed
	f.closed = true
	f.mu.Unlock()
	if closed || c == nil {
		return nil
	}
	err := fid.Close()
	c.Close()
	return err
}
