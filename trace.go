package main

// The -D trace: lines are queued as requests are handled, under the
// tree's lock, and written by a goroutine of their own, so that a slow
// or blocked standard error delays only the trace (SPEC §8.9).

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// maxTrace bounds the bytes of trace lines waiting to be written.
// Lines that do not fit are dropped, and counted in a line of their own
// once there is room again.
const maxTrace = 256 << 10

// tracer writes -D trace lines to w.
type tracer struct {
	w io.Writer

	// mu guards buf, dropped and writing: the lines waiting, and
	// whether they are being written. It is never held while writing.
	mu      sync.Mutex
	more    *sync.Cond // signalled when lines come
	idle    *sync.Cond // broadcast when a write ends
	buf     []byte
	dropped int
	writing bool
}

func newTracer(w io.Writer) *tracer {
	t := &tracer{w: w}
	t.more = sync.NewCond(&t.mu)
	t.idle = sync.NewCond(&t.mu)
	go t.writer()
	return t
}

// printf queues a line, or drops it if too many are waiting.
func (t *tracer) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf)+len(line) > maxTrace {
		t.dropped++
		return
	}
	t.noteDropped()
	t.buf = append(t.buf, line...)
	t.more.Signal()
}

// noteDropped queues a line counting the lines dropped since the last,
// in their place: after the lines queued before them.
func (t *tracer) noteDropped() {
	if t.dropped > 0 {
		t.buf = fmt.Appendf(t.buf, "mq: %d trace lines dropped\n", t.dropped)
		t.dropped = 0
	}
}

// writer writes the lines queued, many at a time.
func (t *tracer) writer() {
	var out []byte
	t.mu.Lock()
	for {
		for len(t.buf) == 0 && t.dropped == 0 {
			t.more.Wait()
		}
		t.noteDropped()
		out, t.buf = t.buf, out[:0]
		t.writing = true
		t.mu.Unlock()
		t.w.Write(out) // a trace that cannot be written is lost
		if cap(out) > maxTrace {
			out = nil
		}
		t.mu.Lock()
		t.writing = false
		t.idle.Broadcast()
	}
}

// flush waits until the lines queued so far are written, or until
// timeout has passed (0: no limit), and says whether they were.
func (t *tracer) flush(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		t.mu.Lock()
		for len(t.buf) > 0 || t.dropped > 0 || t.writing {
			t.idle.Wait()
		}
		t.mu.Unlock()
		close(done)
	}()
	if timeout == 0 {
		<-done
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}
