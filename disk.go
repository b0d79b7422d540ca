package main

// Durable history, mq -r dir (SPEC §11): a log of every change to what
// a restart keeps, written before the change is acknowledged, read
// back at start, and freed as messages leave.
//
// On-disk format. dir holds a file lock (taken while mq runs, so that
// two servers never share a dir) and the log, a run of segment files
// named by their number in hex, %016x.log, numbered from 1. Each
// segment starts with a 16-byte header, "mq log2\n" and its number as
// 8 bytes little-endian, followed by records:
//
//	length[4] crc[4] body[length]
//
// length and crc are little-endian; crc is CRC-32C (Castagnoli) of
// the header then body, so that a record is good only in the segment
// that wrote it. The records end at the end of the file, or at 8 zero
// bytes in place of a length and crc. A segment made of a dead
// segment's file (see below) starts "mq logR\n" instead: what follows
// its end mark is left from the file's older use. In an "mq log2"
// segment, anything after the end mark but zeros (room) was added
// since: in the last segment a torn tail, elsewhere damage. Segments of "mq log1" (an older mq) are read the same way,
// but crc is of body alone, their records end only at the end of the
// file or where zeros (room) run to it, and the last one, if so, is
// appended to as it is.
//
// body is a type byte and fields: numbers as unsigned varints
// (encoding/binary), strings as a varint length and the bytes; a
// message's data is the rest of the body.
//
//	G path parent ctlpath orderpath name uid gid muid mode mtime
//	  data replay depth depthbytes wait nextseq ordervers vers
//	  ctlmtime ctlmuid ordermtime ordermuid
//	                               a group made (the root: set; a
//	                               new log's first record); a
//	                               record without the last four, from
//	                               an older mq, gives ctl and order
//	                               the group's
//	S path parent name uid gid muid mode mtime vers
//	                               a stream made
//	W stream seq mtime data         a message written
//	U stream muid                   the stream's last writer is now
//	                               muid (before the W or V of its
//	                               write)
//	V stream mtime                  a message written and not kept
//	                               (replay off): qid.vers goes on
//	M stream seq name data          a retained message (a group
//	                               turning replay on); name is its
//	                               order line, "" for the stream's
//	A stream seq name data          as M, a message carried forward from
//	                               an older segment; read again, it is
//	                               already there and changes nothing
//	F group lo hi                   the group's messages from seq lo to
//	                               hi still in its history were carried
//	                               into this segment (A records before)
//	R path mtime muid               a file removed, with its messages,
//	                               by muid (older records end at
//	                               mtime)
//	T path name mode mtime gid      a file's stat changed (ctl's and
//	                               order's too, by their own path)
//	C group data replay depth depthbytes wait mtime muid
//	                               a group's configuration, written to
//	                               its ctl at mtime by muid (older
//	                               records end at wait)
//	H group seq                     messages up to seq left the group
//	D group seq                     one message left the group
//	P path                          qid.path high-water mark
//	X num                           segments up to num were deleted,
//	                               their messages all gone
//	K                               a checkpoint starts: the tree, as
//	                               G and S records, up to E; read
//	                               only in the first segment read back
//	E                               the checkpoint is complete
//
// A record of any other type is refused at start, naming the file
// (SPEC §11.5), as is any format mq does not know.
//
// Room is reserved ahead, so that a full disk fails a change before it
// is made (SPEC §11.3): with fallocate(2) FALLOC_FL_KEEP_SIZE on Linux,
// which the size does not show; where the file system cannot (Plan 9,
// other Unix systems, some Linux file systems), by writing zeros past
// the records. A segment may so end in zeros: from a record boundary
// to the end of the file they are room, not a record, and the segment
// ends there, silently (SPEC §11.5); a record cut short before them is
// a torn tail as ever. The next segment is made ahead (the spare): its
// file, created with only its header, and room reserved for it; or the
// file of the last segment deleted, kept for it as reuse.tmp (one at
// most, and only while the segments but it stay under the size that
// makes the log carry messages forward): its header is written over, with 8 zero
// bytes after it, before the file takes the spare's name, and its
// blocks are its room. Writing over pages the system has cached, on
// blocks already allocated, costs much less than writing a new file.
// Every write to an mq log2 segment puts 8 zero bytes after the records
// it adds (the next write goes over them), and a clean stop cuts the
// last segment after its last record (where room is zeros, they stay). At start, reuse.tmp is removed;
// segments with no record (nothing after the header but zeros, or
// zeros where the first record goes) after the last segment with one
// are spares, or segments a crash caught before their first record was
// written: they hold nothing, and are removed. So is the last segment
// with a record if, once a torn tail is cut, it holds nothing but part
// of its checkpoint: the log goes on in the one before. Zeros (or
// bytes of an older use) after the records of a segment but the last
// (a kill before the log cut it to its size) go too; the last keeps
// them as room. The log turns to its spare only once room for the
// spare's checkpoint is reserved, and reserves it before more room in
// the segment being appended to, so that on a full disk the log can
// still turn, carry and delete; a spare that got only that room is
// kept for carrying. Of the room in the segment appended to, a part
// (freeRoom, 64 KiB) is kept for changes that only free history (a
// remove; a ctl write logged as its C record alone): other changes
// fail while it is short, so that on a full disk a user can still
// remove streams, clear or lower depth through mq, and the log then
// turns (the spare is made from the room the old segment gives back
// before more is taken in the new one), carries and deletes.
//
// A restart replays the segments in order. They follow each other
// with no gap; the first is segment 1, or starts with a checkpoint and
// an X record read back says the ones before it were deleted. A new
// segment is started every segMax bytes (4 MiB), with a checkpoint of
// the tree first; the oldest segments are deleted once every message
// in them has left its group. If that is not enough (a
// few messages keep old segments alive) and the segments hold more
// than twice the live state and slack (4 MiB), a new segment is
// started and, after its checkpoint, the messages still live in the
// oldest segment (and the next ones while they are mostly dead) are
// logged again as A and F records, up to segMax bytes and no more than
// the room reserved; the segments whose messages are all carried are
// then deleted, once the new records are written, and the next step
// waits until they are. Segments are deleted strictly in order, by one
// goroutine, and a failed removal is tried again: no gap is ever left.
// A crash after an X record and before the segments it names are all
// removed leaves some: the restart removes them. So the
// files in dir stay within twice the live state (messages with
// diskOverhead, 24 bytes each; the tree) plus diskAllowance, 16 MiB:
// slack, one segment carried while the ones it replaces are still
// there, one segment of dead messages not yet removed, and slack again
// for what writers add while a step is under way. Each live byte is
// written again about once per turn of the log. Deleting segments and
// carrying messages forward are the only ways the log frees space.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

