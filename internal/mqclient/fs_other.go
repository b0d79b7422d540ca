//go:build !linux

package mqclient

import "os"

// openRead opens name for reading. Only Linux's 9P client needs more
// (see fs_linux.go): Plan 9's mount driver and 9pfuse send one Tread
// for each read.
func openRead(name string) (*os.File, error) { return os.Open(name) }

func reader(f *os.File) File { return nsFile(f) }
