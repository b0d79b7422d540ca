package main

import (
	"crypto/rand"
	"fmt"
	"syscall"
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
