//go:build !plan9

package main

import (
	"net"
	"os"
	"syscall"
	"time"
)

// An outQueue carries the program's standard output and error to the
// supervisor in the order it wrote them (SPEC §10). Both descriptors
// are datagram sockets connected to one socket of the supervisor, each
// bound to an address of its own: every write is one datagram, the
// kernel queues the datagrams of both in the order they were written,
// and each one's source address says which descriptor wrote it. Two
// pipes read separately cannot keep that order.
type outQueue struct {
	conn  *net.UnixConn // the supervisor's end
	files [2]*os.File   // the program's standard output and error
	addrs [2]string     // their addresses
	buf   []byte        // holds the largest datagram the senders can send

	// On Linux, the program's writes too long for a datagram come
	// through a seccomp listener (outqueue_linux.go).
	limit  int       // the longest write one datagram takes
	notify int       // the listener, or -1
	inodes [2]uint64 // of the program's ends, to know them in /proc
	chunk  []byte    // holds a piece of such a write
}

// drainPoll is how long a read waits, once the program has exited,
// before the queue counts as empty.
const drainPoll = 10 * time.Millisecond

// maxDatagram is the send buffer asked for. The largest single write
// the program can make is what the buffer comes to less 32 bytes on
// Linux (SO_SNDBUF less 32; a larger one fails whole with EMSGSIZE):
// without CAP_NET_ADMIN the system caps the buffer at twice
// net.core.wmem_max, 416K on a stock kernel. Asking for more than 4M
// gains nothing: Linux cannot give one datagram much more (the write
// fails with ENOBUFS), and the limit would no longer be exact.
const maxDatagram = 4 << 20

func newOutQueue() (*outQueue, error) {
	recv, send, err := queueAddrs()
	if err != nil {
		return nil, err
	}
	defer unlinkAddrs(recv, send)
	q := &outQueue{addrs: send, notify: -1}
	q.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: recv, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	size := 0
	for i, addr := range send {
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
		if err == nil {
			syscall.CloseOnExec(fd)
			q.files[i] = os.NewFile(uintptr(fd), "")
			size, err = raiseSendBuffer(fd)
		}
		var st syscall.Stat_t
		if err == nil {
			err = syscall.Fstat(fd, &st)
			q.inodes[i] = uint64(st.Ino)
		}
		if err == nil {
			err = syscall.Bind(fd, &syscall.SockaddrUnix{Name: addr})
		}
		if err == nil {
			err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: recv})
		}
		if err != nil {
			q.close()
			return nil, err
		}
	}
	q.buf = make([]byte, size)
	q.limit = size - 32 // Linux's overhead; elsewhere unused
	return q, nil
}

// raiseSendBuffer makes the send buffer of socket fd as large as it
// may be, so that large writes still go in one datagram, and returns
// its size.
func raiseSendBuffer(fd int) (int, error) {
	// The kernel doubles what it is asked for.
	if !forceSendBuffer(fd, maxDatagram/2) {
		for n := maxDatagram / 2; n >= 64<<10; n /= 2 {
			if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, n) == nil {
				break
			}
		}
	}
	return syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
}

// closeSenders closes the supervisor's copies of the program's ends.
func (q *outQueue) closeSenders() {
	for i, f := range q.files {
		if f != nil {
			f.Close()
			q.files[i] = nil
		}
	}
}

func (q *outQueue) close() {
	q.closeSenders()
	q.conn.Close()
	if q.notify >= 0 {
		syscall.Close(q.notify)
		q.notify = -1
	}
}

// closed says whether c is closed.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
