package main

// Writing the log of mq -r out, and the replies that wait for it
// (SPEC §11.3).

import (
	"fmt"
	"time"
)

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