const (
	logMagic  = "mq log2\n"
	logMagic1 = "mq log1\n" // an older mq's segments: read, and appended to
	// logMagicR starts a segment made of a dead segment's file: bytes
	// after its records' end mark are left from that older use. In an
	// mq log2 segment, anything but zeros there was added after mq
	// wrote it: a torn tail, or damage.
	logMagicR = "mq logR\n"
	logHdrLen = 16

	// maxRecord bounds a record's length (a message is at most
	// maxMsize): longer ones are not looked for after damage.
	maxRecord = 1 << 20

	// reuseName is a dead segment's file kept to be the next spare.
	reuseName = "reuse.tmp"

	// Segments whose messages have all gone are deleted; messages are
	// carried forward out of the oldest segments when what remains
	// outweighs twice the live state and defaultSlack (SPEC §11.4).
	defaultSlack = 4 << 20

	// flushAt is how many buffered bytes make a connection write the
	// log out even when no reply waits for it.
	flushAt = 256 << 10
)

// segMax is the size from which the log starts a new segment (or four
// times the tree's checkpoint, if more): a segment whose messages have
// all left goes as a whole, without compaction. It is also the most
// one step carries forward.
var segMax = func() int64 {
	if v, err := strconv.ParseInt(os.Getenv("MQ_TEST_COMPACT_SLACK"), 10, 64); err == nil && v > 0 {
		return v
	}
	return 4 << 20
}()

// slack is defaultSlack but in tests, which may set it through the
// environment to make a child mq carry messages forward often.
var slack = func() int64 {
	if v, err := strconv.ParseInt(os.Getenv("MQ_TEST_COMPACT_SLACK"), 10, 64); err == nil && v > 0 {
		return v
	}
	return defaultSlack
}()

// reserveChunk is how much room the log reserves on disk at a time,
// so that a full disk shows when a change is asked for, not half way
// through writing its record: 4 MiB, or segMax if less (room past where
// a segment turns is given back then).
var reserveChunk = min(4<<20, segMax)

