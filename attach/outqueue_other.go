//go:build !plan9 && !linux

package main

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// queueAddrs names the queue's sockets in a private directory. They
// are removed once bound and connected (unlinkAddrs): the connected
// senders need no name to send, and nothing else can reach the queue.
func queueAddrs() (recv string, send [2]string, err error) {
	dir, err := os.MkdirTemp("", "attach")
	if err != nil {
		return "", send, err
	}
	return filepath.Join(dir, "q"), [2]string{filepath.Join(dir, "1"), filepath.Join(dir, "2")}, nil
}

func unlinkAddrs(recv string, send [2]string) {
	for _, a := range append(send[:], recv) {
		os.Remove(a)
	}
	os.Remove(filepath.Dir(recv))
}

func forceSendBuffer(fd, n int) bool { return false }

// held cannot tell here whether processes the program left running
// hold its output: the queue ends once drained.
func (q *outQueue) held() bool { return false }

// startProgram starts the program that newCmd makes: only Linux has
// a filter for writes longer than a datagram.
func startProgram(newCmd func() *exec.Cmd, limit int) (*exec.Cmd, int, error) {
	cmd := newCmd()
	return cmd, -1, cmd.Start()
}

// run passes each datagram to out[0] or out[1], as its sender was the
// program's standard output or error, until the program has exited
// (exited is closed) and the queue is empty, then closes the queue
// and done. Programs it left running keep their output passed on for
// outputGrace at most.
func (q *outQueue) run(out [2]io.Writer, exited <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer q.close()
	go func() {
		<-exited
		q.conn.SetReadDeadline(time.Now()) // wake the read below
	}()
	for q.pass(out) || !closed(exited) {
	}
	// All the program wrote is queued by now: a read that finds
	// nothing for drainPoll has emptied the queue.
	end := time.Now().Add(outputGrace)
	for {
		q.conn.SetReadDeadline(time.Now().Add(drainPoll))
		if !q.pass(out) && (!q.held() || time.Now().After(end)) {
			return
		}
	}
}

// pass passes on one datagram; it is false when the read ends in error
// (the deadline).
func (q *outQueue) pass(out [2]io.Writer) bool {
	n, from, err := q.conn.ReadFromUnix(q.buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		// Not expected from a bound socket of our own; stop
		// rather than spin.
		time.Sleep(drainPoll)
		return false
	}
	for i, a := range q.addrs {
		// Anything else that sends here is not the program.
		if from != nil && from.Name == a && n > 0 {
			// out is a spool's: it takes the write, waiting
			// for room if it must, and passes it on (SPEC §11.6).
			out[i].Write(q.buf[:n])
		}
	}
	return true
}
