package main

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A callTaker takes the calls the write filter (seccomp_linux.go)
// hands over, in a goroutine of its own. A write to one of the
// program's ends that one datagram cannot take is queued for the
// output queue's loop, which passes it on in its place among the
// datagrams; any other call goes on at once, so that writes to other
// files never wait on the session's output.
type callTaker struct {
	fd     int           // the listener
	limit  int           // the longest write one datagram takes
	inodes [2]uint64     // of the program's ends
	ready  int           // an eventfd, readable once calls are queued
	stop   int           // an eventfd: written, the goroutine ends
	ended  chan struct{} // closed when it has
	hungUp bool          // no process is left under the filter; set before ended is closed

	mu    sync.Mutex
	calls []*call // guarded by mu
}

// A call is a write to the program's output, waiting to be passed on.
type call struct {
	id    uint64
	pid   int
	spans []span // the data, in the caller's memory
	total int64
	to    int // 0 or 1: the program's standard output or error
}

// A span is a piece of a caller's memory.
type span struct{ base, len uint64 }

// chunk is how much of a long write is read from the caller at a
// time: a whole number of messages.
const chunk = 128 * msgMax

// maxWrite is the most one write(2) takes on Linux (MAX_RW_COUNT): it
// returns that count for a longer one.
var maxWrite = int64(1<<31-1) &^ int64(os.Getpagesize()-1)

// one is written to an eventfd: nonzero in either byte order.
var one = []byte{1, 0, 0, 0, 0, 0, 0, 0}

func takeCalls(fd, limit int, inodes [2]uint64) (*callTaker, error) {
	ready, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ready)
		return nil, err
	}
	c := &callTaker{fd: fd, limit: limit, inodes: inodes, ready: ready, stop: stop, ended: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *callTaker) run() {
	defer close(c.ended)
	for {
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}, {Fd: int32(c.stop), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		switch r := fds[0].Revents; {
		case fds[1].Revents != 0:
			return
		case r&unix.POLLIN != 0:
			if n, err := receive(c.fd); err == nil {
				c.sort(n)
			}
		case r != 0:
			c.hungUp = true
			return
		}
	}
}

// sort queues call n if it is a write for the program's output too
// long for a datagram, and lets it go on if not.
func (c *callTaker) sort(n *seccompNotif) {
	w := c.parse(n)
	if w == nil {
		answer(c.fd, n.id, 0, true)
		return
	}
	c.mu.Lock()
	c.calls = append(c.calls, w)
	c.mu.Unlock()
	unix.Write(c.ready, one)
}

// take returns the calls queued.
func (c *callTaker) take() []*call {
	var b [8]byte
	unix.Read(c.ready, b[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.calls
	c.calls = nil
	return w
}

// end stops taking calls and returns those still queued.
func (c *callTaker) end() []*call {
	unix.Write(c.stop, one)
	<-c.ended
	w := c.take()
	unix.Close(c.ready)
	unix.Close(c.stop)
	return w
}

// parse makes call n, a write, writev or pwritev2 on fd 1 or 2 of a
// process under the filter, a call to pass on; nil if it is short
// enough for a datagram, not to the program's output, or its vector
// cannot be read or would be refused.
func (c *callTaker) parse(n *seccompNotif) *call {
	w := &call{id: n.id, pid: int(n.pid), to: -1}
	a := n.data.args
	switch n.data.nr {
	case unix.SYS_WRITE:
		w.spans = []span{{a[1], a[2]}}
	case unix.SYS_PWRITEV2:
		// A socket takes only the current offset, -1, and the
		// flags are the kernel's to judge.
		if !noOffset(a[3], a[4]) || a[5] != 0 {
			return nil
		}
		fallthrough
	case unix.SYS_WRITEV:
		w.spans = iovecs(w.pid, a[1], a[2])
	}
	for _, s := range w.spans {
		w.total = min(w.total+int64(min(s.len, uint64(maxWrite))), maxWrite)
	}
	if w.total <= int64(c.limit) {
		return nil
	}
	// Checked after the data is read (valid): the pid is the
	// caller's until then.
	w.to = c.stream(w.pid, int(int32(a[0])))
	if w.to < 0 {
		return nil
	}
	return w
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
		if int(v.Len) < 0 { // as ssize_t: refused
			return nil
		}
		spans[i] = span{uint64(uintptr(unsafe.Pointer(v.Base))), uint64(v.Len)}
	}
	return spans
}

// stream is which of the program's ends, 0 or 1, fd of process pid
// is; -1 if neither.
func (c *callTaker) stream(pid, fd int) int {
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
	if err != nil {
		return -1
	}
	for i, ino := range c.inodes {
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
