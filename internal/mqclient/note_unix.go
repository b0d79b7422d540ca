//go:build !plan9

package mqclient

import "os"

// nsFile is f: Go makes interrupted reads again on Unix itself.
func nsFile(f *os.File) File { return f }

// OSFile is the open file of the name space behind f, or nil.
func OSFile(f File) *os.File {
	of, _ := f.(*os.File)
	return of
}
