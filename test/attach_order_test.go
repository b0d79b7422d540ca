//go:build !plan9

package test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"golang.org/x/sys/unix"
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
// program of TestAttachBigWrite: it says on standard error the longest
// write one datagram of its standard output takes (SO_SNDBUF less 32
// on Linux), then makes the calls bigCalls lists, each once, and exits
// 0 if each took all it was given.
const bigWriteEnv = "MQTEST_BIGWRITE"

// A bigCall is a write(2), writev(2) or pwritev2(2) of the program of
// TestAttachBigWrite.
type bigCall struct {
	name  string // the system call; "dup2 write" makes fd 2 fd 1's first
	fd    int
	sizes []int // its length, or its vector's lengths
}

// bigCalls are the calls for a datagram limit of limit bytes.
func bigCalls(limit int) []bigCall {
	return []bigCall{
		{"write", 1, []int{limit}}, // the longest one datagram takes
		{"write", 2, []int{3}},
		{"write", 1, []int{limit + 1}},
		{"write", 2, []int{3}},
		{"write", 1, []int{1 << 20}},
		{"write", 2, []int{3}},
		{"write", 1, []int{16 << 20}},
		{"writev", 2, []int{2, 1}}, // short: a datagram as usual
		{"writev", 1, []int{3 << 20, 5, 2 << 20}},
		{"write", 2, []int{3}},
		{"pwritev2", 1, []int{1 << 20, 1 << 20}},
		{"write", 2, []int{1 << 20}},
		{"dup2 write", 2, []int{2 << 20}}, // as 2>&1 does: to fd1
	}
}

// bigData is the data of call i of the program, n bytes: no two
// pieces of it alike, so that a piece out of place shows.
func bigData(i, n int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), uint64(n)))
	b := make([]byte, n+8)
	for j := 0; j < n; j += 8 {
		binary.LittleEndian.PutUint64(b[j:], r.Uint64())
	}
	return b[:n]
}

func runBigWrite() {
	buf, err := syscall.GetsockoptInt(1, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	if err != nil {
		panic(err)
	}
	limit := buf - 32
	fmt.Fprintf(os.Stderr, "limit %d\n", limit)
	code := 0
	for i, c := range bigCalls(limit) {
		data := bigData(i, sum(c.sizes))
		var vec [][]byte
		for _, n := range c.sizes {
			vec, data = append(vec, data[:n]), data[n:]
		}
		var n int
		switch c.name {
		case "write":
			n, err = syscall.Write(c.fd, vec[0])
		case "writev":
			n, err = unix.Writev(c.fd, vec)
		case "pwritev2":
			n, err = unix.Pwritev2(c.fd, vec, -1, 0)
		case "dup2 write":
			if err = syscall.Dup2(1, 2); err == nil {
				n, err = syscall.Write(c.fd, vec[0])
			}
		}
		if n != sum(c.sizes) || err != nil {
			// Seen in the test's comparison of the messages.
			fmt.Fprintf(os.Stderr, "call %d, %s of %d bytes: %d, %v\n", i, c.name, sum(c.sizes), n, err)
			code = 1
		}
	}
	os.Exit(code)
}

func sum(s []int) int {
	n := 0
	for _, v := range s {
		n += v
	}
	return n
}

// sessionStatus is session id's exit status.
func sessionStatus(t *testing.T, s *mqServer, id string) string {
	t.Helper()
	fs := s.attach(t, owner(t), "")
	f, err := fs.Open(id+"/status", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 100)
	n, err := f.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(buf[:n]))
}

