//go:build !plan9

package test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/google/go-cmp/cmp"
)

// The README's scenario, end to end (SPEC §3.2, §5.1, §6.1, §6.3, §7.1):
// a group rc with fd0, fd1, fd2 and replay all; a separate writer
// process writes to fd1 and fd2 in an order of its own; two readers
// that come later see identical histories, and order lists the writes
// exactly.
func TestREADMEScenario(t *testing.T) {
	s := startMQ(t)
	fs := s.attach(t, owner(t), "")
	dir, err := fs.Create("rc", plan9.OREAD, plan9.DMDIR|0775)
	if err != nil {
		t.Fatal(err)
	}
	dir.Close()
	writeFile(t, fs, "rc/ctl", "replay all\n")
	for _, name := range []string{"fd0", "fd1", "fd2"} {
		f, err := fs.Create("rc/"+name, plan9.OWRITE, 0664)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	writes := writerScript(100)
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$")
	cmd.Env = append(env(s.ns), "MQ_WRITER_SOCKET="+s.socket(), "MQ_WRITER_USER="+owner(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writer process: %v\n%s", err, out)
	}

	var wantOrder strings.Builder
	for _, w := range writes {
		fmt.Fprintf(&wantOrder, "%s\n", w.stream)
	}
	histories := make([][]string, 2)
	var wg sync.WaitGroup
	for i := range histories {
		wg.Add(1)
		go func() {
			defer wg.Done()
			histories[i] = readHistory(t, s.attach(t, "reader", ""), len(writes))
		}()
	}
	wg.Wait()
	var want []string
	for _, w := range writes {
		want = append(want, w.stream+": "+w.data)
	}
	for i, h := range histories {
		if diff := cmp.Diff(want, h); diff != "" {
			t.Errorf("reader %d history (-want +got):\n%s", i, diff)
		}
	}
	if got := readStatic(t, fs, "rc/order"); got != wantOrder.String() {
		t.Errorf("order = %q, want %q", got, wantOrder.String())
	}
}

type write struct{ stream, data string }

// writerScript is what the writer process writes: fd1 and fd2 mixed.
func writerScript(n int) []write {
	var ws []write
	for i := 0; i < n; i++ {
		stream := "fd1"
		if i%3 == 2 {
			stream = "fd2"
		}
		ws = append(ws, write{stream, fmt.Sprintf("line %d of %s", i, stream)})
	}
	return ws
}

// TestWriterProcess is the writer process of TestREADMEScenario: it
// runs only when that test starts it.
func TestWriterProcess(t *testing.T) {
	sock := os.Getenv("MQ_WRITER_SOCKET")
	if sock == "" {
		t.Skip("run by TestREADMEScenario")
	}
	c, err := client.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := c.Attach(nil, os.Getenv("MQ_WRITER_USER"), "rc")
	if err != nil {
		t.Fatal(err)
	}
	fids := map[string]*client.Fid{}
	for _, name := range []string{"fd1", "fd2"} {
		if fids[name], err = fs.Open(name, plan9.OWRITE); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range writerScript(100) {
		if _, err := fids[w.stream].Write([]byte(w.data)); err != nil {
			t.Fatal(err)
		}
	}
}

// readHistory reads n messages the way mq-cat does: an entry of order,
// then a message of the stream it names.
func readHistory(t *testing.T, fs *client.Fsys, n int) []string {
	order, err := fs.Open("rc/order", plan9.OREAD)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer order.Close()
	streams := map[string]*client.Fid{}
	for _, name := range []string{"fd1", "fd2"} {
		if streams[name], err = fs.Open("rc/"+name, plan9.OREAD); err != nil {
			t.Error(err)
			return nil
		}
		defer streams[name].Close()
	}
	var got []string
	buf := make([]byte, 8192)
	for len(got) < n {
		k, err := order.Read(buf)
		if err != nil {
			t.Error(err)
			return got
		}
		name := strings.TrimSuffix(string(buf[:k]), "\n")
		k, err = streams[name].Read(buf)
		if err != nil {
			t.Error(err)
			return got
		}
		got = append(got, name+": "+string(buf[:k]))
	}
	return got
}

func writeFile(t *testing.T, fs *client.Fsys, name, text string) {
	t.Helper()
	f, err := fs.Open(name, plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(text)); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
}

// readStatic reads a file whole with the group in data static, which
// reads like a regular file, then puts data message back.
func readStatic(t *testing.T, fs *client.Fsys, name string) string {
	t.Helper()
	ctl := name[:strings.LastIndex(name, "/")+1] + "ctl"
	writeFile(t, fs, ctl, "data static")
	defer writeFile(t, fs, ctl, "data message")
	f, err := fs.Open(name, plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
