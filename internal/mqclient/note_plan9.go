//go:build plan9

package mqclient

import "os"

// A noteFile is a file of the name space whose reads go on through
// notes. On Plan 9 a note, such as the interrupt a window sends to
// every proc of the program in it, breaks off the system call each
// proc is in: a read then fails with "interrupted", the kernel having
// flushed it, so nothing was read and it can be made again. A program
// that handles the note (attach passes interrupts on) must not take it
// for an error of the file.
type noteFile struct{ *os.File }

func (f noteFile) Read(b []byte) (int, error) {
	for {
		n, err := f.File.Read(b)
		if n > 0 || !Interrupted(err) {
			return n, err
		}
	}
}

func nsFile(f *os.File) File { return noteFile{f} }

func (f noteFile) osFile() *os.File { return f.File }
