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

// syncDir makes a rename in dir stable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
