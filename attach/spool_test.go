package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

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