// A single write, writev or pwritev2 of any length goes through whole,
// and comes out in messages of at most 8192 bytes one after another,
// in order with the program's other writes (SPEC §10, §6.2): one
// datagram takes a write up to the limit of its socket's send buffer
// (SO_SNDBUF less 32: 4M less 32 with CAP_NET_ADMIN, 425952 bytes for a
// user on a stock Linux, which "small" makes it), and a seccomp filter brings
// the longer ones to the supervisor, which passes them on itself. The
// writer is the session's program, or in "small" a child of it, as
// the filter passes to children.
func TestAttachBigWrite(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the datagram limit, and the filter for longer writes, are Linux's")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, queue string
		argv        []string
	}{
		{"default", "", []string{"env", bigWriteEnv + "=1", "GORACE=atexit_sleep_ms=0", self}},
		{"small", "small", []string{"sh", "-c", "env " + bigWriteEnv + "=1 GORACE=atexit_sleep_ms=0 " + self + "; exit $?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ATTACH_TEST_QUEUE", tc.queue) // read by the supervisor
			s := startMQ(t)
			attachOK(t, s, append([]string{"-c", "big"}, tc.argv...)...)
			msgs := sessionMessages(t, s, "big")
			if len(msgs) == 0 || msgs[0].stream != "fd2" || !strings.HasPrefix(msgs[0].data, "limit ") {
				t.Fatalf("%d messages, the first %.40q; want the limit first", len(msgs), msgs)
			}
			limit, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(msgs[0].data, "limit ")))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("the longest write one datagram takes: %d bytes", limit)
			if tc.queue == "small" && limit != 425952 {
				t.Errorf("limit %d bytes, want a stock kernel's 425952", limit)
			}
			want := msgs[:1]
			for i, c := range bigCalls(limit) {
				stream := fmt.Sprintf("fd%d", c.fd)
				if c.name == "dup2 write" {
					stream = "fd1"
				}
				data := bigData(i, sum(c.sizes))
				for len(data) > 0 {
					n := min(len(data), 8192)
					want, data = append(want, message{stream, string(data[:n])}), data[n:]
				}
			}
			sameMessages(t, msgs, want)
			if st := sessionStatus(t, s, "big"); st != "0" {
				t.Errorf("the program's status is %s, want 0: a call did not take all it was given", st)
			}
		})
	}
}

// A program the system refuses the filter for (as ATTACH_TEST_QUEUE=
// nofilter makes it) runs as it would without: unfiltered, and a write
// longer than a datagram fails in it with EMSGSIZE, passing nothing on
// (SPEC §10; man/1/attach, BUGS).
func TestAttachBigWriteNoFilter(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux's")
	}
	t.Setenv("ATTACH_TEST_QUEUE", "nofilter")
	s := startMQ(t)
	// Longer than any datagram Linux takes.
	attachOK(t, s, "-c", "big", "sh", "-c", "grep '^Seccomp:' /proc/self/status; dd if=/dev/zero bs=5000000 count=1 status=none; echo $? >&2")
	msgs := sessionMessages(t, s, "big")
	for _, m := range msgs[1:] {
		if m.stream != "fd2" {
			t.Fatalf("messages %.80q; want nothing of dd's on fd1", msgs)
		}
	}
	if len(msgs) < 2 || msgs[0] != (message{"fd1", "Seccomp:\t0\n"}) || msgs[len(msgs)-1].data == "0\n" {
		t.Errorf("messages %.80q; want no filter on fd1, then dd's failure on fd2", msgs)
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

// A process the program left running, still under the filter once its
// supervisor has gone, writes as it would without it: a write longer
// than a datagram to a file of its own on fd 1 takes it all (SPEC §10;
// man/1/attach).
func TestAttachBigWriteLeftover(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux's")
	}
	t.Setenv("ATTACH_TEST_QUEUE", "small")
	dir := t.TempDir()
	out, rc := dir+"/out", dir+"/rc"
	s := startMQ(t)
	// It waits for the supervisor, its shell's parent, to exit.
	attachOK(t, s, "-c", "left", "sh", "-c", fmt.Sprintf(`(
		while [ -d /proc/$PPID ] && ! grep -q '^State:.*Z' /proc/$PPID/status; do sleep 0.05; done
		dd if=/dev/zero of=%s bs=1000000 count=1 status=none; echo $? >%s.new; mv %s.new %s
	) </dev/null >/dev/null 2>&1 &`, out, rc, rc, rc))
	var b []byte
	for i := 0; ; i++ {
		var err error
		if b, err = os.ReadFile(rc); err == nil {
			break
		}
		if i == 600 {
			t.Fatal("the leftover process did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "0\n" || st.Size() != 1000000 {
		t.Errorf("dd: status %q, %d bytes written; want 0 and 1000000", b, st.Size())
	}
}
