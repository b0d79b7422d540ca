//go:build !plan9

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// lockDir takes the lock file of a log directory, or says who has it.
func lockDir(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: in use by another mq", path)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return f, nil
}

// readSegment maps a segment into memory: messages read back point
// into the mapping, and nothing is copied (see unmapSegments).
func readSegment(path string) (*segReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size == 0 || size != int64(int(size)) {
		return readSegmentCopy(path)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return readSegmentCopy(path)
	}
	in := &segReader{b: b, mapped: true, have: len(b), avail: make(chan int)}
	close(in.avail)
	return in, nil
}

func unmap(b []byte) { syscall.Munmap(b) }