// zeroReserve makes the log reserve room by writing zeros even where
// the file system could reserve it without (tests; a child mq is
// told through the environment).
var zeroReserve = os.Getenv("MQ_TEST_ZERO_RESERVE") != ""

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logFile is a segment open for appending. Tests wrap it to inject
// failures.
type logFile interface {
	io.Writer
	io.WriterAt                 // records at their offset; zeros, where Reserve cannot reserve
	Sync() error                // onto stable storage
	Reserve(off, n int64) error // room for n bytes from off
	Truncate(size int64) error  // cut back after a failed write
	Close() error
}

// wrapLogFile, when set, wraps every segment the log opens (tests).
var wrapLogFile func(logFile) logFile

// beforeRemove, when set, is called before segments that hold nothing
// live are removed, when dir holds the most (tests).
var beforeRemove func()

// osLogFile is a segment on the host's file system.
type osLogFile struct{ *os.File }

func (f osLogFile) Sync() error                { return syncFile(f.File) }
func (f osLogFile) Reserve(off, n int64) error { return reserve(f.File, off, n) }

// Truncate cuts f back to size, where the next Write goes: after a
// write that failed part way, the retry appends whole records there,
// not after a hole.
func (f osLogFile) Truncate(size int64) error {
	if err := f.File.Truncate(size); err != nil {
		return err
	}
	_, err := f.File.Seek(size, io.SeekStart)
	return err
}

// held is a reply that leaves once the log is written up to off.
type held struct {
	off uint64
	c   *conn
	b   []byte
}

// dlog is the log of one server.
type dlog struct {
	dir     string
	sync    bool // -S
	lock    io.Closer
	segs    []segInfo // on disk, oldest first; the last is being appended to
	nextSeg uint64

	// mu guards what follows. Records are appended with tree.mu held
	// too; the writer takes buf with mu alone and writes it with no
	// lock held.
	mu      sync.Mutex
	buf     []byte  // records not yet handed to the writer
	split   int     // buf[:split] goes to the old segment; -1 if no switch
	oldBase int64   // the old segment's size before buf[:split]
	stable  int     // buf[:stable] holds whole changes, to be written
	newFile logFile // the segment buf[split:] goes to
	f       logFile // the segment being written
	end     uint64  // bytes ever appended
	ackOff  uint64  // end of the last record a reply waits for
	done    uint64  // bytes written (and with -S, synced)
	writing bool    // someone is writing a batch
	err     error   // a write failed: changes fail until one succeeds
	held    []held  // replies waiting, in order of off
	trimQ   *queue  // an H record not yet encoded, to coalesce
	trimSeq uint64
	pos     int64  // where the next appended byte lands in its segment
	seed    uint32 // the checksums of records appended start from it (segSeed)
	mark    bool   // writes to that segment end with endMark (not mq log1)
	oldMark bool   // mark of the segment buf[:split] goes to
	resEnd  int64  // room reserved in that segment
	// zero: the file system cannot reserve room, so the log writes
	// zeros there (writeZeros); cuts counts the failed writes that cut
	// the segment back, and with it the room reserved past its end.
	zero    bool
	cuts    int
	disk    int64 // bytes in all segments, written or buffered
	live    int64 // about what the live state takes: messages, the tree
	tree    int64 // about what a checkpoint of the tree takes
	compact bool  // the log outweighs the live state: carry forward
	rotate  bool  // a new segment is due
	kick    chan struct{}
	closed  bool
	// The next segment, made ahead by run with no lock held (file,
	// header, reserved room): starting it only switches pointers.
	next       logFile
	nextNum    uint64
	nextRes    int64    // room reserved in it after the header
	nextReused bool     // it is a dead segment's file (header logMagicR)
	preparing  uint64   // the number of a spare being made, or 0
	spent      bool     // the log turned to the spare; no other is made yet
	topping    bool     // run is asked to reserve more room
	carriedN   int64    // bytes carried forward, for tests and benchmarks
	reusedN    int      // spares made of dead segments' files, for tests
	maps       []segMap // segments read back by mapping them, still in use
	t          *tree
	cur        spans // of the segment being appended to
	// The run of cur that addCur extended last, and its group: the
	// next message of the group, most often, extends it too.
	curQ     *queue
	curRun   *span
	segStart int64 // pos where the segment being appended to started
	segMax   int64 // segMax when the log was opened

	closeOnce sync.Once
	// fileMu is held while prepare reserves room in a segment file,
	// and while writeOut closes the segment it turned from: the file
	// is not closed under the reservation.
	fileMu   sync.Mutex
	deleting int // 1 while the deleter runs (deleteSegments)
	// pool is the size of reuseName, a dead segment's file kept to be
	// the next spare; 0 if none, -1 while it is being made or taken.
	// Guarded by mu. Like a spare's reserved room, it is not counted in
	// disk: it is kept only if the log without it is under the size
	// that makes the log carry messages forward, and goes once the
	// log carries.
	pool    int64
	dels    []pendingDel  // segments to delete, oldest first, guarded by mu
	runDone chan struct{} // closed when run returns

	// Reused on the write path, guarded by mu: buf's and held's
	// other halves, and the chunk held replies are copied into.
	spare    []byte
	heldFree []held
	arena    []byte

	// With -S, the last sync, guarded by mu: how many replies it
	// released and how long it took; run waits until gatherN
	// replies are held, and is told on gathered.
	batch    int
	syncDur  time.Duration
	gatherN  int
	gathered chan struct{}

	// Links followed at the start to put messages read back in place,
	// for tests.
	restoreSteps int
}

