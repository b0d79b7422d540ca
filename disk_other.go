//go:build !linux && !plan9

package main

import "os"

// reserve: only Linux has a portable way to reserve room.
func reserve(f *os.File, off, n int64) error { return errNoReserve }

// syncFile puts f on stable storage.
func syncFile(f *os.File) error { return f.Sync() }
