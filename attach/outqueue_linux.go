package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// queueAddrs names the queue's sockets in the abstract name space: no
// file to remove, and the name is free again once the last process
// holding the socket has closed it.
func queueAddrs() (recv string, send [2]string, err error) {
	tag := fmt.Sprintf("@attach.%d.%s.", syscall.Getpid(), rand.Text())
	return tag + "q", [2]string{tag + "1", tag + "2"}, nil
}

func unlinkAddrs(string, [2]string) {}

// forceSendBuffer sets the send buffer past the system's limit, which
// needs CAP_NET_ADMIN.
func forceSendBuffer(fd, n int) bool {
	if os.Getenv(testQueueEnv) == "small" {
		// As for a user on a stock kernel: net.core.wmem_max.
		return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 212992) == nil
	}
	return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, n) == nil
}

// held says whether a process still holds one of the program's ends:
// while one does, its address cannot be bound again.
func (q *outQueue) held() bool {
	for _, a := range q.addrs {
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return false
		}
		err = syscall.Bind(fd, &syscall.SockaddrUnix{Name: a})
		syscall.Close(fd)
		if err == syscall.EADDRINUSE {
			return true
		}
	}
	return false
}

// run passes each datagram to out[0] or out[1], as its sender was the
// program's standard output or error, and each write the filter hands
// over (calls_linux.go) likewise, in the order they were made, until
// the program has exited (exited is closed) and the queue is empty;
// then it closes the queue and done. Programs it left running keep
// their output passed on for outputGrace at most.
//
// One loop passes both on: a write the filter hands over goes once
// every datagram queued before it has, and its caller waits until then.
func (q *outQueue) run(out [2]io.Writer, exited <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer q.close()
	var sock int
	if raw, err := q.conn.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { sock = int(fd) }) // open until q.close
	}
	var calls *callTaker
	ready := -1
	if q.notify >= 0 {
		var err error
		if calls, err = takeCalls(q.notify, q.limit, q.inodes); err == nil {
			ready = calls.ready
		} else {
			// The calls go on as without the filter.
			linger(q.notify)
			q.notify = -1
		}
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		wake = -1
	} else {
		defer unix.Close(wake)
	}
	// Run reads of wake only what this wrote: closed(exited) alone
	// could end it before this writes, to a closed descriptor.
	woken := make(chan struct{})
	go func() {
		<-exited
		if wake >= 0 {
			unix.Write(wake, one)
		}
		close(woken)
	}()
	defer func() { <-woken }()
	var end time.Time // once the program has exited: when leftovers stop
	for {
		fds := []unix.PollFd{
			{Fd: int32(sock), Events: unix.POLLIN},
			{Fd: int32(ready), Events: unix.POLLIN},
			{Fd: int32(wake), Events: unix.POLLIN},
		}
		timeout := -1
		switch {
		case !end.IsZero():
			timeout = int(drainPoll / time.Millisecond)
			fds[2].Fd = -1
		case wake < 0:
			timeout = int(drainPoll / time.Millisecond)
		}
		n, err := unix.Poll(fds, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break // not expected: the descriptors are ours
		}
		if fds[2].Revents != 0 || wake < 0 && end.IsZero() && closed(woken) {
			end = time.Now().Add(outputGrace)
		}
		if fds[0].Revents != 0 {
			q.drain(out)
		}
		if fds[1].Revents != 0 {
			for _, c := range calls.take() {
				q.pass(c, out)
			}
		}
		// All the program wrote is queued by now: a poll that finds
		// nothing for drainPoll has emptied the queue.
		if n == 0 && !end.IsZero() && (!q.held() || time.Now().After(end)) {
			break
		}
	}
	if calls != nil {
		for _, c := range calls.end() {
			q.pass(c, out)
		}
		if !calls.hungUp {
			linger(q.notify)
			q.notify = -1
		}
	}
}

// drain passes on every datagram queued, without waiting.
func (q *outQueue) drain(out [2]io.Writer) {
	var sock int
	if raw, err := q.conn.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { sock = int(fd) })
	}
	for {
		n, from, err := unix.Recvfrom(sock, q.buf, unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // EAGAIN: empty
		}
		u, ok := from.(*unix.SockaddrUnix)
		for i, a := range q.addrs {
			// Anything else that sends here is not the program.
			if ok && u.Name == a && n > 0 {
				// out is a spool's: it takes the write, waiting
				// for room if it must, and passes it on (SPEC §11.6).
				out[i].Write(q.buf[:n])
			}
		}
	}
}

// pass passes on the data of call c, after the datagrams queued before
// it, and answers it with the count. If the caller's memory cannot be
// read, the call goes on as without the filter (and fails, or not, on
// its own); if only its start can, the count is of that.
func (q *outQueue) pass(c *call, out [2]io.Writer) {
	q.drain(out)
	if q.chunk == nil {
		q.chunk = make([]byte, chunk)
	}
	var n int64
	for n < c.total {
		k := min(int64(len(q.chunk)), c.total-n)
		got := readMem(c.pid, c.spans, n, q.chunk[:k])
		// What was read is the caller's only if it still waits.
		if got == 0 || !valid(q.notify, c.id) {
			break
		}
		out[c.to].Write(q.chunk[:got])
		n += int64(got)
		if int64(got) < k {
			break
		}
	}
	answer(q.notify, c.id, n, n == 0)
}
