package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"9fans.net/go/plan9"
)

// lockDir opens the lock file of a log directory, made DMEXCL: the file
// server lets one open it at a time.
func lockDir(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil && os.IsNotExist(err) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, os.ModeExclusive|0600)
		if err != nil && os.IsExist(err) {
			f, err = os.OpenFile(path, os.O_RDWR, 0) // another made it first
		}
	}
	if err != nil {
		e := err.Error()
		if strings.Contains(e, "excl") || strings.Contains(e, "in use") || strings.Contains(e, "locked") {
			return nil, fmt.Errorf("%s: in use by another mq", path)
		}
		return nil, fmt.Errorf("%s: %v", path, sysError(err))
	}
	return f, nil
}

// reserve: Plan 9 has no way to reserve room.
func reserve(f *os.File, off, n int64) error { return errNoReserve }

// syncFile asks the file server to put f on stable storage: a wstat
// that changes nothing (stat(5)).
func syncFile(f *os.File) error {
	var d plan9.Dir
	d.Null()
	b, err := d.Bytes()
	if err != nil {
		return err
	}
	return syscall.Fwstat(int(f.Fd()), b)
}

func readSegment(path string) (*segReader, error) { return readSegmentCopy(path) }

func unmap(b []byte) {}
