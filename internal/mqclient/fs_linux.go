package mqclient

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// openRead opens name for reading with O_NONBLOCK. Linux's 9P client
// (v9fs) then sends one Tread for each read(2) and returns what it
// brings, as Plan 9's mount driver does. Without it, v9fs sends Treads
// until the read's whole buffer is full, which on a message stream
// joins messages and waits for ones that may never come. Opened by
// os.OpenFile the flag would not stay: the runtime clears it on files
// it cannot poll, as v9fs files are.
func openRead(name string) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// reader is f, opened by openRead, as a File that waits for data when
// a read finds none.
func reader(f *os.File) File { return nbFile{f} }

// nbFile is a file opened with O_NONBLOCK that the runtime may not be
// able to poll.
type nbFile struct{ *os.File }

func (f nbFile) osFile() *os.File { return f.File }

func (f nbFile) Read(p []byte) (int, error) { return readAgain(f.File.Read, p, time.Sleep) }

// maxAgain is the longest readAgain waits before it tries again.
const maxAgain = 64 * time.Millisecond

// readAgain reads p, and when there is nothing to read yet (EAGAIN)
// waits and tries again, a millisecond at first and twice as long each
// time after, up to maxAgain: a file that cannot be polled is not
// read in a busy loop. v9fs answers each read with its Tread's reply
// and so never says EAGAIN; another file system might.
func readAgain(read func([]byte) (int, error), p []byte, sleep func(time.Duration)) (int, error) {
	wait := time.Millisecond
	for {
		n, err := read(p)
		if n > 0 || !errors.Is(err, syscall.EAGAIN) {
			return n, err
		}
		sleep(wait)
		wait = min(2*wait, maxAgain)
	}
}
