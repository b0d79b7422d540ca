package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// held is an output that takes writes only when let, and checks that
// the spool in front of it never holds more than its bound.
type held struct {
	s    **spool
	let  chan struct{}
	name string

	mu  *sync.Mutex
	got *[]string
	t   *testing.T
}

func (h held) Write(b []byte) (int, error) {
	<-h.let
	s := *h.s
	s.mu.Lock()
	if s.size > s.max {
		h.t.Errorf("spool holds %d bytes, bound %d", s.size, s.max)
	}
	s.mu.Unlock()
	h.mu.Lock()
	*h.got = append(*h.got, h.name+":"+string(b))
	h.mu.Unlock()
	return len(b), nil
}

// The spool passes writes on in the order made, across both streams,
// while it holds no more than its bound (SPEC §11.6).
func TestSpoolOrderAndBound(t *testing.T) {
	var s *spool
	var mu sync.Mutex
	var got []string
	let := make(chan struct{})
	out := [2]held{{&s, let, "fd1", &mu, &got, t}, {&s, let, "fd2", &mu, &got, t}}
	s = newSpool([2]io.Writer{out[0], out[1]}, 100)
	w := s.writers()
	var want []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			line := fmt.Sprintf("%d %s\n", i, bytes.Repeat([]byte("x"), i%40))
			w[i%2].Write([]byte(line))
		}
	}()
	for i := 0; i < 200; i++ {
		line := fmt.Sprintf("%d %s\n", i, bytes.Repeat([]byte("x"), i%40))
		want = append(want, []string{"fd1", "fd2"}[i%2]+":"+line)
		let <- struct{}{}
	}
	<-done
	s.close()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("passed on (-want +got):\n%s", diff)
	}
}

// refusing is a stream that refuses some writes with err, as mq does
// on a full disk or at its -M cap, and records those it takes.
type refusing struct {
	name   string
	refuse func(call int) error // nil: take the write
	calls  *int
	mu     *sync.Mutex
	got    *[]string
}

func (r refusing) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.calls++
	if err := r.refuse(*r.calls); err != nil {
		return 0, err
	}
	*r.got = append(*r.got, fmt.Sprintf("%s:%d:%c", r.name, len(b), b[0]))
	return len(b), nil
}

// A write the service refuses is kept and tried again, in its place,
// until it is taken: nothing is lost, nothing is passed on twice, not
// even the messages of a large write that went before the refusal;
// only a stream that is gone drops what was for it (SPEC §11.6).
func TestSpoolRetry(t *testing.T) {
	noSpace := errors.New("no buffer space")
	tests := []struct {
		name   string
		refuse func(call int) error
		want   []string
	}{
		{"taken", func(int) error { return nil },
			[]string{"fd1:8192:a", "fd1:8192:b", "fd1:10:c", "fd2:3:d", "fd1:2:e"}},
		// The second message of the first write is refused three
		// times; the first was taken and is not sent again.
		{"refused", func(call int) error {
			if call >= 2 && call <= 4 {
				return noSpace
			}
			return nil
		}, []string{"fd1:8192:a", "fd1:8192:b", "fd1:10:c", "fd2:3:d", "fd1:2:e"}},
		{"i/o error", func(call int) error {
			if call == 1 || call == 5 {
				return errors.New("input/output error")
			}
			return nil
		}, []string{"fd1:8192:a", "fd1:8192:b", "fd1:10:c", "fd2:3:d", "fd1:2:e"}},
		// A write to a stream that is gone is dropped whole.
		{"removed", func(call int) error {
			if call == 1 {
				return errors.New("file has been removed")
			}
			return nil
		}, []string{"fd2:3:d", "fd1:2:e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			calls := 0
			out := [2]io.Writer{
				msgWriter{refusing{"fd1", tt.refuse, &calls, &mu, &got}},
				msgWriter{refusing{"fd2", tt.refuse, &calls, &mu, &got}},
			}
			s := startSpool(out, 1<<20, time.Millisecond)
			w := s.writers()
			big := append(append(bytes.Repeat([]byte("a"), msgMax), bytes.Repeat([]byte("b"), msgMax)...), bytes.Repeat([]byte("c"), 10)...)
			w[0].Write(big)
			w[1].Write([]byte("ddd"))
			w[0].Write([]byte("ee"))
			s.close()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("passed on (-want +got):\n%s", diff)
			}
		})
	}
}
