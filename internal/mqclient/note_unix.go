//go:build !plan9

package mqclient

import "os"

// nsFile is f: Go makes interrupted reads again on Unix itself.
func nsFile(f *os.File) File { return f }
