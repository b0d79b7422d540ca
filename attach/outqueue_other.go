//go:build !plan9 && !linux

package main

import (
	"os"
	"path/filepath"
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
