//go:build !plan9

package mqclient

import "os"

// iounit is not told on Unix mounts.
func iounit(f *os.File) int { return 0 }
