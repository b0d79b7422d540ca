package main

import (
	"fmt"
	"testing"
)

// Micro-benchmarks of the queue alone (go test -bench Queue -benchmem):
// what one message costs to append, deliver and trim, and its
// allocations. test/bench measures the whole server.

// benchQueue is a queue with one stream, configured by ctl text.
func benchQueue(b *testing.B, cfg string) (*queue, *streamq) {
	q := newQueue(&store{cap: 1 << 40}, config{})
	steps, err := parseCtl(cfg, q.cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, st := range steps {
		q.setConfig(st.cfg)
	}
	return q, q.newStream()
}

var msg64 = string(make([]byte, 64))

func noWait(error) {}

// BenchmarkQueueAppend appends to a stream nobody reads: with replay
// off each message goes at once.
func BenchmarkQueueAppend(b *testing.B) {
	q, s := benchQueue(b, "replay off")
	b.ReportAllocs()
	for b.Loop() {
		q.write(s, "s", msg64, noWait)
	}
}

// BenchmarkQueueRetain appends with replay all and no depth limit: the
// history grows by one message per op, so B/op is what a retained
// message costs: itself, and the copy of its 64-byte payload the queue
// keeps (the caller's is only lent).
func BenchmarkQueueRetain(b *testing.B) {
	q, s := benchQueue(b, "replay all")
	b.ReportAllocs()
	for b.Loop() {
		q.write(s, "s", msg64, noWait)
	}
	if q.count == 0 {
		b.Fatal("nothing retained")
	}
}

// BenchmarkQueueTrim appends to a full history of 1000 messages, so
// each write also drops the oldest.
func BenchmarkQueueTrim(b *testing.B) {
	q, s := benchQueue(b, "replay all\ndepth 1000")
	for range 1000 {
		q.write(s, "s", msg64, noWait)
	}
	b.ReportAllocs()
	for b.Loop() {
		q.write(s, "s", msg64, noWait)
	}
	if q.count != 1000 {
		b.Fatalf("history holds %d messages, want 1000", q.count)
	}
}

// BenchmarkQueueDeliver parks a read on each of n readers and writes
// one message, which every read gets: the cost per op is one write
// and n deliveries.
func BenchmarkQueueDeliver(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprint("readers=", n), func(b *testing.B) {
			q, s := benchQueue(b, "replay off")
			readers := make([]*reader, n)
			for i := range readers {
				readers[i] = q.open(s)
			}
			got := 0
			respond := func(data string, err error) {
				if err != nil || len(data) != len(msg64) {
					b.Fatalf("read: %q, %v", data, err)
				}
				got++
			}
			reqs := make([]readReq, n) // the caller's, as a request is the server's
			b.ReportAllocs()
			for b.Loop() {
				for i, r := range readers {
					reqs[i] = readReq{r: r, count: 64, done: readFunc(respond)}
					q.read(&reqs[i])
				}
				q.write(s, "s", msg64, noWait)
			}
			if got != b.N*n {
				b.Fatalf("%d reads answered, want %d", got, b.N*n)
			}
			if q.count != 0 {
				b.Fatalf("%d messages left after every reader read them", q.count)
			}
		})
	}
}

// BenchmarkQueueCatchUp reads through a long retained history: the
// cost of a read must not depend on how much is retained.
func BenchmarkQueueCatchUp(b *testing.B) {
	for _, h := range []int{1000, 1000000} {
		b.Run(fmt.Sprint("retained=", h), func(b *testing.B) {
			q, s := benchQueue(b, "replay all")
			for range h {
				q.write(s, "s", msg64, noWait)
			}
			r := q.open(s)
			ok := true
			done := readFunc(func(data string, err error) { ok = err == nil && len(data) == 64 })
			var req readReq
			b.ReportAllocs()
			for b.Loop() {
				if r.next == nil { // read it all: start again
					q.close(r, errInterrupted)
					r = q.open(s)
				}
				req = readReq{r: r, count: 64, done: done}
				q.read(&req)
				if !ok {
					b.Fatal("read failed")
				}
			}
		})
	}
}
