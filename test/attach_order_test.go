//go:build !plan9

package test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
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

// bigWriteEnv, set in its environment, makes the test binary the
// program of TestAttachBigWrite: it finds the largest write its
// standard output takes (SO_SNDBUF less 32 on Linux) and says it on
// standard error, then makes a write of that size on standard output,
// then one a byte larger, and says how that one ended.
const bigWriteEnv = "MQTEST_BIGWRITE"

func runBigWrite() {
	buf, err := syscall.GetsockoptInt(1, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	if err != nil {
		panic(err)
	}
	limit := buf - 32
	fmt.Fprintf(os.Stderr, "limit %d\n", limit)
	if _, err := syscall.Write(1, bytes.Repeat([]byte("b"), limit)); err != nil {
		fmt.Fprintf(os.Stderr, "at the limit: %v\n", err)
	}
	_, err = syscall.Write(1, bytes.Repeat([]byte("o"), limit+1))
	fmt.Fprintf(os.Stderr, "over: %v\n", err)
}

// A single write as large as the program's output takes goes through
// whole, and comes out in messages of at most 8192 bytes one after
// another (SPEC §10, §6.2). The largest is what the supervisor's
// datagram socket allows, SO_SNDBUF less 32 (416K less 32 on a stock
// Linux, more if net.core.wmem_max was raised, 4M at most): a write a
// byte larger fails whole with EMSGSIZE, and nothing of it is passed
// on (man/1/attach, BUGS).
func TestAttachBigWrite(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the datagram limit is Linux's")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := startMQ(t)
	attachOK(t, s, "-c", "big", "env", bigWriteEnv+"=1", self)
	msgs := sessionMessages(t, s, "big")
	if len(msgs) < 3 || msgs[0].stream != "fd2" || !strings.HasPrefix(msgs[0].data, "limit ") {
		t.Fatalf("%d messages, the first %q; want the limit, the data, how the larger write ended", len(msgs), msgs[0])
	}
	limit, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(msgs[0].data, "limit ")))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the program's largest write: %d bytes", limit)
	if limit < 400<<10 || limit > 4<<20 {
		t.Errorf("largest write %d bytes, want 400K (a stock kernel's) to 4M", limit)
	}
	var data bytes.Buffer
	for _, m := range msgs[1 : len(msgs)-1] {
		if m.stream != "fd1" || len(m.data) > 8192 {
			t.Fatalf("a message of %d bytes on %s among the data: %.40q", len(m.data), m.stream, m.data)
		}
		data.WriteString(m.data)
	}
	if !bytes.Equal(data.Bytes(), bytes.Repeat([]byte("b"), limit)) {
		t.Errorf("the data is %d bytes, not the %d b's written", data.Len(), limit)
	}
	if got, want := msgs[len(msgs)-1], (message{"fd2", "over: message too long\n"}); got != want {
		t.Errorf("the write a byte over the limit: %q, want %q", got, want)
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
