//go:build !plan9

package test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// hostile are malformed messages, each sent after a Tversion on a
// connection of its own (SPEC §8.9).
var hostile = []struct {
	name string
	msg  []byte
}{
	{"size 0", sized(0)},
	{"size 6", sized(6, 100, 0)},
	{"size over msize", sized(9000, make([]byte, 8996)...)},
	{"size 4G", sized(0xffffffff)},
	{"unknown type", sized(7, 99, 1, 0)},
	{"Terror", sized(7, plan9.Terror, 1, 0)},
	{"R-message", sized(7, plan9.Rclunk, 1, 0)},
	{"truncated Twalk", sized(11, plan9.Twalk, 1, 0, 0, 0, 0, 0)},
	{"Twalk of 17 names", sized(17, plan9.Twalk, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 17, 0)},
	{"Twrite count past end", sized(23, plan9.Twrite, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0)},
	{"Twstat stat past end", sized(13, plan9.Twstat, 1, 0, 0, 0, 0, 0, 9, 0)},
	{"trailing bytes", sized(12, plan9.Tclunk, 1, 0, 0, 0, 0, 0, 9)},
	{"string past end", sized(13, plan9.Tversion, 1, 0, 0, 32, 0, 0, 50, 0)},
	{"bad stat in Twstat", sized(15, plan9.Twstat, 1, 0, 0, 0, 0, 0, 2, 0, 7, 7)}, // Rerror, then hang up
}

// sized is a message: its size field, then rest.
func sized(n uint32, rest ...byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, n), rest...)
}

// sendHostile sends the Tversion and msg on a connection of its own to
// s, and then nothing more, and reads until the server hangs up.
func sendHostile(t *testing.T, s *mqServer, msg []byte) {
	t.Helper()
	c, err := net.Dial("unix", s.socket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := plan9.WriteFcall(c, &plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.Write(msg) // the server may hang up before taking it all
		c.(*net.UnixConn).CloseWrite()
	}()
	io.Copy(io.Discard, c)
}

// Without -D nothing a client sends makes mq write to standard error,
// and a malformed message closes only its own connection (SPEC §8.9).
func TestHostileSilent(t *testing.T) {
	s := startMQ(t)
	fs := s.attach(t, owner(t), "")
	for _, h := range hostile {
		sendHostile(t, s, h.msg)
		if _, err := fs.Stat("/"); err != nil {
			t.Fatalf("after %s: another client's stat: %v", h.name, err)
		}
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
	if got := s.stderr.String(); got != "" {
		t.Errorf("standard error of mq without -D:\n%s", got)
	}
}

// A client that opens connections until mq runs out of file
// descriptors stops it accepting only while they stay open: once they
// close, it serves new clients again, and says nothing (SPEC §8.8,
// §8.9). It stopped accepting for good at the first failed accept.
func TestOutOfDescriptors(t *testing.T) {
	ns := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", `ulimit -n 64 && exec "$0" -s mq`, bin("mq"))
	cmd.Env = env(ns)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sock := filepath.Join(ns, "mq")
	waitDial(t, sock)
	var cs []net.Conn
	for range 200 {
		c, err := net.Dial("unix", sock)
		if err != nil {
			break
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		c.Close()
	}
	served := make(chan error, 1)
	go func() {
		c, err := client.Dial("unix", sock)
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		fs, err := c.Attach(nil, owner(t), "")
		if err == nil {
			_, err = fs.Stat("/")
		}
		served <- err
	}()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("a client after %d connections came and went: %v", len(cs), err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("after %d connections came and went under ulimit -n 64, mq serves no new client", len(cs))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if got := stderr.String(); got != "" {
		t.Errorf("standard error of mq without -D:\n%s", got)
	}
}

// With -D, a standard error that nobody reads holds up no client: the
// trace lines that cannot be written are dropped and counted, and one
// line says why each connection closed (SPEC §8.9).
func TestTraceStderrStuck(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() }) // after mq is killed: no SIGPIPE
	s := startMQStderr(t, w, "-D")
	w.Close()
	fs := s.attach(t, owner(t), "")
	g, err := fs.Create("g", plan9.OREAD, plan9.DMDIR|0775)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	wr, err := fs.Create("g/s", plan9.OWRITE, 0664)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := fs.Open("g/s", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	// Each round trip traces four lines of more than 100 bytes: all
	// together many times what a pipe and mq's trace buffer hold.
	msg := strings.Repeat("x", 100)
	buf := make([]byte, 8192)
	for i := range 5000 {
		if _, err := wr.Write([]byte(msg)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if n, err := rd.Read(buf); err != nil || string(buf[:n]) != msg {
			t.Fatalf("read %d: %q, %v", i, buf[:n], err)
		}
	}
	// Now read the trace: the count of lines dropped is there, and
	// once there is room, the trace goes on, with the reason a
	// malformed message's connection closed.
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	dropped := regexp.MustCompile(`^mq: [0-9]+ trace lines dropped$`)
	for l := range lines {
		if dropped.MatchString(l) {
			break
		}
	}
	// The trace may still be full of what waited: a line counting
	// more lines dropped after the malformed message was sent may
	// count its own, and then it is sent again.
	closed := regexp.MustCompile(`^mq: connection [0-9]+ closed: malformed Twalk: truncated$`)
	for {
		sendHostile(t, s, hostile[7].msg)
	scan:
		for {
			l, ok := <-lines
			switch {
			case !ok:
				t.Fatal("trace ended without saying why the connection closed")
			case closed.MatchString(l):
				return
			case dropped.MatchString(l):
				break scan
			}
		}
	}
}