// pendingDel is a segment that holds nothing live, to be deleted once
// the X record that says so is written. It counts in l.disk until its
// file is removed, and no segment is removed before the ones older than
// it: a kill never leaves a gap (SPEC §11.5).
type pendingDel struct {
	seg  segInfo
	xEnd uint64 // the end of the X record
}

type segInfo struct {
	num  uint64
	size int64
	// The messages whose newest record is in the segment: once none
	// of them is left, the segment holds nothing live and may go
	// (with the checkpoint of the next).
	spans spans
}

// spans are, for each group, runs of seqs: every message of the group
// still in its history whose seq is in a run has its newest record in
// one segment.
type spans map[*queue][]span

type span struct {
	lo, hi  uint64
	carried bool // the run was carried from older segments: not extended
	// A message before lo when the run began, where the search for the
	// run may start if it is still in the history (see seek).
	after    *message
	afterSeq uint64
}

// add notes that the record of q's message seq, which follows after
// in the history, is in the segment.
func (s *spans) add(q *queue, seq uint64, after *message) {
	if *s == nil {
		*s = make(spans)
	}
	r := (*s)[q]
	if n := len(r); n > 0 && !r[n-1].carried && seq > r[n-1].hi {
		r[n-1].hi = seq
		return
	}
	sp := span{lo: seq, hi: seq, after: after}
	if after != nil {
		sp.afterSeq = after.seq
	}
	(*s)[q] = append(r, sp)
}

// addCur is l.cur.add, with l.mu held, looking the group's last run up
// only when it is not the one extended last.
func (l *dlog) addCur(q *queue, seq uint64, after *message) {
	if sp := l.curRun; sp != nil && l.curQ == q && seq > sp.hi {
		sp.hi = seq
		return
	}
	l.cur.add(q, seq, after)
	r := l.cur[q]
	l.curQ, l.curRun = q, &r[len(r)-1]
}

// carry notes that q's messages from lo to hi, which follow after in
// the history, were carried into the segment.
func (s *spans) carry(q *queue, lo, hi uint64, after *message) {
	if *s == nil {
		*s = make(spans)
	}
	sp := span{lo: lo, hi: hi, carried: true, after: after}
	if after != nil {
		sp.afterSeq = after.seq
	}
	(*s)[q] = append((*s)[q], sp)
}

// seek is the first message of q from sp.lo on, or nil.
func seek(q *queue, sp span) *message {
	m := q.head
	if a := sp.after; a != nil && !a.gone && a.seq == sp.afterSeq && a.from.s.q == q {
		m = a.gnext
	}
	for m != nil && m.seq < sp.lo {
		m = m.gnext
	}
	return m
}

func segName(n uint64) string { return fmt.Sprintf("%016x.log", n) }

