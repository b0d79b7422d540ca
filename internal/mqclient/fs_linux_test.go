package mqclient

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// On Linux a file opened for reading through the name space has
// O_NONBLOCK, so that v9fs sends one Tread per read (SPEC §6.2, §9);
// one opened for writing does not.
func TestNameSpaceNonblock(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "s"), []byte("hello"), 0666); err != nil {
		t.Fatal(err)
	}
	fs := NameSpace(root)
	for _, tt := range []struct {
		mode uint8
		want bool
	}{{plan9.OREAD, true}, {plan9.OWRITE, false}, {plan9.ORDWR, false}} {
		f, err := fs.Open("s", tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		var flags int
		var ferr error
		sc, err := f.(interface {
			SyscallConn() (syscall.RawConn, error)
		}).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		sc.Control(func(fd uintptr) {
			flags, ferr = fcntlGetfl(int(fd))
		})
		if ferr != nil {
			t.Fatal(ferr)
		}
		if got := flags&syscall.O_NONBLOCK != 0; got != tt.want {
			t.Errorf("mode %d: O_NONBLOCK %v, want %v", tt.mode, got, tt.want)
		}
		if tt.mode == plan9.OREAD {
			b := make([]byte, 100)
			if n, err := f.Read(b); err != nil || string(b[:n]) != "hello" {
				t.Errorf("read %q, %v; want hello", b[:n], err)
			}
			if fs.Gone(f, "s") {
				t.Errorf("Gone of an open stream still there")
			}
		}
		f.Close()
	}
}

func fcntlGetfl(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// A read that finds nothing yet (EAGAIN) waits, longer each time up to
// a limit, and tries again; it never spins.
func TestReadAgain(t *testing.T) {
	again := 9
	read := func(p []byte) (int, error) {
		if again > 0 {
			again--
			return 0, &os.PathError{Op: "read", Path: "s", Err: syscall.EAGAIN}
		}
		return copy(p, "hello"), nil
	}
	var waits []time.Duration
	b := make([]byte, 10)
	n, err := readAgain(read, b, func(d time.Duration) { waits = append(waits, d) })
	if err != nil || string(b[:n]) != "hello" {
		t.Fatalf("readAgain: %q, %v", b[:n], err)
	}
	ms := time.Millisecond
	want := []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms, 16 * ms, 32 * ms, 64 * ms, 64 * ms, 64 * ms}
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}
