package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"

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
// over (seccomp_linux.go) likewise, in the order they were made, until
// the program has exited (exited is closed) and the queue is empty;
// then it closes the queue and done. Programs it left running keep
// their output passed on for outputGrace at most.
//
// One loop takes both: a call the filter hands over is passed on once
// every datagram queued before it is, and its caller waits until then.
func (q *outQueue) run(out [2]io.Writer, exited <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer q.close()
	var sock int
	if raw, err := q.conn.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { sock = int(fd) }) // open until q.close
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
			unix.Write(wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}
		close(woken)
	}()
	defer func() { <-woken }()
	var end time.Time // once the program has exited: when leftovers stop
	for {
		fds := []unix.PollFd{
			{Fd: int32(sock), Events: unix.POLLIN},
			{Fd: int32(q.notify), Events: unix.POLLIN},
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
			return // not expected: the descriptors are ours
		}
		if fds[2].Revents != 0 || wake < 0 && end.IsZero() && closed(woken) {
			end = time.Now().Add(outputGrace)
		}
		if fds[0].Revents != 0 {
			q.drain(out)
		}
		switch r := fds[1].Revents; {
		case r&unix.POLLIN != 0:
			q.notified(out)
		case r != 0:
			// No process is left under the filter.
			unix.Close(q.notify)
			q.notify = -1
		}
		// All the program wrote is queued by now: a poll that finds
		// nothing for drainPoll has emptied the queue.
		if n == 0 && !end.IsZero() && (!q.held() || time.Now().After(end)) {
			break
		}
	}
	if q.notify >= 0 {
		linger(q.notify)
		q.notify = -1
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
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

// notified takes the call the filter handed over and answers it.
func (q *outQueue) notified(out [2]io.Writer) {
	c, err := receive(q.notify)
	if err != nil {
		return // its caller is gone
	}
	n, ok := q.serve(c, out)
	answer(q.notify, c.id, n, !ok)
}

// maxWrite is the most one write(2) takes on Linux (MAX_RW_COUNT); it
// returns that count for a longer one.
var maxWrite = int64(1<<31-1) &^ int64(os.Getpagesize()-1)

// A span is a piece of the caller's memory.
type span struct{ base, len uint64 }

// chunk is how much of a large write is read from the caller at a
// time: a whole number of messages.
const chunk = 128 * msgMax

// serve passes on the data of call c, a write, writev or pwritev2 on fd
// 1 or 2 of a process under the filter, if it is to one of the
// program's ends and too long for a datagram, and says how many bytes
// it passed on. It is false if the call is to go on as without the
// filter: not the program's output, short enough, or the caller's
// memory could not be read (the call then fails or not on its own).
func (q *outQueue) serve(c *seccompNotif, out [2]io.Writer) (int64, bool) {
	pid, a := int(c.pid), c.data.args
	var spans []span
	switch c.data.nr {
	case unix.SYS_WRITE:
		spans = []span{{a[1], a[2]}}
	case unix.SYS_PWRITEV2:
		// A socket takes only the current offset, -1, and the
		// flags are the kernel's to judge.
		if !noOffset(a[3], a[4]) || a[5] != 0 {
			return 0, false
		}
		fallthrough
	case unix.SYS_WRITEV:
		spans = iovecs(pid, a[1], a[2])
	}
	var total int64
	for _, s := range spans {
		if s.len > uint64(maxWrite) {
			s.len = uint64(maxWrite)
		}
		total = min(total+int64(s.len), maxWrite)
	}
	if total <= int64(q.limit) {
		return 0, false
	}
	to := q.stream(pid, int(int32(a[0])))
	if to < 0 {
		return 0, false
	}
	q.drain(out) // what the program wrote before this goes first
	if q.chunk == nil {
		q.chunk = make([]byte, chunk)
	}
	var n int64
	for n < total {
		k := min(int64(len(q.chunk)), total-n)
		got := readMem(pid, spans, n, q.chunk[:k])
		// What was read is the caller's only if it still waits.
		if got == 0 || !valid(q.notify, c.id) {
			break
		}
		out[to].Write(q.chunk[:got])
		n += int64(got)
		if int64(got) < k {
			break // the rest cannot be read: a short write
		}
	}
	return n, n > 0
}

// noOffset says whether a pwritev2 offset, in its two halves, is -1.
func noOffset(lo, hi uint64) bool {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		return lo == ^uint64(0)
	}
	return uint32(lo) == ^uint32(0) && uint32(hi) == ^uint32(0)
}

// iovecs reads a writev's vector of cnt iovecs at addr in process pid;
// nil if it cannot, or the kernel would refuse it.
func iovecs(pid int, addr, cnt uint64) []span {
	if cnt == 0 || cnt > 1024 {
		return nil
	}
	iov := make([]unix.Iovec, cnt)
	size := int(unsafe.Sizeof(iov[0]))
	b := unsafe.Slice((*byte)(unsafe.Pointer(&iov[0])), len(iov)*size)
	if readMem(pid, []span{{addr, uint64(len(b))}}, 0, b) < len(b) {
		return nil
	}
	spans := make([]span, len(iov))
	for i, v := range iov {
		spans[i] = span{uint64(uintptr(unsafe.Pointer(v.Base))), uint64(v.Len)}
		if int64(spans[i].len) < 0 {
			return nil
		}
	}
	return spans
}

// stream is which of the program's ends, 0 or 1, fd of process pid
// is; -1 if neither.
func (q *outQueue) stream(pid, fd int) int {
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
	if err != nil {
		return -1
	}
	for i, ino := range q.inodes {
		if link == fmt.Sprintf("socket:[%d]", ino) {
			return i
		}
	}
	return -1
}

// readMem reads len(dst) bytes from process pid, from offset off of
// the memory spans lists, and says how many it read.
func readMem(pid int, spans []span, off int64, dst []byte) int {
	got := 0
	for got < len(dst) {
		remote := pieces(spans, off+int64(got), len(dst)-got)
		local := []unix.Iovec{{Base: &dst[got]}}
		local[0].SetLen(len(dst) - got)
		n, err := unix.ProcessVMReadv(pid, local, remote, 0)
		if err != nil || n <= 0 {
			break
		}
		got += n
	}
	if got < len(dst) {
		// Without process_vm_readv (EPERM in some containers,
		// ENOSYS without CROSS_MEMORY_ATTACH), /proc may serve.
		got += readProcMem(pid, pieces(spans, off+int64(got), len(dst)-got), dst[got:])
	}
	return got
}

// pieces are the remote pieces of n bytes from offset off of spans.
func pieces(spans []span, off int64, n int) []unix.RemoteIovec {
	var r []unix.RemoteIovec
	for _, s := range spans {
		if n == 0 {
			break
		}
		if uint64(off) >= s.len {
			off -= int64(s.len)
			continue
		}
		k := min(s.len-uint64(off), uint64(n))
		r = append(r, unix.RemoteIovec{Base: uintptr(s.base + uint64(off)), Len: int(k)})
		n -= int(k)
		off = 0
	}
	return r
}

func readProcMem(pid int, remote []unix.RemoteIovec, dst []byte) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	got := 0
	for _, r := range remote {
		n, _ := f.ReadAt(dst[got:got+r.Len], int64(r.Base))
		got += n
		if n < r.Len {
			break
		}
	}
	return got
}
