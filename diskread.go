package main

// Reading the log of mq -r back at start (SPEC §11.5): see the format
// at the top of disk.go.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"unsafe"

	"9fans.net/go/plan9"
)

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

var errShortHeader = errors.New("short header")

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
		r.nodes[path], r.nodes[ctlPath], r.nodes[orderPath] = g, g.ctl, g.order
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
		if n.kind == kGroup {
			delete(r.nodes, n.ctl.path)
			delete(r.nodes, n.order.path)
		}
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