// openLog takes dir for this server and reads it back into t
// (SPEC §11.5). warn gets the notes about torn tails.
func openLog(dir string, syncMode bool, t *tree, warn io.Writer) (*dlog, error) {
	_, err := os.Stat(dir)
	made := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0700); err != nil {
		return nil, err
	}
	if made && syncMode {
		// With -S, its name is on stable storage before anything in
		// it is acknowledged.
		syncDir(filepath.Dir(filepath.Clean(dir)))
	}
	lk, err := lockDir(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	// The log makes new segments as it goes: a dir that cannot take
	// them is refused now, not when the disk is full of dead records.
	probe, err := os.CreateTemp(dir, "probe*.tmp")
	if err != nil {
		lk.Close()
		return nil, fmt.Errorf("%s: cannot write: %v", dir, sysError(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	l := &dlog{dir: dir, sync: syncMode, lock: lk, split: -1, kick: make(chan struct{}, 1), t: t, segMax: segMax,
		runDone: make(chan struct{})}
	if err := l.recover(t, warn); err != nil {
		lk.Close()
		return nil, err
	}
	// Whether the file system can reserve room is known from the
	// start, before run and the writers share the segment.
	if l.zero = zeroReserve; !l.zero {
		l.zero = errors.Is(l.f.Reserve(l.pos, 1), errNoReserve)
	}
	if l.stable > 0 {
		l.mu.Lock()
		l.writeOut(nil)
		if l.err != nil {
			l.f.Close()
			lk.Close()
			return nil, fmt.Errorf("%s: cannot write: %v", dir, l.err)
		}
	}
	t.log = l
	var walk func(g *node)
	walk = func(g *node) {
		g.q.log = l
		for _, c := range g.children {
			if c.kind == kGroup {
				walk(c)
			}
		}
	}
	walk(t.root)
	go l.run(t)
	return l, nil
}

// errorf names a file of the log in an error.
func (l *dlog) errorf(file string, format string, args ...any) error {
	return fmt.Errorf("%s: %s", filepath.Join(l.dir, file), fmt.Sprintf(format, args...))
}

func (l *dlog) wrap(f *os.File) logFile {
	var lf logFile = osLogFile{f}
	if wrapLogFile != nil {
		lf = wrapLogFile(lf)
	}
	return lf
}

func segHeader(n uint64) []byte { return header(logMagic, n) }

func header(magic string, n uint64) []byte {
	b := make([]byte, logHdrLen)
	copy(b, magic)
	binary.LittleEndian.PutUint64(b[8:], n)
	return b
}

// segSeed is what a record's checksum starts from in a segment with
// header hdr: the checksum of the header, so that a record left in a
// reused file by an older segment does not check (mq log2); 0 in an
// mq log1 segment, whose files were never reused.
func segSeed(hdr []byte) uint32 {
	if string(hdr[:8]) == logMagic1 {
		return 0
	}
	return crc32.Checksum(hdr[:logHdrLen], castagnoli)
}

// sysError is the system's error, as the client is to see it.
func sysError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fsError(err.Error())
}

// rec starts a record of type typ; finish ends it.
func (l *dlog) rec(typ byte) int {
	if l.trimQ != nil {
		l.encodeTrim()
	}
	at := len(l.buf)
	l.buf = append(l.buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	return at
}

func (l *dlog) finish(at int, ack bool) {
	body := l.buf[at+8:]
	binary.LittleEndian.PutUint32(l.buf[at:], uint32(len(body)))
	binary.LittleEndian.PutUint32(l.buf[at+4:], crc32.Update(l.seed, castagnoli, body))
	n := len(l.buf) - at
	l.end += uint64(n)
	l.pos += int64(n)
	l.disk += int64(n)
	if ack {
		l.ackOff = l.end
	}
	if !l.compact && l.disk > 2*l.live+slack {
		l.compact = true
		l.poke()
	}
	if !l.rotate && l.segMax > 0 && l.pos-l.segStart > max(l.segMax, 4*l.tree) {
		l.rotate = true
		l.poke()
	}
	if !l.topping && l.wantRoom() {
		l.topping = true
		l.poke()
	}
}

func (l *dlog) num(v uint64) { l.buf = binary.AppendUvarint(l.buf, v) }
func (l *dlog) str(s string) { l.num(uint64(len(s))); l.buf = append(l.buf, s...) }
func (l *dlog) cfg(c config) {
	l.num(uint64(c.data))
	l.num(uint64(c.replay))
	l.num(uint64(c.depth.n))
	l.num(b2u(c.depth.inBytes))
	l.num(uint64(c.wait))
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// nodeSize bounds a node's record, for room and for the live count.
func nodeSize(n *node) int {
	return 64 + len(n.name) + len(n.uid) + len(n.gid) + len(n.muid)
}

// created logs a new group or stream.
func (l *dlog) created(n *node) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.node(n)
	l.live += int64(nodeSize(n))
	l.tree += int64(nodeSize(n))
	l.mu.Unlock()
}

func (l *dlog) node(n *node) {
	parent := uint64(0)
	if n.parent != nil {
		parent = n.parent.path
	}
	if n.kind == kGroup {
		at := l.rec('G')
		q := n.q
		l.num(n.path)
		l.num(parent)
		l.num(n.ctl.path)
		l.num(n.order.path)
		l.str(n.name)
		l.str(n.uid)
		l.str(n.gid)
		l.str(n.muid)
		l.num(uint64(n.mode))
		l.num(uint64(n.mtime))
		l.cfg(q.cfg)
		l.num(q.nextSeq)
		l.num(uint64(q.orderVers))
		l.num(uint64(n.vers))
		l.num(uint64(n.ctl.mtime))
		l.str(n.ctl.muid)
		l.num(uint64(n.order.mtime))
		l.str(n.order.muid)
		l.finish(at, true)
		return
	}
	at := l.rec('S')
	l.num(n.path)
	l.num(parent)
	l.str(n.name)
	l.str(n.uid)
	l.str(n.gid)
	l.str(n.muid)
	l.num(uint64(n.mode))
	l.num(uint64(n.mtime))
	l.num(uint64(n.sq.vers))
	l.finish(at, true)
}

// removed logs n's removal; its messages leave with it.
func (l *dlog) removed(n *node, mtime uint32, muid string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	at := l.rec('R')
	l.num(n.path)
	l.num(uint64(mtime))
	l.str(muid)
	l.finish(at, true)
	l.live -= int64(nodeSize(n))
	l.tree -= int64(nodeSize(n))
	l.mu.Unlock()
}

// freed notes that messages left the history with no record of their
// own after them (a stream removed: its R record went first), so that
// the log frees their room now rather than at the next change (SPEC
// §11.4).
func (l *dlog) freed() {
	if l == nil {
		return
	}
	l.mu.Lock()
	if !l.compact && l.disk > 2*l.live+slack {
		l.compact = true
		l.poke()
	}
	l.mu.Unlock()
}

// statChanged logs n's name, mode, mtime and gid.
func (l *dlog) statChanged(n *node) {
	if l == nil {
		return
	}
	l.mu.Lock()
	at := l.rec('T')
	l.num(n.path)
	l.str(n.name)
	l.num(uint64(n.mode))
	l.num(uint64(n.mtime))
	l.str(n.gid)
	l.finish(at, true)
	l.mu.Unlock()
}

// configured logs group g's configuration. A group turning replay on
// logs the messages it retained unlogged, so that they come back.
func (l *dlog) configured(g *node) {
	if l == nil {
		return
	}
	q := g.q
	l.mu.Lock()
	at := l.rec('C')
	l.num(g.path)
	l.cfg(q.cfg)
	l.num(uint64(g.ctl.mtime))
	l.str(g.ctl.muid)
	l.finish(at, true)
	if q.cfg.replay != replayOff {
		for m := q.head; m != nil; m = m.gnext {
			if !m.logged {
				l.message(m, true)
			}
		}
	}
	l.mu.Unlock()
}

// message logs a retained message as an M record.
func (l *dlog) message(m *message, ack bool) {
	s := m.from.s
	l.addCur(s.q, m.seq, m.gprev)
	l.retained('M', m, ack)
	m.logged = true
	l.live += msgSize(len(m.data))
}

// retained appends m as a record of type typ (M or A) and says how
// many bytes it took.
func (l *dlog) retained(typ byte, m *message, ack bool) int64 {
	s := m.from.s
	at := l.rec(typ)
	l.num(s.path)
	l.num(m.seq)
	if s.node != nil && m.from.line[:len(m.from.line)-1] == s.node.name {
		l.str("")
	} else {
		l.str(m.from.line[:len(m.from.line)-1])
	}
	l.buf = append(l.buf, m.data...)
	l.finish(at, ack)
	return int64(len(l.buf) - at)
}

func msgSize(n int) int64 { return int64(n) + diskOverhead }

// diskOverhead is what a message costs in the log beyond its data,
// about: its record's framing and fields.
const diskOverhead = 24

// diskAllowance is how far beyond twice the retained bytes (messages
// with diskOverhead, the tree's records) dir may go (SPEC §11.4), 16
// MiB: see the top of the file.
func diskAllowance() int64 { return 2*slack + 2*segMax }

// logWrite is room for a write by uid of data to stream n, then
// written, under one hold of l.mu: the write path takes it once less
// per message.
func (l *dlog) logWrite(n *node, uid, data string, mtime uint32) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.roomLocked(len(data)+len(uid)+48, false); err != nil {
		return false, err
	}
	return l.written(n, uid, data, mtime), nil
}

// written logs a write by uid about to be made to stream n, with l.mu
// held: its data when the group keeps history, else only that one was
// made. It says whether the message is logged.
func (l *dlog) written(n *node, uid, data string, mtime uint32) bool {
	q := n.parent.q
	if uid != n.muid {
		// Another writer: most streams have one, and pay nothing.
		at := l.rec('U')
		l.num(n.path)
		l.str(uid)
		l.finish(at, false)
	}
	if q.cfg.replay == replayOff {
		at := l.rec('V')
		l.num(n.path)
		l.num(uint64(mtime))
		l.finish(at, true) // the Rwrite waits: qid.vers never goes back (SPEC §11.2)
		return false
	}
	l.addCur(q, q.nextSeq, q.tail)
	at := l.rec('W')
	l.num(n.path)
	l.num(q.nextSeq)
	l.num(uint64(mtime))
	l.buf = append(l.buf, data...)
	l.finish(at, true)
	l.live += msgSize(len(data))
	return true
}

// dropped logs that m left q's history, unless quiet: a logged
// change implies it.
func (l *dlog) dropped(q *queue, m *message, quiet bool) {
	l.mu.Lock()
	l.live -= msgSize(len(m.data))
	if quiet {
		l.mu.Unlock()
		return
	}
	if m.gprev == nil {
		// From the head: one H record says it for a run of them.
		if l.trimQ != nil && l.trimQ != q {
			l.encodeTrim()
		}
		l.trimQ, l.trimSeq = q, m.seq
		l.mu.Unlock()
		return
	}
	at := l.rec('D')
	l.num(q.path)
	l.num(m.seq)
	l.finish(at, false)
	l.mu.Unlock()
}

// dropSize bounds the size of the record that says one of q's
// messages left its history (D; H for a run from the head).
func dropSize(q *queue) int {
	return 8 + 1 + (bits.Len64(q.path|1)+6)/7 + (bits.Len64(q.nextSeq|1)+6)/7
}

func (l *dlog) encodeTrim() {
	q := l.trimQ
	l.trimQ = nil
	at := l.rec('H')
	l.num(q.path)
	l.num(l.trimSeq)
	l.finish(at, false)
}

// close writes out what is buffered and lets the dir go.
func (l *dlog) close() {
	if l == nil {
		return
	}
	l.closeOnce.Do(l.closeNow)
}

func (l *dlog) closeNow() {
	for {
		l.mu.Lock()
		if l.writing {
			l.mu.Unlock()
			time.Sleep(time.Millisecond)
			continue
		}
		if l.trimQ != nil {
			l.encodeTrim()
		}
		l.stable = len(l.buf) // mq is stopping: no change is under way
		if len(l.buf) == 0 && l.newFile == nil {
			l.closed = true
			l.mu.Unlock()
			break
		}
		l.writeOut(nil)
		l.mu.Lock()
		if l.err != nil {
			// What cannot be written is lost (its replies never
			// left); mq is stopping, not waiting for the disk.
			l.closed = true
			l.mu.Unlock()
			break
		}
		l.mu.Unlock()
	}
	l.poke()
	<-l.runDone
	l.settle()
	l.dropSpare()
	l.mu.Lock()
	if l.f != nil {
		if l.err == nil && len(l.buf) == 0 && !l.zero {
			// Stopped cleanly, the segment ends with its last record,
			// with no end mark after it nor room reserved. Zeros
			// written as room stay, for the next run.
			l.f.Truncate(l.pos)
		}
		l.f.Sync()
	}
	pooled := l.pool > 0
	l.pool = 0
	l.mu.Unlock()
	if pooled {
		os.Remove(filepath.Join(l.dir, reuseName))
	}
	l.lock.Close()
}
