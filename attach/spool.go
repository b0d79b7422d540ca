package main

import (
	"io"
	"strings"
	"sync"
	"time"

	"mq/internal/mqclient"
)

// spoolMax is how many bytes of the program's output a supervisor
// holds while it cannot pass them on (its service is down, SPEC
// §11.6). Beyond it the supervisor stops taking output, and the
// program blocks in write as on a full pipe.
const spoolMax = 4 << 20

// Retrying a write the service refused waits retryMin at first, then
// twice as long each time, up to retryMax.
const (
	retryMin = 10 * time.Millisecond
	retryMax = time.Second
)

// A spool passes writes to its streams in the order they came, from a
// goroutine of its own, holding up to max bytes while a write to the
// service waits (for the service to come back) or is refused (a full
// or failing disk, mq's -M cap: SPEC §11.6). A refused write is tried
// again, after a pause, until it is taken or its stream is gone; what
// came after it waits behind it. A write that would take the spool
// past max waits for room; one larger than max waits for the spool to
// empty.
type spool struct {
	out   [2]io.Writer
	max   int
	pause time.Duration // the first pause before a write is tried again
	done  chan struct{} // closed when closed and empty

	mu     sync.Mutex // guards q, size and closed
	more   *sync.Cond // signalled when q, size or closed change
	q      []spooled
	size   int
	closed bool
}

type spooled struct {
	to   int // index into out
	data []byte
}

func newSpool(out [2]io.Writer, max int) *spool {
	return startSpool(out, max, retryMin)
}

// startSpool is newSpool with the first pause before a refused write
// is tried again.
func startSpool(out [2]io.Writer, max int, pause time.Duration) *spool {
	s := &spool{out: out, max: max, pause: pause, done: make(chan struct{})}
	s.more = sync.NewCond(&s.mu)
	go s.run()
	return s
}

// writers are the spool's two streams, as writers.
func (s *spool) writers() [2]io.Writer {
	return [2]io.Writer{spoolWriter{s, 0}, spoolWriter{s, 1}}
}

type spoolWriter struct {
	s  *spool
	to int
}

func (w spoolWriter) Write(b []byte) (int, error) {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.size > 0 && s.size+len(b) > s.max && !s.closed {
		s.more.Wait()
	}
	if s.closed {
		return len(b), nil
	}
	s.q = append(s.q, spooled{w.to, append([]byte(nil), b...)})
	s.size += len(b)
	s.more.Broadcast()
	return len(b), nil
}

func (s *spool) run() {
	defer close(s.done)
	pause := s.pause
	for {
		s.mu.Lock()
		for len(s.q) == 0 && !s.closed {
			s.more.Wait()
		}
		if len(s.q) == 0 {
			s.mu.Unlock()
			return
		}
		e := s.q[0]
		s.mu.Unlock()
		// A writer of messages may have passed on some of them
		// before it was refused: those n bytes are done, and only
		// the rest is tried again.
		n, err := s.out[e.to].Write(e.data)
		refused := err != nil && n < len(e.data) && !gone(err)
		s.mu.Lock()
		if refused {
			s.q[0].data = e.data[n:]
		} else {
			// Passed on, or its stream is gone: the program
			// carries on.
			s.q[0] = spooled{}
			s.q = s.q[1:]
			n = len(e.data)
		}
		s.size -= n
		s.more.Broadcast()
		s.mu.Unlock()
		if !refused {
			pause = s.pause
			continue
		}
		time.Sleep(pause)
		pause = min(2*pause, retryMax)
	}
}

// gone says whether err, from a write to a stream, means the stream
// (or the session, or a service that is not started again) is gone, so
// that what was for it can only be dropped.
func gone(err error) bool {
	return mqclient.IsNotExist(err) || strings.Contains(err.Error(), "file has been removed")
}

// close waits until all that was written to the spool is passed on.
// What is written after is dropped.
func (s *spool) close() {
	s.mu.Lock()
	s.closed = true
	s.more.Broadcast()
	s.mu.Unlock()
	<-s.done
}
