package main

import (
	"errors"
	"os"
	"syscall"
)

// reserve allocates n bytes of f from off without changing its size,
// so that writing them later cannot run out of space.
func reserve(f *os.File, off, n int64) error {
	const keepSize = 1 // FALLOC_FL_KEEP_SIZE
	for {
		err := syscall.Fallocate(int(f.Fd()), keepSize, off, n)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			return errNoReserve
		}
		return err
	}
}

// syncFile puts f's data on stable storage.
func syncFile(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
