package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// writerEnv, set in its environment, makes the test binary a program
// that writes a short message to its standard error, then a long one,
// in one write, to its standard output.
const writerEnv = "ATTACH_TEST_WRITER"

func TestMain(m *testing.M) {
	// startProgram runs the launcher as /proc/self/exe: this binary.
	if len(os.Args) > 1 && os.Args[1] == launcherArg {
		launchMain(os.Args[2:])
	}
	if os.Getenv(writerEnv) != "" {
		syscall.Write(2, []byte("short"))
		_, err := syscall.Write(1, longData())
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func longData() []byte { return bytes.Repeat([]byte("0123456789abcdef"), 1<<16) }

// A piece is one write passed on by an outQueue.
type piece struct {
	To   int
	Data string
}

// recorder takes pieces, in the order passed on, for stream to.
type recorder struct {
	to     int
	pieces *[]piece
}

func (r recorder) Write(b []byte) (int, error) {
	*r.pieces = append(*r.pieces, piece{r.to, string(b)})
	return len(b), nil
}

// A write the filter hands over comes after every datagram its
// program sent before it, even when both wait for the supervisor
// at once (SPEC §10).
func TestQueueCallAfterDatagrams(t *testing.T) {
	t.Setenv(testQueueEnv, "small")
	q, err := newOutQueue()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd, notify, err := startProgram(func() *exec.Cmd {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), writerEnv+"=1", "GORACE=atexit_sleep_ms=0")
		cmd.Stdout, cmd.Stderr = q.files[0], q.files[1]
		return cmd
	}, q.limit)
	q.closeSenders()
	if err != nil {
		q.close()
		t.Fatal(err)
	}
	if notify < 0 {
		cmd.Wait()
		q.close()
		t.Skip("the system refuses the filter")
	}
	q.notify = notify
	// The queue runs once the long write waits, the short one
	// queued before it.
	for {
		fds := []unix.PollFd{{Fd: int32(notify), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			break
		}
	}
	var got []piece
	exited, done := make(chan struct{}), make(chan struct{})
	go q.run([2]io.Writer{recorder{0, &got}, recorder{1, &got}}, exited, done)
	err = cmd.Wait()
	close(exited)
	<-done
	if err != nil {
		t.Errorf("the program: %v; want its long write taken whole", err)
	}
	want := []piece{{1, "short"}, {0, string(longData())}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pieces passed on (-want +got):\n%.2000s", diff)
	}
}
