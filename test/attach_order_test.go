//go:build !plan9

package test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// A message is one message of a session's group: its stream and data.
type message struct {
	stream string
	data   string
}

// sessionMessages reads, over 9P, the messages of session id's fd0,
// fd1, fd2 and winsize in the order the group's order file lists them, up to
// the program's exit status.
func sessionMessages(t *testing.T, s *mqServer, id string) []message {
	t.Helper()
	fs := s.attach(t, owner(t), "")
	files := map[string]*client.Fid{}
	names := []string{"fd0", "fd1", "fd2", "status", "order"}
	if _, err := fs.Stat(id + "/winsize"); err == nil {
		names = append(names, "winsize")
	}
	for _, name := range names {
		f, err := fs.Open(id+"/"+name, plan9.OREAD)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[name] = f
	}
	var msgs []message
	buf := make([]byte, 64<<10)
	for {
		n, err := files["order"].Read(buf)
		if err != nil || n == 0 {
			t.Fatalf("reading %s/order after %d messages: %d, %v", id, len(msgs), n, err)
		}
		name := strings.TrimSuffix(string(buf[:n]), "\n")
		if name == "status" {
			return msgs
		}
		if n, err = files[name].Read(buf); err != nil {
			t.Fatalf("reading %s/%s: %v", id, name, err)
		}
		msgs = append(msgs, message{name, string(buf[:n])})
	}
}

// sameMessages reports the first difference between two lists of
// messages, which may be too long for a diff.
func sameMessages(t *testing.T, got, want []message) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("message %d of %d is %s %q, want %s %q", i, len(want), got[i].stream, got[i].data, want[i].stream, want[i].data)
			return
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d messages, want %d", len(got), len(want))
	}
}

// A program alternating between its standard output and error at full
// speed: each write is one message, in order across both streams
// (SPEC §10).
func TestAttachWriteOrder(t *testing.T) {
	pairs := 100000
	if testing.Short() {
		pairs = 10000
	}
	s := startMQ(t)
	attachOK(t, s, "-c", "alt", "sh", "-c",
		fmt.Sprintf("i=1; while [ $i -le %d ]; do echo out$i; echo err$i >&2; i=$((i+1)); done", pairs))
	var want []message
	for i := 1; i <= pairs; i++ {
		want = append(want, message{"fd1", fmt.Sprintf("out%d\n", i)}, message{"fd2", fmt.Sprintf("err%d\n", i)})
	}
	sameMessages(t, sessionMessages(t, s, "alt"), want)
}

// A single write of 1M goes through whole, and comes out in messages of
// at most 8192 bytes one after another (SPEC §10, §6.2).
func TestAttachBigWrite(t *testing.T) {
	s := startMQ(t)
	attachOK(t, s, "-c", "big", "sh", "-c", "echo before; dd if=/dev/zero bs=1048576 count=1 status=none; echo dd $? >&2")
	msgs := sessionMessages(t, s, "big")
	if len(msgs) < 3 || msgs[0] != (message{"fd1", "before\n"}) || msgs[len(msgs)-1] != (message{"fd2", "dd 0\n"}) {
		t.Fatalf("messages start %q, end %q; want before, the data, dd 0", msgs[0], msgs[len(msgs)-1])
	}
	var data bytes.Buffer
	for _, m := range msgs[1 : len(msgs)-1] {
		if m.stream != "fd1" || len(m.data) > 8192 {
			t.Fatalf("a message of %d bytes on %s among the data", len(m.data), m.stream)
		}
		data.WriteString(m.data)
	}
	if !bytes.Equal(data.Bytes(), make([]byte, 1<<20)) {
		t.Errorf("the data is %d bytes, not 1M of zeros", data.Len())
	}
}

// writersEnv, set in its environment, makes the test binary the
// program of TestAttachManyWriters: writers goroutines, each making
// writes writes, alternately to standard output and error.
const writersEnv = "MQTEST_WRITERS"

const writers, writes = 16, 1000

// writerLine is write i of writer w: long enough to be torn by a
// queue that could tear writes.
func writerLine(w, i int) string {
	return fmt.Sprintf("w%d.%d %s\n", w, i, strings.Repeat(strconv.Itoa(w%10), 100+(w*writes+i)%3000))
}

func runWriters() {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			// Straight to the system: os.File would take turns.
			for i := range writes {
				if _, err := syscall.Write(1+i%2, []byte(writerLine(w, i))); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
}

// Many threads of a program writing at once: every write is one whole
// message, none lost, each thread's in the order it wrote them
// (SPEC §10).
func TestAttachManyWriters(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := startMQ(t)
	attachOK(t, s, "-c", "many", "env", writersEnv+"=1", "GORACE=atexit_sleep_ms=0", self)
	next := make([]int, writers)
	for _, m := range sessionMessages(t, s, "many") {
		var w, i int
		if _, err := fmt.Sscanf(m.data, "w%d.%d ", &w, &i); err != nil || w < 0 || w >= writers {
			t.Fatalf("message %q on %s is not one write", m.data, m.stream)
		}
		stream := []string{"fd1", "fd2"}[i%2]
		if i != next[w] || m.data != writerLine(w, i) || m.stream != stream {
			t.Fatalf("message %s %.20q…: want write %d of writer %d on %s", m.stream, m.data, next[w], w, stream)
		}
		next[w]++
	}
	for w, n := range next {
		if n != writes {
			t.Errorf("writer %d: %d messages, want %d", w, n, writes)
		}
	}
}

// Input: each write to fd0 is one message, and reaches the program
// (SPEC §10).
func TestAttachInputMessages(t *testing.T) {
	s := startMQ(t)
	attachOK(t, s, "-c", "in", "sh", "-c", "read a; read b; echo got $a $b")
	attachOK(t, s, "-w", "in", "one", "two")
	if out, code := runProc(t, s.ns, "three\n", bin("attach"), "-s", s.name, "-w", "in"); code != 0 {
		t.Fatalf("attach -w in <text: exit %d: %s", code, out)
	}
	want := []message{{"fd0", "one two\n"}, {"fd0", "three\n"}, {"fd1", "got one two three\n"}}
	sameMessages(t, sessionMessages(t, s, "in"), want)
}
