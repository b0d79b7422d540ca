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
//	T path name mode mtime gid      a file's stat changed
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
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"9fans.net/go/plan9"
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

// recover replays the segments into t and opens the last for
// appending, or starts segment 1.
func (l *dlog) recover(t *tree, warn io.Writer) error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var nums []uint64
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == "lock":
		case strings.HasPrefix(name, "probe") && strings.HasSuffix(name, ".tmp"):
			// openLog's probe, left by a crash.
			os.Remove(filepath.Join(l.dir, name))
		case name == reuseName:
			// A dead segment's file kept for reuse, or being made the
			// spare, when mq stopped: it holds nothing live.
			os.Remove(filepath.Join(l.dir, name))
		case strings.HasSuffix(name, ".log") && len(name) == 20:
			var n uint64
			if _, err := fmt.Sscanf(name, "%016x.log", &n); err != nil || segName(n) != name {
				return l.errorf(name, "unknown file in log directory")
			}
			nums = append(nums, n)
		default:
			return l.errorf(name, "unknown file in log directory")
		}
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	// Read the headers.
	for i, n := range nums {
		if err := l.checkHeader(n); err != nil {
			if errors.Is(err, errShortHeader) {
				if i == len(nums)-1 {
					continue // a segment being made when mq stopped
				}
				return l.errorf(segName(n), "segment header cut short")
			}
			return err
		}
	}
	if len(nums) > 0 && nums[0] != 1 {
		if typ, _ := l.firstRecord(nums[0]); typ != 'K' {
			return l.errorf(segName(nums[0]-1), "missing segment of the log")
		}
	}
	for i := 1; i < len(nums); i++ {
		if nums[i] != nums[i-1]+1 {
			return l.errorf(segName(nums[i-1]+1), "missing segment of the log")
		}
	}
	// A new segment's file is made, with its header, before the end of
	// the one before it is written, and the next one is made ahead (the
	// spare): a crash can leave a torn tail there followed by segments
	// with no record. The newest segment with a record is the last; the
	// ones after it hold nothing, and go.
	lastRec := len(nums) - 1
	for lastRec > 0 {
		has, err := l.hasRecord(nums[lastRec])
		if err != nil {
			return err
		}
		if has {
			break
		}
		lastRec--
	}
	empty := nums[lastRec+1:]
	nums = nums[:lastRec+1]
	r := newReplay(t)
	var drop uint64 // the newest segment, if it goes
	old := debug.SetGCPercent(400)
	defer debug.SetGCPercent(old)
	for i, n := range nums {
		last := i >= lastRec
		r.first = i == 0
		size, err := r.segment(l, n, last, warn)
		if err != nil {
			return err
		}
		if last && i > 0 && (size <= logHdrLen || r.skip) {
			// The newest segment has no whole record left, or only
			// part of its checkpoint, which changes nothing: it goes,
			// and the log goes on in the one before. Appended to, it
			// would be read back without the checkpoint it needs once
			// the ones before are deleted.
			drop = n
			r.cur, r.skip = nil, false
			nums = nums[:i]
			break
		}
		l.segs = append(l.segs, segInfo{num: n, size: size, spans: r.cur})
		r.cur = nil
		l.disk += size
	}
	if len(nums) > 0 && nums[0] != 1 && nums[0]-1 > r.gone {
		return l.errorf(segName(nums[0]-1), "missing segment of the log")
	}
	if t.st.total > t.st.cap {
		// Trimming would drop acknowledged history because of a
		// flag (SPEC §11.1, §7.3: nothing is lost silently); running
		// over the cap would break §7.2. The user chooses.
		return fmt.Errorf("%s: the history holds %d bytes of messages, more than -M %d allows", l.dir, t.st.total, t.st.cap)
	}
	if r.torn != "" {
		fmt.Fprintf(warn, "mq: %s: dropped %d bytes of a torn record\n", r.torn, r.tornLen)
		if drop == 0 {
			if err := os.Truncate(r.torn, r.tornAt); err != nil {
				return err
			}
		}
	}
	if drop != 0 {
		if err := os.Remove(filepath.Join(l.dir, segName(drop))); err != nil {
			return err
		}
	}
	for _, n := range empty {
		os.Remove(filepath.Join(l.dir, segName(n)))
	}
	// Zeros after the records of a segment but the last are room a
	// kill left before the segment was cut to its size: they go. The
	// last keeps them as room.
	for _, sg := range l.segs[:max(len(l.segs)-1, 0)] {
		path := filepath.Join(l.dir, segName(sg.num))
		if fi, err := os.Stat(path); err == nil && fi.Size() > sg.size {
			os.Truncate(path, sg.size)
		}
	}
	// A kill after an X record was written and before the segments it
	// gave up were all removed leaves some of them: they go now.
	for len(l.segs) > 1 && l.segs[0].num <= r.gone {
		if err := os.Remove(filepath.Join(l.dir, segName(l.segs[0].num))); err != nil {
			break
		}
		if l.sync {
			// As deleteSegments: a power cut never brings back this
			// one and not the next, a gap a restart would refuse.
			syncDir(l.dir)
		}
		l.disk -= l.segs[0].size
		l.segs = l.segs[1:]
	}
	if len(l.segs) > 0 {
		l.cur, l.segs[len(l.segs)-1].spans = l.segs[len(l.segs)-1].spans, nil
		l.curQ, l.curRun = nil, nil
	}
	r.finish()
	l.live, l.tree = r.live, r.tree
	l.restoreSteps = r.h.steps
	l.maps = r.maps
	if len(nums) == 0 {
		if err := l.newSegment(1); err != nil {
			return err
		}
		// The root is the first record, so that its mtime and its
		// ctl's and order's come back though nothing is made in it
		// (SPEC §11.2); openLog writes it before mq serves.
		l.node(t.root)
		l.live += int64(nodeSize(t.root))
		l.tree += int64(nodeSize(t.root))
		l.stable = len(l.buf)
		return nil
	}
	last := nums[len(nums)-1]
	l.nextSeg = last + 1
	f, err := os.OpenFile(filepath.Join(l.dir, segName(last)), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	size := l.segs[len(l.segs)-1].size
	if size < logHdrLen {
		// Its header was cut short: write it again.
		if err := f.Truncate(0); err != nil {
			f.Close()
			return err
		}
		if _, err := f.WriteAt(segHeader(last), 0); err != nil {
			f.Close()
			return err
		}
		r.seeds[last] = segSeed(segHeader(last))
		l.disk += logHdrLen - size
		size = logHdrLen
		l.segs[len(l.segs)-1].size = size
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	l.f = l.wrap(f)
	l.pos, l.resEnd = size, size
	if fi, err := f.Stat(); err == nil {
		// Zeros after the records, or, in a reused file, what its
		// older use left: room either way.
		l.resEnd = max(size, fi.Size())
	}
	l.seed = r.seeds[last]
	// An mq log1 segment's records end only at the end of the file
	// or at zeros to the end, and it was never used before.
	l.mark = !r.v1[last]
	return nil
}

// hasRecord says whether segment n has a record after its header, or
// the start of one: else it is a spare, empty, with only zeros (room),
// or a reused file with nothing of its own yet (zeros where the first
// record goes, then what its older use left).
func (l *dlog) hasRecord(n uint64) (bool, error) {
	path := filepath.Join(l.dir, segName(n))
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	var b [logHdrLen + 8]byte
	m, err := io.ReadFull(f, b[:])
	f.Close()
	switch {
	case m <= logHdrLen:
		return false, nil
	case err != nil || string(b[:8]) == logMagic1:
		return holdsRecord(path)
	}
	return [8]byte(b[logHdrLen:]) != [8]byte{}, nil
}

// holdsRecord says whether the segment at path holds anything after
// its header but zeros: room reserved by writing them is not a record.
func holdsRecord(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Seek(logHdrLen, io.SeekStart); err != nil {
		return false, err
	}
	b := make([]byte, 64<<10)
	for {
		n, err := f.Read(b)
		if zeroFrom(b[:n], 0) > 0 {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
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

var errShortHeader = errors.New("short header")

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

// checkHeader reads segment n's header and checks it.
func (l *dlog) checkHeader(n uint64) error {
	name := segName(n)
	f, err := os.Open(filepath.Join(l.dir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	var b [logHdrLen]byte
	m, _ := io.ReadFull(f, b[:])
	if m < logHdrLen {
		// A spare cut short inside its header, by this mq or an older
		// one (mq log1).
		h := segHeader(n)
		h1 := append([]byte(logMagic1), h[8:]...)
		if string(b[:m]) == string(h[:m]) || string(b[:m]) == string(h1[:m]) {
			return errShortHeader
		}
		return l.errorf(name, "not an mq log")
	}
	if m := string(b[:8]); m != logMagic && m != logMagic1 && m != logMagicR {
		if strings.HasPrefix(string(b[:8]), "mq log") {
			return l.errorf(name, "unknown log format %q", strings.TrimSpace(string(b[:8])))
		}
		return l.errorf(name, "not an mq log")
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != n {
		return l.errorf(name, "header says segment %d", got)
	}
	return nil
}

// firstRecord is the type of segment n's first record, if it has one.
func (l *dlog) firstRecord(n uint64) (byte, error) {
	b := make([]byte, logHdrLen+9)
	f, err := os.Open(filepath.Join(l.dir, segName(n)))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := io.ReadFull(f, b); err != nil {
		return 0, err
	}
	return b[logHdrLen+8], nil
}

// newSegment makes segment n, empty, and appends to it from now on.
func (l *dlog) newSegment(n uint64) error {
	f, err := l.createSegment(n)
	if err != nil {
		return err
	}
	l.f = f
	l.segs = append(l.segs, segInfo{num: n, size: logHdrLen})
	l.disk += logHdrLen
	l.pos, l.resEnd = logHdrLen, logHdrLen
	l.seed, l.mark = segSeed(segHeader(n)), true
	l.nextSeg = n + 1
	if l.sync {
		// Records synced into it are on stable storage only once
		// its name is.
		syncDir(l.dir)
	}
	return nil
}

func (l *dlog) createSegment(n uint64) (logFile, error) {
	f, err := os.OpenFile(filepath.Join(l.dir, segName(n)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(segHeader(n)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return l.wrap(f), nil
}

// Appending records. Every function below that takes a *dlog runs
// with tree.mu held and does nothing when the log is nil (no -r).

// room makes sure a change whose records take up to n bytes can be
// written, before it is made: a full disk or a failed write fails the
// change, and nothing changes (SPEC §11.3). Room is reserved ahead by
// run (prepare), with no lock held; room reserves it itself, with the
// locks held, only when run has not kept up or could not (a full
// disk), so that the change fails at once.
func (l *dlog) room(n int) error { return l.roomFor(n, false) }

// roomToFree is room for a change that only frees history (a stream or
// an empty group removed, a ctl write logged as its C record alone): it
// may use the part of the reserved room, freeRoom, that room keeps from
// other changes, so that on a full disk the history can still be made
// smaller through mq, and the log then frees the disk (SPEC §11.3,
// §11.4). Once that is used up too, it fails as room does.
func (l *dlog) roomToFree(n int) error { return l.roomFor(n, true) }

func (l *dlog) roomFor(n int, free bool) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.roomLocked(n, free)
}

// roomLocked is roomFor with l.mu held.
func (l *dlog) roomLocked(n int, free bool) error {
	if l.err != nil {
		return l.err
	}
	if l.closed {
		return errExiting // it would be appended after the dir is let go
	}
	if l.rotate && l.segMax > 0 && l.pos-l.segStart > max(l.segMax, 4*l.tree)+reserveChunk/4 {
		// run is late to turn the segment: turn it here, so that
		// segments stay about segMax long whatever the load, and
		// messages can be carried out of them.
		if l.newFile == nil {
			if started, _ := l.turn(l.t); started {
				l.poke() // for the next spare, and deletions
			}
		}
	}
	need := l.pos + int64(n) + xRoom
	if !free {
		need += l.freeRoom()
	}
	if need <= l.resEnd {
		return nil
	}
	if l.spent && l.preparing == 0 {
		// run has not started making the spare since the log turned:
		// it is made here, before the segment appended to takes the
		// room it needs.
		if err := l.makeSpare(); err != nil && !free {
			return sysError(err)
		}
	}
	if sf := l.next; sf != nil {
		// The spare's room comes first: without it the log cannot
		// turn, and so cannot carry messages forward and delete the
		// segments of dead ones, which is how a full disk frees up.
		// A full chunk if it can; on a full disk, at least room for
		// the checkpoint, which lets the log turn.
		if want := l.spareRoom(); l.nextRes < want {
			err := l.reserveAt(sf, logHdrLen+l.nextRes, logHdrLen+want)
			if low := l.spareMin(); err != nil && l.nextRes < low {
				if l.reserveAt(sf, logHdrLen+l.nextRes, logHdrLen+low) == nil {
					l.nextRes = low
				}
			}
			switch {
			case err == nil:
				l.nextRes = want
			case l.nextRes < l.spareMin() && !free:
				// A change that frees history goes on without:
				// the segments it frees may go without a turn, and
				// with them, room for the spare comes back.
				return sysError(err)
			}
		}
	}
	f := l.f
	if l.newFile != nil {
		f = l.newFile
	}
	grow := max(need-l.resEnd, l.topUp(l.resEnd))
	err := l.reserveAt(f, l.resEnd, l.resEnd+grow)
	if err != nil && grow > need-l.resEnd {
		grow = need - l.resEnd
		err = l.reserveAt(f, l.resEnd, l.resEnd+grow)
	}
	if err != nil {
		return sysError(err)
	}
	l.resEnd += grow
	return nil
}

// makeSpare makes the spare, with l.mu held, its room left to room.
func (l *dlog) makeSpare() error {
	n := l.nextSeg
	sf, err := l.createSegment(n)
	if err != nil {
		return err
	}
	if l.sync {
		syncDir(l.dir)
	}
	l.next, l.nextNum, l.nextRes, l.spent = sf, n, 0, false
	l.nextReused = false
	return nil
}

// reserveAt reserves room in f, the segment appended to or the spare,
// from off to end, with l.mu held: as the file system does it, or,
// where it cannot, by writing zeros (see writeZeros).
func (l *dlog) reserveAt(f logFile, off, end int64) error {
	if !l.zero {
		err := f.Reserve(off, end-off)
		if !errors.Is(err, errNoReserve) {
			return err
		}
		l.zero = true
	}
	if f != l.next {
		// Zeros go only past what is appended: the writer may be
		// writing records before l.pos, never after it.
		off = max(off, l.pos)
	}
	return writeZeros(f, off, end)
}

// zeros is what writeZeros writes, a block at a time.
var zeros [64 << 10]byte

// writeZeros reserves room in f from off to end, where the file system
// cannot reserve it otherwise, by writing zeros there: records are
// then written over blocks the file already has, and a full disk shows
// here, before the change the room is for (SPEC §11.3). The zeros
// count in the file's size; a restart reads them as the end of the
// segment (see the top of the file).
func writeZeros(f logFile, off, end int64) error {
	for off < end {
		n := min(end-off, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// topUp is how much room to reserve from off in the segment being
// appended to, with l.mu held: reserveChunk, but not much past where
// the segment turns, as room beyond its end is given back only then.
func (l *dlog) topUp(off int64) int64 {
	if l.segMax <= 0 {
		return reserveChunk
	}
	turn := l.segStart + max(l.segMax, 4*l.tree) + reserveChunk/4
	return min(reserveChunk, max(turn-off, reserveChunk/16))
}

// wantRoom says whether run is to reserve more room in the segment
// being appended to, with l.mu held: under half a chunk is left, and
// the room does not yet reach a little past where the segment turns at
// the latest (room turns it there). Past that, room reserves what a
// change needs itself, in the rare case that the log cannot turn (a
// full disk); reserving more ahead only to give it back when the
// segment turns cost a fallocate(2) every 256 KiB of the last MiB.
func (l *dlog) wantRoom() bool {
	if l.resEnd-l.pos >= reserveChunk/2 {
		return false
	}
	return l.segMax <= 0 || l.resEnd < l.segStart+max(l.segMax, 4*l.tree)+reserveChunk/4+reserveChunk/16
}

// errNoReserve says the file system cannot reserve room.
var errNoReserve = errors.New("cannot reserve")

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
	if l == nil || n.kind == kCtl || n.kind == kOrder {
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

// Writing the log out, and the replies that wait for it.

// ackEnd is where the last change a reply waits for ends in the log.
func (l *dlog) ackEnd() uint64 {
	if l == nil {
		return 0
	}
	return l.ackOff
}

// hold queues c's reply, hdr then data, until the log is written up
// to off, or says false when it already is.
func (l *dlog) hold(c *conn, off uint64, hdr []byte, data string, flush bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if flush {
		if c.nheld == 0 {
			return false
		}
		off = max(off, l.ackOff)
	}
	if off <= l.done {
		return false
	}
	if n := len(l.held); n > 0 && l.held[n-1].off > off {
		off = l.held[n-1].off
	}
	// The reply is copied into a chunk shared by the replies held
	// after it, not an allocation of its own. A chunk is never
	// written over: it is let go once its replies have all left.
	n := len(hdr) + len(data)
	if cap(l.arena)-len(l.arena) < n {
		l.arena = make([]byte, 0, max(n, arenaChunk))
	}
	at := len(l.arena)
	l.arena = append(append(l.arena, hdr...), data...)
	l.held = append(l.held, held{off: off, c: c, b: l.arena[at:len(l.arena):len(l.arena)]})
	c.nheld++
	if l.gatherN > 0 && len(l.held) >= l.gatherN {
		l.gatherN = 0
		select {
		case l.gathered <- struct{}{}:
		default:
		}
	}
	return true
}

// arenaChunk is the size of the chunks held replies are copied into.
const arenaChunk = 16 << 10

// flushOwn is called by a connection's reading goroutine with no lock
// held, once it has handled a batch of requests: it writes the log
// itself, as a reply may wait for it, unless another goroutine is
// writing it. With -S it syncs it too, once as many replies are held
// as the last sync released; until then run gathers them (see
// gather). Handing every sync to run cost two wake-ups of another
// thread per sync (run's, then the connection writer's): with 16
// writers in flight on one connection, half as long again as the sync
// itself between the end of one sync and the start of the next.
//
// need is where the replies the connection kept back for the log
// (conn.pend) need it written to.
func (l *dlog) flushOwn(self *conn, need uint64) {
	l.mu.Lock()
	if len(l.held) == 0 && len(l.buf) < flushAt && need <= l.done || l.stable == 0 && l.newFile == nil {
		l.mu.Unlock()
		return
	}
	if l.err != nil {
		l.mu.Unlock() // run retries on its ticker
		return
	}
	if l.writing || l.sync && len(l.held) < l.batch {
		l.mu.Unlock()
		l.poke()
		return
	}
	l.writeOut(self)
}

func (l *dlog) poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// writeOut writes what is buffered, with l.mu held; it returns with
// l.mu free. Replies whose records are now written leave; self's are
// queued without waking its writer, as its reading goroutine, which
// is writing the log, writes them next.
func (l *dlog) writeOut(self *conn) {
	// Only whole changes are written: a change whose records are still
	// being appended waits for the next batch.
	n := l.stable
	orig, batch := l.buf, n
	mark, oldMark := l.mark, l.oldMark
	buf := l.buf[:n:n]
	// What follows the batch moves to the spare buffer, the last
	// batch's: none is allocated while batches stay small.
	l.buf = append(l.spare[:0], l.buf[n:]...)
	l.spare = nil
	l.stable = 0
	split, nf := l.split, l.newFile
	l.split, l.newFile = -1, nil
	end := l.end - uint64(len(l.buf))
	// base is the size of the file buf goes to (buf[split:] with a
	// switch) before it: a failed write is cut back to it.
	base, oldBase := l.pos-int64(len(l.buf))-int64(len(buf)), l.oldBase
	if nf != nil {
		base = logHdrLen
	}
	f := l.f
	if nf != nil {
		l.f = nf
	}
	l.writing = true
	zero := l.zero
	l.mu.Unlock()

	if zero {
		// The zeros reserveIn writes must not land on these records.
		l.fileMu.Lock()
	}
	var err error
	cutTo := int64(-1) // f was cut back there, and its room with it
	whole := buf
	if nf != nil {
		// A new segment starts: the old one is whole first. Its file
		// may have been used before: the end of its records is marked
		// (endMark) before they are written, as the records' own end
		// mark goes with the records of the new segment.
		var n int
		if oldMark {
			_, err = f.WriteAt(endMark[:], oldBase+int64(split))
		}
		if err == nil {
			n, err = f.WriteAt(buf[:split], oldBase)
		}
		if err == nil && l.sync {
			err = f.Sync()
		}
		if err != nil && n > 0 {
			if terr := f.Truncate(oldBase); terr != nil {
				err = fmt.Errorf("%v; %v", err, terr)
			}
		}
		if err == nil {
			// Give back the room reserved beyond its end (SPEC §11.4).
			if !zero {
				l.fileMu.Lock()
			}
			f.Truncate(oldBase + int64(split))
			f.Close()
			if !zero {
				l.fileMu.Unlock()
			}
			f, buf = nf, buf[split:]
		}
	}
	if err == nil && len(buf) > 0 {
		// The records go with endMark after them, over which the next
		// batch is written: orig's room after the batch is free now.
		var out []byte
		if !mark {
			out = buf
		} else if cap(orig)-batch >= len(endMark) {
			out = orig[batch-len(buf) : batch+len(endMark)]
			clear(out[len(buf):])
		} else {
			out = append(buf[:len(buf):len(buf)], endMark[:]...)
		}
		var n int
		n, err = f.WriteAt(out, base)
		if err != nil && n > 0 {
			// Cut off the part written, so that the retry appends
			// whole records.
			if terr := f.Truncate(base); terr != nil {
				err = fmt.Errorf("%v; %v", err, terr)
			} else {
				cutTo = base
			}
		}
	}
	if zero {
		l.fileMu.Unlock()
	}
	var synced time.Duration
	if err == nil && l.sync {
		t0 := time.Now()
		err = f.Sync()
		synced = time.Since(t0)
	}

	l.mu.Lock()
	l.writing = false
	var out []held
	if err != nil {
		// Keep the records, to write again. The changes they log are
		// in the tree already, and readers may have had them: their
		// replies wait until a retry writes them, and are never
		// turned into errors. Instead room fails every new change
		// until a write succeeds, so that a request answered with the
		// error has changed nothing (SPEC §11.3).
		if nf != nil && f != nf {
			// The old segment's part failed: the switch is still to come.
			l.f, l.newFile, l.split = f, nf, split
			buf = whole
		}
		l.stable += len(buf)
		l.buf = append(buf[:len(buf):len(buf)], l.buf...)
		l.err = sysError(err)
		if cutTo >= 0 {
			l.cuts++
			if target := l.newFile; target == f || target == nil && l.f == f {
				l.resEnd = min(l.resEnd, cutTo)
			}
		}
	} else {
		l.err = nil
		l.done = end
		if cap(orig) <= maxLogSpare {
			l.spare = orig[:0]
		}
		i := 0
		for i < len(l.held) && l.held[i].off <= end {
			i++
		}
		if l.sync {
			l.batch, l.syncDur = i, synced
		}
		switch {
		case i == len(l.held):
			// All leave (the usual case): the other run takes over.
			out = l.held
			l.held, l.heldFree = l.heldFree[:0], nil
		case i > 0:
			out = append(l.heldFree[:0], l.held[:i]...)
			l.heldFree = nil
			l.held = append(l.held[:0], l.held[i:]...)
		}
	}
	for _, h := range out {
		h.c.nheld--
	}
	// After a failure run's ticker retries, not a tight loop. A
	// switch to a new segment written lets a step of maintain that
	// waited for it go on.
	again := l.err == nil && (len(l.held) > 0 || l.stable > 0 || nf != nil && (l.rotate || l.compact))
	l.mu.Unlock()
	for _, h := range out {
		h.c.queueOut(h.b, h.c == self)
	}
	if cap(out) > 0 && cap(out) <= maxLogSpare/16 {
		clear(out) // let go of the connections and the chunks
		l.mu.Lock()
		if l.heldFree == nil {
			l.heldFree = out[:0]
		}
		l.mu.Unlock()
	}
	if again {
		l.poke()
	}
}

// endMark follows the last record written to a segment: a segment's
// file may be a dead one's, reused, and what follows the mark is left
// from its older use.
var endMark [8]byte

// maxLogSpare bounds the buffers kept for reuse: a burst's do not stay.
const maxLogSpare = 1 << 20

// commit marks the end of a change, with tree.mu held: the records
// appended so far may be written.
func (l *dlog) commit() {
	l.mu.Lock()
	if l.trimQ != nil {
		l.encodeTrim()
	}
	l.stable = len(l.buf)
	l.mu.Unlock()
}

// runTick is how often run looks for work nobody kicked it for: a
// retry after a failed write, a compaction that came due, records no
// reply waits for. Requests kick it, so it is seldom needed, and an
// idle mq should not wake often (under 9vx, the Plan 9 kernel the
// tests boot, a 50 ms tick went with kernel faults in most runs of
// test/attach.rc).
const runTick = time.Second

// run writes the log when kicked or every so often, and compacts it
// when due.
func (l *dlog) run(t *tree) {
	defer close(l.runDone)
	tick := time.NewTicker(runTick)
	defer tick.Stop()
	l.prepare() // the spare, before the segment needs it
	for {
		select {
		case <-l.kick:
		case <-tick.C:
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		work := !l.writing && (l.stable > 0 || l.newFile != nil)
		maint := l.compact || l.rotate
		if work {
			if l.sync && len(l.held) < l.batch && !l.gather() {
				l.mu.Unlock() // closed, or written meanwhile
			} else {
				l.writeOut(nil)
			}
		} else {
			l.mu.Unlock()
		}
		if maint {
			l.maintain(t)
		}
		l.prepare()
		l.startDeleter()
	}
}

// gather, with l.mu held, lets the writers the last sync released
// send their next changes before the next sync starts, so that they
// share it rather than waiting for the one after: it waits until as
// many replies are held as that sync released, or for a fraction of
// the time a sync takes. It says whether the log still has work.
func (l *dlog) gather() bool {
	if l.gathered == nil {
		l.gathered = make(chan struct{}, 1)
	}
	select {
	case <-l.gathered:
	default:
	}
	l.gatherN = l.batch
	wait := min(l.syncDur/2, 2*time.Millisecond)
	l.mu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-l.gathered:
	case <-t.C:
	}
	t.Stop()
	l.mu.Lock()
	l.gatherN = 0
	return !l.closed && !l.writing && (l.stable > 0 || l.newFile != nil)
}

// maintain starts a new segment when one is due, or when the log is
// too big and its oldest segment holds messages still in the history,
// which are carried into the new one; then it deletes the oldest
// segments once nothing in them is live.
func (l *dlog) maintain(t *tree) {
	l.prepare() // a spare segment, with no lock held
	t.mu.Lock()
	l.mu.Lock()
	carried := false
	if l.newFile == nil && l.err == nil {
		_, carried = l.turn(t)
	}
	// So does the X record, in the margin room keeps.
	canX := l.resEnd-l.pos >= xRoom
	if !canX && !l.topping {
		l.topping = true
		l.poke()
	}
	gone := 0
	for canX && len(l.segs) > 1 && l.err == nil && l.dead(l.segs[0]) {
		// Still counted in l.disk until the file is removed.
		l.dels = append(l.dels, pendingDel{seg: l.segs[0]})
		l.segs = l.segs[1:]
		gone++
	}
	if gone > 0 {
		// Say so in the log first: a restart tells segments deleted
		// on purpose from missing ones.
		at := l.rec('X')
		l.num(l.dels[len(l.dels)-1].seg.num)
		l.finish(at, false)
		l.stable = len(l.buf)
		for i := len(l.dels) - gone; i < len(l.dels); i++ {
			l.dels[i].xEnd = l.end
		}
	}
	l.compact = l.disk > 2*l.live+slack
	// More to do after a carry that freed nothing yet. A step that
	// waited for the switch to a new segment to be written goes on when
	// writeOut has written it, or segments are deleted, or a spare is
	// made: each pokes run.
	again := l.compact && carried && gone == 0
	l.mu.Unlock()
	t.mu.Unlock()
	l.startDeleter()
	if again {
		l.poke() // the next segments may go too
	}
}

// turn starts a new segment when one is due, or when the log is too
// big, carrying messages into it then, with l.mu and tree.mu held. It
// says whether it started one, and whether it carried messages.
func (l *dlog) turn(t *tree) (started, carried bool) {
	// Carrying waits until the segments the last carry freed are
	// removed: dir never holds more than one carry's worth twice.
	over := l.disk > 2*l.live+slack && len(l.dels) == 0 && (len(l.segs) == 1 || !l.dead(l.segs[0]))
	// Records the log adds on its own (the checkpoint, the messages
	// carried) go only into room already reserved: on a full disk, a
	// write that fails would fail every change after it, and the
	// segments the carry frees would never go.
	if (l.rotate || over) && l.switchRoom(over) && l.startSegment(t) {
		started = true
		if over {
			carried = l.carry(l.resEnd - l.pos - xRoom)
		}
	}
	return started, carried
}

// startDeleter starts the deleter if segments wait to be deleted and
// it is not running. run calls it on every turn, so a deletion that
// stopped (a failed write, a file that would not go) is tried again.
func (l *dlog) startDeleter() {
	l.mu.Lock()
	start := len(l.dels) > 0 && l.deleting == 0 && !l.closed && l.err == nil
	if start {
		l.deleting = 1
	}
	l.mu.Unlock()
	if start {
		// Deleting files can take long: new segments do not wait.
		go l.deleteSegments()
	}
}

// deleteSegments removes the segments in l.dels, strictly in order,
// each once the X record that gives it up is written. It stops, leaving
// the rest queued, when the log cannot be written or a file cannot be
// removed.
func (l *dlog) deleteSegments() {
	defer func() {
		l.mu.Lock()
		l.deleting = 0
		more := l.compact
		l.mu.Unlock()
		if more {
			l.poke() // a carry may have waited for this
		}
	}()
	for {
		l.mu.Lock()
		if len(l.dels) == 0 {
			l.mu.Unlock()
			return
		}
		d := l.dels[0]
		if l.done < d.xEnd {
			switch {
			case l.err != nil || l.closed:
				l.mu.Unlock()
				return // the files stay, counted; run tries again
			case l.writing:
				l.mu.Unlock()
				time.Sleep(time.Millisecond)
			default:
				l.writeOut(nil)
			}
			continue
		}
		// Its file is kept to be made the next spare, if none is kept
		// and the log without it is within the size that makes it
		// carry messages forward: writing over pages the system has
		// cached, on blocks already allocated, costs much less than
		// writing a new file, and removing one costs too. (Not the
		// log with it: where little is live, the last segment alone
		// comes near that size, and no file would ever be kept.)
		keep := l.pool == 0 && l.disk-d.seg.size <= 2*l.live+slack
		if keep {
			l.pool = -1
		}
		l.mu.Unlock()
		l.unmapSegments(d.seg.num)
		if beforeRemove != nil {
			beforeRemove()
		}
		name := filepath.Join(l.dir, segName(d.seg.num))
		var err error
		if keep {
			err = os.Rename(name, filepath.Join(l.dir, reuseName))
		} else {
			err = os.Remove(name)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			if keep {
				l.mu.Lock()
				l.pool = 0
				l.mu.Unlock()
			}
			return
		}
		if l.sync {
			// So that a power cut does not bring back this one and
			// not the next: a gap is refused at start.
			syncDir(l.dir)
		}
		l.mu.Lock()
		l.dels = l.dels[1:]
		if keep {
			l.pool = 0
			if err == nil {
				l.pool = d.seg.size
			}
		}
		l.disk -= d.seg.size
		// The log may be back under the size that makes it carry,
		// and its pool stays (prepare drops it while the log carries).
		l.compact = l.disk > 2*l.live+slack
		l.mu.Unlock()
	}
}

// xRoom is room enough for an X record, kept free by room and carry.
const xRoom = 64

// freeRoom is the part of the room reserved in the segment appended to
// that room keeps from changes but those that only free history
// (roomToFree), with l.mu held: 64 KiB (a quarter of reserveChunk if
// less, in tests), or spareMin if more. Such a change logs an R or C
// record of some 20 to 60 bytes (room asks 32 or 64), so 64 KiB lets a
// user whose disk filled up make about a thousand of them: remove
// streams, clear, lower depth. It is reserved like the rest of the room
// (fallocate, or zeros), so counted on disk, and comes out of the room
// topUp reserves ahead anyway: at most 64 KiB more in the segment
// appended to, well within the allowance of SPEC §11.4. When the log
// turns, the room past the old segment's end is given back, this part
// with it, and the next spare is made before more room is reserved in
// the new segment (prepare): so on a full disk the spare gets at least
// spareMin from it, and the log can still turn, carry messages forward
// and delete the segments the freeing changes emptied. The next change
// that does not free history reserves it again, and fails while the
// disk has no room for it.
func (l *dlog) freeRoom() int64 { return max(min(64<<10, reserveChunk/4), l.spareMin()) }

// switchRoom says whether the spare has room reserved for the
// checkpoint that starts it, with l.mu held: a full chunk, or, to
// carry messages forward (over), at least spareMin. On a full disk the
// spare with only that is kept for carrying, which frees the disk: a
// turn for size would leave the log with no spare it could make.
func (l *dlog) switchRoom(over bool) bool {
	return l.next != nil && (l.nextRes >= l.spareRoom() || over && l.nextRes >= l.spareMin())
}

// spareRoom is how much room to reserve in the spare: a chunk, or more
// if the checkpoint of the tree needs it.
func (l *dlog) spareRoom() int64 {
	return max(reserveChunk, l.spareMin())
}

// spareMinNow is spareMin, with no lock held.
func (l *dlog) spareMinNow() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spareMin()
}

// spareMin is room enough in the spare for the checkpoint that starts
// it. On a full disk the spare may have only that: the log turns to it
// all the same, carrying forward what fits, so that the segments whose
// messages have left can go and the disk frees up.
func (l *dlog) spareMin() int64 { return 2*l.tree + 1024 }

// carry logs again, after the checkpoint of the segment just started,
// the messages still in the history whose newest record is in the
// oldest segments, as A records, each run of them followed by an F
// record: once all of a segment's are carried, it holds nothing live,
// and goes. It carries the oldest segment's, and the next ones' while
// they are mostly dead, segMax bytes at most (and a message), so that
// segments stay about segMax long; the rest waits for the next
// segment. It appends no more than room bytes. It says whether it
// carried anything.
func (l *dlog) carry(room int64) bool {
	n := len(l.segs) - 1 // the new segment
	budget := l.segMax
	if budget <= 0 {
		budget = 4 << 20 // segments are not turned by size
	}
	start := len(l.buf)
	// fits says whether m's A record, and the F record after it, go
	// into the room reserved.
	fits := func(m *message) bool {
		return int64(len(l.buf)-start+len(m.data)+len(m.from.line))+96 <= room
	}
	full := false
	var carried int64
	for i := 0; i < n && carried < budget && !full; i++ {
		sg := &l.segs[i]
		if i > 0 && 2*l.liveIn(sg) > sg.size {
			// Mostly live: its messages may leave before it is the
			// oldest; carrying them now would be wasted.
			break
		}
		for q, r := range sg.spans {
			if q.removed {
				delete(sg.spans, q)
				continue
			}
			for len(r) > 0 && carried < budget && !full {
				sp := &r[0]
				var first, last *message
				m := seek(q, *sp)
				for ; m != nil && m.seq <= sp.hi && carried < budget; m = m.gnext {
					if !m.logged {
						continue
					}
					if !fits(m) {
						full = true
						break
					}
					if first == nil {
						first = m
					}
					last = m
					carried += l.retained('A', m, false)
				}
				if first != nil {
					at := l.rec('F')
					l.num(q.path)
					l.num(first.seq)
					l.num(last.seq)
					l.finish(at, false)
					l.cur.carry(q, first.seq, last.seq, first.gprev)
					l.curQ, l.curRun = nil, nil // cur[q] may have moved
				}
				if m != nil && m.seq <= sp.hi {
					// Out of room: the run goes on from m.
					if last != nil {
						sp.lo, sp.after, sp.afterSeq = m.seq, last, last.seq
					}
					break
				}
				r = r[1:]
			}
			if len(r) > 0 {
				sg.spans[q] = r
			} else {
				delete(sg.spans, q)
			}
		}
	}
	l.stable = len(l.buf)
	l.carriedN += carried
	return carried > 0
}

// waitWritten writes the log out up to off, or says it failed.
func (l *dlog) waitWritten(off uint64) bool {
	for {
		l.mu.Lock()
		switch {
		case l.done >= off:
			l.mu.Unlock()
			return true
		case l.err != nil || l.closed:
			l.mu.Unlock()
			return false
		case l.writing:
			l.mu.Unlock()
			time.Sleep(time.Millisecond)
		default:
			l.writeOut(nil)
		}
	}
}

// settle waits until no segment is being deleted.
func (l *dlog) settle() {
	for {
		l.mu.Lock()
		n := l.deleting
		l.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// liveIn is about how many bytes the messages whose newest record is
// in sg take.
func (l *dlog) liveIn(sg *segInfo) int64 {
	var n int64
	for q, r := range sg.spans {
		if q.removed {
			continue
		}
		for _, sp := range r {
			for m := seek(q, sp); m != nil && m.seq <= sp.hi; m = m.gnext {
				if m.logged {
					n += msgSize(len(m.data))
				}
			}
		}
	}
	return n
}

// dead says whether every message whose newest record is in sg has
// left its group.
func (l *dlog) dead(sg segInfo) bool {
	for q, r := range sg.spans {
		if q.removed {
			continue
		}
		for _, sp := range r {
			for m := seek(q, sp); m != nil && m.seq <= sp.hi; m = m.gnext {
				if m.logged {
					return false
				}
			}
		}
	}
	return true
}

// startSegment starts a new segment, with l.mu and tree.mu held:
// records go on into it after a checkpoint of the tree, so that it
// can be read back without the segments before it once their
// messages are gone. It says whether it did.
func (l *dlog) startSegment(t *tree) bool {
	n := l.nextSeg
	if l.next == nil || l.nextNum != n {
		return false // run makes one, and pokes
	}
	nf, res, magic := l.next, l.nextRes, logMagic
	if l.nextReused {
		magic = logMagicR
	}
	l.next, l.spent = nil, true
	l.rotate = false
	l.nextSeg = n + 1
	l.switchTo(nf, n, magic)
	l.resEnd += res
	l.checkpoint(t)
	return true
}

// prepare, in run with no lock held, makes the spare segment if there
// is none and reserves more room in the segment being appended to when
// little is left, so that neither happens under the tree's lock.
func (l *dlog) prepare() {
	l.mu.Lock()
	n, need := l.nextSeg, l.next == nil && l.preparing == 0 && !l.closed
	if need {
		l.preparing, l.spent = n, false
	}
	f := l.f
	if l.newFile != nil {
		f = l.newFile
	}
	off, top := l.resEnd, l.topping && !l.closed && l.err == nil
	grow := l.topUp(off)
	seg, cuts := l.segs[len(l.segs)-1].num, l.cuts // the segment f is
	l.topping = false
	// The spare's room, if it was made on a full disk or the tree has
	// grown: the log starts it only once its checkpoint has room.
	spare, spareRes, spareWant := l.next, l.nextRes, l.spareRoom()
	if l.closed || spareRes >= spareWant {
		spare = nil
	}
	l.mu.Unlock()
	if spare != nil {
		got := spareWant
		err := l.reserveIn(spare, logHdrLen+spareRes, logHdrLen+got)
		if low := l.spareMinNow(); err != nil && spareRes < low {
			got = low
			err = l.reserveIn(spare, logHdrLen+spareRes, logHdrLen+got)
		}
		l.mu.Lock()
		if err == nil && l.next == spare && l.nextRes < got {
			l.nextRes = got
			if l.rotate || l.compact {
				l.poke()
			}
		}
		l.mu.Unlock()
	}
	topUp := func() {
		if !top {
			return
		}
		err := l.reserveIn(f, off, off+grow)
		l.mu.Lock()
		// Else a full disk: room finds it when a change asks for more.
		// A failed write may have cut the segment back meanwhile, and
		// the room with it.
		if err == nil && l.segs[len(l.segs)-1].num == seg && l.cuts == cuts {
			l.resEnd = max(l.resEnd, off+grow)
		}
		l.mu.Unlock()
	}
	// A spare to make comes first: on a full disk, the room the last
	// segment gave back when the log turned is for it (see freeRoom).
	if need {
		defer topUp()
	} else {
		topUp()
	}
	if !need {
		l.mu.Lock()
		drop := l.pool > 0 && l.compact
		if drop {
			l.pool = -1
		}
		l.mu.Unlock()
		if drop {
			os.Remove(filepath.Join(l.dir, reuseName))
			l.mu.Lock()
			l.pool = 0
			l.mu.Unlock()
		}
		return
	}
	sf, have, err := l.reuseSegment(n)
	if sf == nil {
		sf, err = l.createSegment(n)
	}
	if err != nil {
		l.mu.Lock()
		l.preparing = 0
		l.spent = l.next == nil // room tries too
		l.mu.Unlock()
		return // tried again on the next turn of run
	}
	if l.sync {
		// Records synced into the spare are on stable storage only
		// once its name is.
		syncDir(l.dir)
	}
	l.mu.Lock()
	res, low := l.spareRoom(), l.spareMin()
	l.mu.Unlock()
	switch {
	case have-logHdrLen >= res:
		// A dead segment's file: writing over its blocks needs none
		// more, and reserving them again cost a call every few
		// messages.
		res = have - logHdrLen
	// Nobody else has sf yet: no lock is needed to reserve in it.
	case l.reserveFile(sf, logHdrLen, logHdrLen+res, -1) != nil:
		// A full disk: the rest is reserved when space comes back.
		res = low
		if l.reserveFile(sf, logHdrLen, logHdrLen+res, -1) != nil {
			res = 0
		}
	}
	l.mu.Lock()
	l.preparing = 0
	if l.next == nil && l.nextSeg == n && !l.closed {
		l.next, l.nextNum, l.nextRes = sf, n, res
		l.nextReused = have > 0
		sf = nil
	}
	rotate := l.rotate || l.compact
	l.mu.Unlock()
	if sf != nil {
		sf.Close()
		os.Remove(filepath.Join(l.dir, segName(n)))
	} else if rotate {
		l.poke()
	}
}

// reuseSegment makes the dead segment's file kept for reuse segment n,
// with no lock held, and says how long the file is, or says nil if
// none is kept. Its header is written
// before it takes its name, with zeros after it where the first record
// goes: until a record is written it is an empty spare, and whatever
// its older segment left in it does not check in the new one (segSeed).
func (l *dlog) reuseSegment(n uint64) (logFile, int64, error) {
	l.mu.Lock()
	size, drop := l.pool, l.compact || l.closed
	if size > 0 {
		l.pool = -1
	}
	l.mu.Unlock()
	if size <= 0 {
		return nil, 0, nil
	}
	from, to := filepath.Join(l.dir, reuseName), filepath.Join(l.dir, segName(n))
	var f *os.File
	var err error
	if !drop {
		f, err = os.OpenFile(from, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteAt(append(header(logMagicR, n), endMark[:]...), 0)
			if err == nil && l.sync {
				// The new header is on disk before the name: else a
				// power cut could leave the old one under it, which
				// a restart refuses.
				err = syncFile(f)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = os.Rename(from, to)
		}
		if err == nil {
			f, err = os.OpenFile(to, os.O_WRONLY, 0)
		}
	}
	l.mu.Lock()
	l.pool = 0
	if !drop && err == nil {
		l.reusedN++
	}
	l.mu.Unlock()
	if drop || err != nil {
		os.Remove(from) // the log carries messages forward: it needs the room
		os.Remove(to)
		return nil, 0, nil
	}
	return l.wrap(f), size, nil
}

// reserveIn reserves room in f from off to end, with no lock held, if
// f is still the segment appended to or the spare. Else it says the
// file is gone. fileMu keeps writeOut from closing f meanwhile and,
// when the log writes zeros, from writing records into the range
// until they are written.
func (l *dlog) reserveIn(f logFile, off, end int64) error {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.mu.Lock()
	target := l.newFile
	if target == nil {
		target = l.f
	}
	ours := f == target || f == l.next
	pos := int64(-1)
	if f == target {
		pos = l.pos
	}
	l.mu.Unlock()
	if !ours {
		return os.ErrClosed
	}
	return l.reserveFile(f, off, end, pos)
}

// reserveFile reserves room in f from off to end with no lock held:
// as the file system does it, or else by writing zeros, past pos if
// f is the segment appended to (pos >= 0). Once the log writes zeros,
// writeOut writes records with fileMu held, as reserveIn reserves.
func (l *dlog) reserveFile(f logFile, off, end, pos int64) error {
	l.mu.Lock()
	zero := l.zero
	l.mu.Unlock()
	if !zero {
		err := f.Reserve(off, end-off)
		if !errors.Is(err, errNoReserve) {
			return err
		}
		l.mu.Lock()
		l.zero = true
		l.mu.Unlock()
		if pos >= 0 {
			// A writer that started before this may still be
			// writing without fileMu: the next call writes the zeros.
			return err
		}
	}
	if pos >= 0 {
		off = max(off, pos)
	}
	return writeZeros(f, off, end)
}

// syncDir puts the names in dir on stable storage, as syncFile does
// a file's data.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		syncFile(d)
		d.Close()
	}
	if dirSynced != nil {
		dirSynced(dir)
	}
}

// dirSynced, when set, is told of every syncDir (tests).
var dirSynced func(dir string)

// dropSpare closes and removes the spare segment, with no lock held.
func (l *dlog) dropSpare() {
	l.mu.Lock()
	sf, n := l.next, l.nextNum
	l.next = nil
	l.mu.Unlock()
	if sf != nil {
		sf.Close()
		os.Remove(filepath.Join(l.dir, segName(n)))
	}
}

// switchTo makes records from here on go to segment n, open as nf.
func (l *dlog) switchTo(nf logFile, n uint64, magic string) {
	if l.trimQ != nil {
		l.encodeTrim()
	}
	l.split, l.newFile = len(l.buf), nf
	l.oldBase, l.oldMark = l.pos-int64(len(l.buf)), l.mark
	last := &l.segs[len(l.segs)-1]
	last.size, last.spans = l.pos, l.cur
	l.cur, l.curQ, l.curRun = nil, nil, nil
	l.segs = append(l.segs, segInfo{num: n, size: logHdrLen})
	l.pos, l.resEnd = logHdrLen, logHdrLen
	l.seed, l.mark = segSeed(header(magic, n)), true
	l.disk += logHdrLen
}

// checkpoint logs the tree as it is: every group and stream, and the
// qid.path high-water mark, between K and E.
func (l *dlog) checkpoint(t *tree) {
	at := l.rec('K')
	l.finish(at, false)
	at = l.rec('P')
	l.num(t.nextPath)
	l.finish(at, false)
	var walk func(g *node)
	walk = func(g *node) {
		l.node(g)
		for _, c := range g.children {
			if c.kind == kGroup {
				walk(c)
			} else {
				l.node(c)
			}
		}
	}
	walk(t.root)
	at = l.rec('E')
	l.finish(at, false)
	l.stable = len(l.buf)
	l.segStart, l.rotate = l.pos, false // the checkpoint does not count
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

// Reading the log back.

type replay struct {
	t       *tree
	nodes   map[uint64]*node
	last    *node // the stream of the previous write, to skip a lookup
	live    int64
	tree    int64 // the part of live that is the tree
	maxPath uint64
	bufs    [][]byte // segments read, which messages' data points into
	bySeq   map[*queue]map[uint64]*message
	inCkpt  bool // between K and E: the records are the state, not changes
	maps    []segMap
	first   bool                // in the first segment read back
	skip    bool                // in a checkpoint of a segment not the first: skipped
	cur     spans               // as dlog.cur, for the segment being read
	carried map[*queue]*message // the first message of a run being carried
	gone    uint64              // segments up to this were deleted on purpose
	torn    string              // the last segment, if its tail is torn
	seeds   map[uint64]uint32   // of each segment read, by number
	v1      map[uint64]bool     // the segments read that are mq log1
	tornAt  int64               // where the torn record starts
	tornLen int
	// The last message put in the middle of each group's history and
	// of each stream's, where the next of a run carried forward goes
	// after (see hint).
	midG map[*queue]*message
	midS map[*streamq]*message
	h    restoreHint
}

// segMap is a segment mapped into memory, which messages point into.
type segMap struct {
	num uint64
	b   []byte
}

// newReplay reads the log back into t, a tree as newTree makes it.
func newReplay(t *tree) *replay {
	r := &replay{t: t, nodes: make(map[uint64]*node), carried: make(map[*queue]*message), seeds: make(map[uint64]uint32), v1: make(map[uint64]bool)}
	r.nodes[rootPath] = t.root
	return r
}

// segment replays segment n. Only in the last may a torn tail be cut
// off (SPEC §11.5). It returns the segment's size once read.
func (r *replay) segment(l *dlog, n uint64, last bool, warn io.Writer) (int64, error) {
	name := segName(n)
	path := filepath.Join(l.dir, name)
	in, err := readSegment(path)
	if err != nil {
		return 0, err
	}
	defer in.stop()
	b := in.b
	off := logHdrLen
	if !in.wait(off) {
		b = in.b[:in.have]
		if !last {
			return 0, l.errorf(name, "segment cut short")
		}
		return int64(len(b)), nil
	}
	r.bufs = append(r.bufs, in.b)
	if in.mapped {
		r.maps = append(r.maps, segMap{n, in.b})
	}
	seed := segSeed(b)
	r.seeds[n] = seed
	v1 := string(b[:8]) == logMagic1
	reused := string(b[:8]) == logMagicR
	r.v1[n] = v1
	for off < len(b) {
		bad := ""
		var body []byte
		if !in.wait(off + 8) {
			b = in.b[:in.have]
			bad = "record cut short"
		} else {
			size := int(binary.LittleEndian.Uint32(b[off:]))
			switch {
			case !v1 && [8]byte(b[off:off+8]) == [8]byte{}:
				// The end of the records written to a reused file:
				// what follows is left from its older use.
				in.wait(len(b))
				b = in.b[:in.have]
				if r.wholeAfter(b, off, seed, v1) {
					return 0, l.errorf(name, "damaged record at offset %d: %s", off, "zero length")
				}
				if after := off + len(endMark); !reused && zeroFrom(b, after) > after {
					// Not a reused file: what follows the end mark
					// but zeros (room) was added since.
					if !last {
						return 0, l.errorf(name, "damaged record at offset %d: %s", after, "data after the end of the records")
					}
					r.torn, r.tornAt, r.tornLen = path, int64(off), zeroFrom(b, after)-after
				}
				return int64(off), nil
			case size < 1 || size > len(b)-off-8:
				bad = "record cut short"
			case !in.wait(off + 8 + size):
				b = in.b[:in.have]
				bad = "record cut short"
			default:
				body = b[off+8 : off+8+size]
				if crc32.Update(seed, castagnoli, body) != binary.LittleEndian.Uint32(b[off+4:]) {
					bad = "checksum does not match"
				}
			}
		}
		if bad != "" {
			in.wait(len(b))
			b = in.b[:in.have]
			if zeroFrom(b, off) == off {
				// Room reserved by writing zeros: the segment ends
				// here, and nothing is torn.
				return int64(off), nil
			}
			if !last || r.wholeAfter(b, off, seed, v1) {
				return 0, l.errorf(name, "damaged record at offset %d: %s", off, bad)
			}
			// A torn tail: cut off once all else is known to be whole.
			// Zeros after it were room, not part of the record; in a
			// reused file, so are bytes after the length it claims:
			// they are left from the file's older use.
			r.torn, r.tornAt, r.tornLen = path, int64(off), zeroFrom(b, off)-off
			if reused && body != nil {
				r.tornLen = min(r.tornLen, 8+len(body))
			}
			return int64(off), nil
		}
		if err := r.record(body); err != nil {
			return 0, l.errorf(name, "bad record at offset %d: %v", off, err)
		}
		off += 8 + len(body)
	}
	return int64(len(b)), nil
}

// segReader reads a segment into one buffer, which messages read back
// point into, with large reads in a goroutine of its own: records are
// checked and replayed while the rest is read.
type segReader struct {
	b      []byte
	mapped bool // b maps the file (Unix): unmap it once nothing points into it
	have   int
	avail  chan int // how much of b is read so far; closed at the end
	quit   chan struct{}
	err    error
}

const readChunk = 4 << 20

// readSegmentCopy reads a segment into memory of its own.
func readSegmentCopy(path string) (*segReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	in := &segReader{b: make([]byte, fi.Size()), avail: make(chan int, 64), quit: make(chan struct{})}
	go func() {
		defer f.Close()
		defer close(in.avail)
		off := 0
		for off < len(in.b) {
			n, err := f.Read(in.b[off:min(off+readChunk, len(in.b))])
			off += n
			if n > 0 {
				select {
				case in.avail <- off:
				case <-in.quit:
					return
				}
			}
			if err != nil {
				return // a short file: its end is where reading stopped
			}
		}
	}()
	return in, nil
}

// wait waits until b[:n] is read, or says it never will be.
func (in *segReader) wait(n int) bool {
	for in.have < n {
		v, ok := <-in.avail
		if !ok {
			return false
		}
		in.have = v
	}
	return true
}

func (in *segReader) stop() {
	if in.mapped {
		return
	}
	close(in.quit)
	for range in.avail {
	}
}

// wholeAfter says whether a whole record follows the damaged one at
// off, or the end of records there: then the damage is not a torn
// tail. In an mq log2 segment, bytes after the last record may be left
// from an older use of the file, and only a record of this segment
// (seed) counts.
func (r *replay) wholeAfter(b []byte, off int, seed uint32, v1 bool) bool {
	if len(b)-off < 8 {
		return false
	}
	// The length itself may be damaged: look for any whole record
	// further on; in an mq log1 segment, after a whole-length record
	// with a bad checksum. Zeros (room) or a record cut short are the
	// rest of a torn tail (SPEC §11.5: the last records a crash cut
	// short, a checksum that does not match).
	from := off + 1
	size := int(binary.LittleEndian.Uint32(b[off:]))
	if next := off + 8 + size; v1 && size >= 1 && next <= len(b) {
		from = next
	}
	for p := from; p+9 <= len(b); p++ {
		if okRecord(b, p, seed, v1) {
			return true
		}
	}
	return false
}

// zeroFrom is where the zeros that end b start, from off on: len(b) if
// b does not end in a zero, off if b[off:] is all zeros.
func zeroFrom(b []byte, off int) int {
	end := len(b)
	for end > off && b[end-1] == 0 {
		end--
	}
	return end
}

func okRecord(b []byte, p int, seed uint32, v1 bool) bool {
	size := int(binary.LittleEndian.Uint32(b[p:]))
	if size < 1 || size > len(b)-p-8 || !v1 && size > maxRecord {
		return false
	}
	return crc32.Update(seed, castagnoli, b[p+8:p+8+size]) == binary.LittleEndian.Uint32(b[p+4:])
}

// dec reads a record's fields.
type dec struct {
	b   []byte
	err error
}

func (d *dec) num() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad number")
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) u32() uint32 { return uint32(d.num()) }

func (d *dec) bytes() []byte {
	n := d.num()
	if n > uint64(len(d.b)) {
		d.err = errors.New("bad string")
		d.b = nil
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) cfg() config {
	var c config
	c.data = dataMode(d.num())
	c.replay = replayMode(d.num())
	c.depth.n = int64(d.num())
	c.depth.inBytes = d.num() != 0
	c.wait = waitMode(d.num())
	if c.data > dataStatic || c.replay > replayAll || c.wait > waitAll || c.depth.n < 0 {
		d.err = errors.New("bad configuration")
	}
	return c
}

// rest is the rest of the record, which points into the segment read.
func (d *dec) rest() string {
	s := unsafe.String(unsafe.SliceData(d.b), len(d.b))
	d.b = nil
	return s
}

func (r *replay) see(path uint64) {
	if path >= r.maxPath && path != rootPath {
		r.maxPath = path
	}
}

func (r *replay) find(path uint64, k kind) (*node, error) {
	if n := r.last; n != nil && n.path == path {
		return n, nil
	}
	n := r.nodes[path]
	if n == nil || n.kind != k {
		return nil, fmt.Errorf("no file with qid.path %#x", path)
	}
	if k == kStream {
		r.last = n
	}
	return n, nil
}

// record applies one record to the tree.
func (r *replay) record(body []byte) error {
	if r.skip && body[0] != 'E' {
		return nil
	}
	d := &dec{b: body[1:]}
	t := r.t
	switch body[0] {
	case 'G':
		path, parent, ctlPath, orderPath := d.num(), d.num(), d.num(), d.num()
		name, uid, gid, muid := d.str(), d.str(), d.str(), d.str()
		mode, mtime := plan9.Perm(d.num()), d.u32()
		cfg := d.cfg()
		nextSeq, orderVers, vers := d.num(), d.u32(), d.u32()
		// ctl's and order's mtime and muid; a log written before they
		// were kept has the group's.
		ctlMtime, ctlMuid, orderMtime, orderMuid := mtime, muid, mtime, muid
		if len(d.b) > 0 {
			ctlMtime, ctlMuid, orderMtime, orderMuid = d.u32(), d.str(), d.u32(), d.str()
		}
		if d.err != nil {
			return d.err
		}
		var g *node
		if path == rootPath {
			g = t.root
			g.uid, g.gid, g.muid, g.mode = uid, gid, muid, mode
			g.ctl.uid, g.order.uid = uid, uid
			g.ctl.gid, g.order.gid = gid, gid
		} else {
			p, err := r.find(parent, kGroup)
			if err != nil {
				return err
			}
			if p.byName[name] != nil {
				return fmt.Errorf("name %q taken", name)
			}
			g = t.newGroup(p, name, uid, gid, mode, cfg)
			t.nextPath -= 3
			g.path, g.ctl.path, g.order.path = path, ctlPath, orderPath
			g.muid = muid
			p.children = append(p.children, g)
			p.byName[name] = g
			if !r.inCkpt {
				p.vers++
				p.mtime, p.muid = mtime, uid
			}
			r.see(path)
			r.see(ctlPath)
			r.see(orderPath)
		}
		g.q.cfg = cfg
		g.q.path = path
		g.q.nextSeq = max(nextSeq, 1)
		g.q.orderVers, g.vers = orderVers, vers
		g.mtime, g.atime = mtime, mtime
		g.ctl.mtime, g.ctl.atime, g.ctl.muid = ctlMtime, ctlMtime, ctlMuid
		g.order.mtime, g.order.atime, g.order.muid = orderMtime, orderMtime, orderMuid
		r.nodes[path] = g
		r.live += int64(nodeSize(g))
		r.tree += int64(nodeSize(g))
	case 'S':
		path, parent := d.num(), d.num()
		name, uid, gid, muid := d.str(), d.str(), d.str(), d.str()
		mode, mtime, vers := plan9.Perm(d.num()), d.u32(), d.u32()
		if d.err != nil {
			return d.err
		}
		p, err := r.find(parent, kGroup)
		if err != nil {
			return err
		}
		if p.byName[name] != nil {
			return fmt.Errorf("name %q taken", name)
		}
		n := t.newNode(p, kStream, name, uid, gid, mode)
		t.nextPath--
		n.path, n.muid, n.mtime, n.atime = path, muid, mtime, mtime
		n.sq = p.q.newStream()
		n.sq.path, n.sq.node, n.sq.vers = path, n, vers
		p.children = append(p.children, n)
		p.byName[name] = n
		if !r.inCkpt {
			p.vers++
			p.mtime, p.muid = mtime, uid
		}
		r.nodes[path] = n
		r.see(path)
		r.live += int64(nodeSize(n))
		r.tree += int64(nodeSize(n))
	case 'W', 'M', 'A':
		path, seq := d.num(), d.num()
		var mtime uint32
		var name string
		if body[0] == 'W' {
			mtime = d.u32()
		} else {
			name = d.str()
		}
		if d.err != nil {
			return d.err
		}
		n, err := r.find(path, kStream)
		if err != nil {
			return err
		}
		data := d.rest()
		q := n.parent.q
		if body[0] == 'W' {
			n.mtime, n.parent.order.mtime = mtime, mtime
			n.parent.order.muid = n.muid
			n.sq.vers++
			q.orderVers++
		}
		if name == "" {
			name = n.name
		}
		if body[0] == 'A' && q.tail != nil && seq <= q.tail.seq && r.lookup(q, seq) != nil {
			break // read in an older segment: found through the index, not a walk
		}
		var h *restoreHint
		if q.tail != nil && seq <= q.tail.seq {
			h = r.hint(q, n.sq, seq) // not at the end
		}
		m := q.restore(n.sq, seq, name, data, h)
		if m == nil {
			break // carried forward, and read in an older segment
		}
		if idx := r.bySeq[q]; idx != nil {
			idx[seq] = m
		}
		if m != q.tail {
			r.placed(q, n.sq, m)
		}
		if body[0] != 'A' {
			r.cur.add(q, seq, m.gprev)
		} else if r.carried[q] == nil {
			r.carried[q] = m
		}
		r.live += msgSize(len(data))
	case 'F':
		path, lo, hi := d.num(), d.num(), d.num()
		if d.err != nil {
			return d.err
		}
		g, err := r.find(path, kGroup)
		if err != nil {
			return err
		}
		q := g.q
		var after *message
		if m := r.carried[q]; m != nil && !m.gone {
			after = m.gprev
		}
		delete(r.carried, q)
		r.cur.carry(q, lo, hi, after)
	case 'U':
		path, uid := d.num(), d.str()
		if d.err != nil {
			return d.err
		}
		n, err := r.find(path, kStream)
		if err != nil {
			return err
		}
		n.muid = uid
	case 'V':
		path, mtime := d.num(), d.u32()
		if d.err != nil {
			return d.err
		}
		n, err := r.find(path, kStream)
		if err != nil {
			return err
		}
		n.mtime, n.parent.order.mtime = mtime, mtime
		n.parent.order.muid = n.muid
		n.sq.vers++
		q := n.parent.q
		q.orderVers++
		q.nextSeq++
	case 'R':
		path, mtime := d.num(), d.u32()
		muid, kept := "", len(d.b) > 0 // who removed it
		if kept {
			muid = d.str()
		}
		if d.err != nil {
			return d.err
		}
		n := r.nodes[path]
		if n == nil || n.parent == nil {
			return fmt.Errorf("no file with qid.path %#x", path)
		}
		if n.kind == kStream {
			for m := n.sq.head; m != nil; m = m.snext {
				r.live -= msgSize(len(m.data))
			}
		}
		g := n.parent
		if !kept {
			muid = g.muid
		}
		if err := t.remove(n, muid); err != nil {
			return err
		}
		g.mtime = mtime
		delete(r.nodes, path)
		r.last = nil
		r.live -= int64(nodeSize(n))
		r.tree -= int64(nodeSize(n))
	case 'T':
		path, name, mode, mtime, gid := d.num(), d.str(), plan9.Perm(d.num()), d.u32(), d.str()
		if d.err != nil {
			return d.err
		}
		n := r.nodes[path]
		if n == nil {
			return fmt.Errorf("no file with qid.path %#x", path)
		}
		if name != n.name && n.parent != nil {
			g := n.parent
			if g.byName[name] != nil {
				return fmt.Errorf("name %q taken", name)
			}
			delete(g.byName, n.name)
			n.name = name
			g.byName[name] = n
			g.vers++
		}
		n.mode, n.mtime, n.gid = mode, mtime, gid
		if n.kind == kGroup {
			n.ctl.gid, n.order.gid = gid, gid
		}
	case 'C':
		path := d.num()
		cfg := d.cfg()
		var mtime uint32
		var muid string
		kept := len(d.b) > 0 // the ctl write's mtime and muid
		if kept {
			mtime, muid = d.u32(), d.str()
		}
		if d.err != nil {
			return d.err
		}
		g, err := r.find(path, kGroup)
		if err != nil {
			return err
		}
		g.q.cfg = cfg
		if kept {
			g.ctl.mtime, g.ctl.atime, g.ctl.muid = mtime, mtime, muid
		}
	case 'H', 'D':
		path, seq := d.num(), d.num()
		if d.err != nil {
			return d.err
		}
		g, err := r.find(path, kGroup)
		if err != nil {
			return err
		}
		q := g.q
		if body[0] == 'H' {
			for q.head != nil && q.head.seq <= seq {
				r.live -= msgSize(len(q.head.data))
				r.forget(q, q.head)
				q.drop(q.head, false)
			}
			break
		}
		if m := r.lookup(q, seq); m != nil {
			r.live -= msgSize(len(m.data))
			r.forget(q, m)
			q.drop(m, false)
		}
	case 'X':
		n := d.num()
		if d.err != nil {
			return d.err
		}
		r.gone = max(r.gone, n)
	case 'P':
		p := d.num()
		if d.err != nil {
			return d.err
		}
		r.see(p - 1)
	case 'K':
		if r.first {
			r.inCkpt = true // the first record read back: the tree is empty
		} else {
			r.skip = true // the state it records is already built
		}
	case 'E':
		r.inCkpt, r.skip = false, false
	default:
		return fmt.Errorf("unknown record type %q", body[0])
	}
	return nil
}

// lookup finds the message with seq in q: near the head, where drops
// mostly are, else through an index made for the purpose.
func (r *replay) lookup(q *queue, seq uint64) *message {
	i := 0
	for m := q.head; m != nil && m.seq <= seq; m = m.gnext {
		if m.seq == seq {
			return m
		}
		if i++; i == 64 {
			break
		}
	}
	if r.bySeq == nil {
		r.bySeq = make(map[*queue]map[uint64]*message)
	}
	idx := r.bySeq[q]
	if idx == nil {
		idx = make(map[uint64]*message)
		for m := q.head; m != nil; m = m.gnext {
			idx[m.seq] = m
		}
		r.bySeq[q] = idx
	}
	return idx[seq]
}

// hint is where restore may start looking for the place of q's message
// seq of stream s: after the message before it, if the index has it,
// or after the last one put in the middle of q and of s. Messages
// carried forward come in runs of ascending seq, so that is mostly a
// step or two before the place.
func (r *replay) hint(q *queue, s *streamq, seq uint64) *restoreHint {
	h := &r.h
	h.g, h.s = r.midG[q], r.midS[s]
	if p := r.bySeq[q][seq-1]; p != nil && !p.gone {
		h.g = p
	}
	return h
}

// placed notes that m went into the middle of q's history and of s's.
func (r *replay) placed(q *queue, s *streamq, m *message) {
	if r.midG == nil {
		r.midG, r.midS = make(map[*queue]*message), make(map[*streamq]*message)
	}
	r.midG[q], r.midS[s] = m, m
}

func (r *replay) forget(q *queue, m *message) {
	if idx := r.bySeq[q]; idx != nil {
		delete(idx, m.seq)
	}
}

// finish ends the replay: groups under replay off come back empty
// (SPEC §11.2); qid.paths go on above every one seen; messages in
// segments mostly gone are copied out, so that the segments' memory
// can go.
func (r *replay) finish() {
	t := r.t
	t.nextPath = max(t.nextPath, r.maxPath+1)
	r.bySeq, r.midG, r.midS, r.h.g, r.h.s = nil, nil, nil, nil, nil
	var walk func(g *node)
	type use struct {
		lo, hi uintptr
		live   int
	}
	uses := make([]use, len(r.bufs))
	for i, b := range r.bufs {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		uses[i] = use{lo: p, hi: p + uintptr(len(b))}
	}
	which := func(s string) int {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		for i := range uses {
			if p >= uses[i].lo && p < uses[i].hi {
				return i
			}
		}
		return -1
	}
	var groups []*node
	walk = func(g *node) {
		groups = append(groups, g)
		for _, c := range g.children {
			if c.kind == kGroup {
				walk(c)
			}
		}
	}
	walk(t.root)
	for _, g := range groups {
		q := g.q
		if q.cfg.replay == replayOff {
			for q.head != nil {
				r.live -= msgSize(len(q.head.data))
				q.drop(q.head, false)
			}
			continue
		}
		for m := q.head; m != nil; m = m.gnext {
			if len(m.data) == 0 {
				continue
			}
			if i := which(m.data); i >= 0 {
				uses[i].live += len(m.data)
			}
		}
	}
	for _, g := range groups {
		for m := g.q.head; m != nil; m = m.gnext {
			if len(m.data) == 0 {
				continue
			}
			if i := which(m.data); i >= 0 && uses[i].live < (len(r.bufs[i])*4/5) {
				m.data = strings.Clone(m.data)
			}
		}
	}
	var keep []segMap
	for _, sm := range r.maps {
		i := which(unsafe.String(unsafe.SliceData(sm.b), len(sm.b)))
		if i >= 0 && uses[i].live < len(sm.b)*4/5 {
			unmap(sm.b) // nothing points into it now
		} else {
			keep = append(keep, sm)
		}
	}
	r.maps = keep
	r.bufs = nil
}

// unmapSegments copies out the messages that point into the mapped
// segments up to num, which are being deleted, and unmaps them,
// so that their disk space is freed.
func (l *dlog) unmapSegments(num uint64) {
	var gone, keep []segMap
	l.mu.Lock()
	for _, sm := range l.maps {
		if sm.num <= num {
			gone = append(gone, sm)
		} else {
			keep = append(keep, sm)
		}
	}
	l.maps = keep
	l.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	in := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		for _, sm := range gone {
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(sm.b)))
			if p >= lo && p < lo+uintptr(len(sm.b)) {
				return true
			}
		}
		return false
	}
	t := l.t
	t.mu.Lock()
	var walk func(g *node)
	walk = func(g *node) {
		for m := g.q.head; m != nil; m = m.gnext {
			if len(m.data) > 0 && in(m.data) {
				m.data = strings.Clone(m.data)
			}
		}
		for _, c := range g.children {
			if c.kind == kGroup {
				walk(c)
			}
		}
	}
	walk(t.root)
	t.mu.Unlock()
	for _, sm := range gone {
		unmap(sm.b)
	}
}
