package main

// The segments of the log of mq -r: room reserved ahead, a new
// segment started with a checkpoint, messages carried forward and dead
// segments deleted (SPEC §11.3, §11.4); see the top of disk.go.

import (
	"errors"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"time"
)

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
// segment (see the top of disk.go).
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
	for m := range sg.live() {
		n += msgSize(len(m.data))
	}
	return n
}

// dead says whether every message whose newest record is in sg has
// left its group.
func (l *dlog) dead(sg segInfo) bool {
	for range sg.live() {
		return false
	}
	return true
}

// live yields the messages whose newest record is in sg and that are
// still in their group's history.
func (sg *segInfo) live() iter.Seq[*message] {
	return func(yield func(*message) bool) {
		for q, r := range sg.spans {
			if q.removed {
				continue
			}
			for _, sp := range r {
				for m := seek(q, sp); m != nil && m.seq <= sp.hi; m = m.gnext {
					if m.logged && !yield(m) {
						return
					}
				}
			}
		}
	}
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
