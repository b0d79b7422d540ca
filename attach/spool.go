package main

import (
	"io"
	"sync"
)

// spoolMax is how many bytes of the program's output a supervisor
// holds while it cannot pass them on (its service is down, SPEC
// §11.6). Beyond it the supervisor stops taking output, and the
// program blocks in write as on a full pipe.
const spoolMax = 4 << 20

// A spool passes writes to its streams in the order they came, from a
// goroutine of its own, holding up to max bytes while a write to the
// service waits (for the service to come back). A write that would
// take it past max waits for room; one larger than max waits for the
// spool to empty.
type spool struct {
	out  [2]io.Writer
	max  int
	done chan struct{} // closed when closed and empty

	mu     sync.Mutex
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
	s := &spool{out: out, max: max, done: make(chan struct{})}
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
		// A failed write (the session removed) drops the data; the
		// program carries on.
		s.out[e.to].Write(e.data)
		s.mu.Lock()
		s.q[0] = spooled{}
		s.q = s.q[1:]
		s.size -= len(e.data)
		s.more.Broadcast()
		s.mu.Unlock()
	}
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
