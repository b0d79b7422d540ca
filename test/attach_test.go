//go:build !plan9

package test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// guard bounds every wait for a process's output or exit: a deadlock
// guard, not a timing assertion.
const guard = 60 * time.Second

// proc is a command under test with its standard input open to the
// test and its standard output and error gathered, in the order
// written, in one buffer.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when it has exited and its output is in

	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{} // closed and replaced at each write to out
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.Write(b)
	close(p.changed)
	p.changed = make(chan struct{})
	return len(b), nil
}

// startProc runs path with args in name space ns, binaries on $PATH.
func startProc(t *testing.T, ns, path string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(path, args...), done: make(chan struct{}), changed: make(chan struct{})}
	// The race detector's default second of sleep at exit would
	// make each short command a second long. Its reports, from the
	// detached supervisors too, go to files the test checks.
	p.cmd.Env = append(env(ns), "GORACE=atexit_sleep_ms=0 log_path="+raceLogs(t)+"/race")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// One pipe for both keeps their relative order.
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		io.Copy(p, r)
		r.Close()
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// raceLogDirs holds each test's directory of race reports.
var raceLogDirs sync.Map

// raceLogs is the directory where the commands a test runs write race
// reports; the test fails if any is there when it ends.
func raceLogs(t *testing.T) string {
	if dir, ok := raceLogDirs.Load(t.Name()); ok {
		return dir.(string)
	}
	dir := t.TempDir()
	raceLogDirs.Store(t.Name(), dir)
	t.Cleanup(func() {
		logs, _ := filepath.Glob(filepath.Join(dir, "race.*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Errorf("race report %s:\n%s", filepath.Base(l), b)
		}
	})
	return dir
}

// output is what p has written so far.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until p's output contains s.
func (p *proc) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(guard)
	for {
		p.mu.Lock()
		ok, changed := strings.Contains(p.out.String(), s), p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-p.done:
			if !strings.Contains(p.output(), s) {
				t.Fatalf("%s exited (%v) without writing %q; output:\n%s", p.cmd.Args, p.cmd.ProcessState, s, p.output())
			}
			return
		case <-timeout:
			t.Fatalf("%s did not write %q; output:\n%s", p.cmd.Args, s, p.output())
		}
	}
}

// wait waits for p to exit and returns its output and exit status.
func (p *proc) wait(t *testing.T) (string, int) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(guard):
		t.Fatalf("%s did not exit; output:\n%s", p.cmd.Args, p.output())
	}
	return p.output(), p.cmd.ProcessState.ExitCode()
}

// runProc runs path to its end with stdin as input.
func runProc(t *testing.T, ns, stdin, path string, args ...string) (string, int) {
	t.Helper()
	p := startProc(t, ns, path, args...)
	io.WriteString(p.stdin, stdin)
	p.stdin.Close()
	return p.wait(t)
}

// attachOK runs attach -s srv args and fails the test unless it
// succeeds; it returns the output.
func attachOK(t *testing.T, s *mqServer, args ...string) string {
	t.Helper()
	out, code := runProc(t, s.ns, "", bin("attach"), append([]string{"-s", s.name}, args...)...)
	if code != 0 {
		t.Fatalf("attach %q: exit %d, output:\n%s", args, code, out)
	}
	return out
}

func startAttach(t *testing.T, s *mqServer, id string) *proc {
	t.Helper()
	return startProc(t, s.ns, bin("attach"), "-s", s.name, id)
}

// inOrder checks that each of marks occurs in out, in that order.
func inOrder(t *testing.T, out string, marks ...string) {
	t.Helper()
	at := 0
	for _, m := range marks {
		i := strings.Index(out[at:], m)
		if i < 0 {
			t.Errorf("output lacks %q after byte %d; output:\n%s", m, at, out)
			return
		}
		at += i + len(m)
	}
}

// A shell session: history written before attaching, two attachers at
// once seeing the same output in the same order, input from each, an
// interrupt that kills the foreground job but neither the shell nor
// the attacher, detaching at end of input, the exit status, -l and -k
// (SPEC §10). Markers are echoed with quotes split ('x'y) so the
// output can be told from the input.
func TestAttachShell(t *testing.T) {
	s := startMQ(t)
	if out := attachOK(t, s, "-c", "sh", "/bin/sh", "-i"); out != "" {
		t.Errorf("attach -c printed %q", out)
	}
	attachOK(t, s, "-w", "sh", "echo", "before-'1'")
	attachOK(t, s, "-w", "sh", "echo before-'2' >&2")

	// An attacher that sees the history, then detaches at end of
	// input, leaving the shell running.
	d := startAttach(t, s, "sh")
	d.waitFor(t, "before-2")
	d.stdin.Close()
	if out, code := d.wait(t); code != 0 {
		t.Errorf("attacher exit %d at end of input, want 0; output:\n%s", code, out)
	}
	if got := attachOK(t, s, "-l"); got != "sh\trunning\n" {
		t.Errorf("attach -l after detaching = %q, want %q", got, "sh\trunning\n")
	}

	// ctl-\ (SIGQUIT) detaches too, as on a terminal session.
	q := startAttach(t, s, "sh")
	q.waitFor(t, "before-2")
	if err := q.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if out, code := q.wait(t); code != 0 || strings.Contains(out, "goroutine") {
		t.Errorf("attacher exit %d on SIGQUIT, want 0 and no dump; output:\n%s", code, out)
	}
	if got := attachOK(t, s, "-l"); got != "sh\trunning\n" {
		t.Errorf("attach -l after SIGQUIT = %q, want %q", got, "sh\trunning\n")
	}

	a, b := startAttach(t, s, "sh"), startAttach(t, s, "sh")
	io.WriteString(a.stdin, "echo from-'a'\n")
	a.waitFor(t, "from-a")
	b.waitFor(t, "from-a")
	io.WriteString(b.stdin, "echo from-'b'\n")
	a.waitFor(t, "from-b")
	b.waitFor(t, "from-b")

	// The shell reads its next line only once the job has ended, so
	// after-int shows only if the interrupt reached the job.
	io.WriteString(a.stdin, "sh -c 'echo rea''dy; exec sleep 1000'\n")
	a.waitFor(t, "ready")
	if err := a.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	io.WriteString(b.stdin, "echo after-'int'\n")
	a.waitFor(t, "after-int")
	b.waitFor(t, "after-int")

	attachOK(t, s, "-w", "sh", "exit 3")
	outA, codeA := a.wait(t)
	outB, codeB := b.wait(t)
	if codeA != 3 || codeB != 3 {
		t.Errorf("attachers exit %d and %d after exit 3, want 3", codeA, codeB)
	}
	if diff := cmp.Diff(outA, outB); diff != "" {
		t.Errorf("two attachers saw different output (-first +second):\n%s", diff)
	}
	inOrder(t, outA, "before-1", "before-2", "from-a", "from-b", "ready", "after-int")
	if !strings.HasSuffix(outA, "attach: sh: exit 3\n") {
		t.Errorf("attacher output does not end with the exit line:\n%s", outA)
	}

	// One coming later replays it all.
	late := startAttach(t, s, "sh")
	outL, codeL := late.wait(t)
	if diff := cmp.Diff(outA, outL); codeL != 3 || diff != "" {
		t.Errorf("late attacher exit %d (want 3), output (-first +late):\n%s", codeL, diff)
	}

	// One with no input at all still shows the history before it
	// detaches, and so sees the exit.
	outN, codeN := runProc(t, s.ns, "", bin("attach"), "-s", s.name, "sh")
	if diff := cmp.Diff(outA, outN); codeN != 3 || diff != "" {
		t.Errorf("attacher with empty input exit %d (want 3), output (-first +it):\n%s", codeN, diff)
	}

	if got := attachOK(t, s, "-l"); got != "sh\texit 3\n" {
		t.Errorf("attach -l after exit = %q, want %q", got, "sh\texit 3\n")
	}
	attachOK(t, s, "-k", "sh")
	if got := attachOK(t, s, "-l"); got != "" {
		t.Errorf("attach -l after -k = %q, want nothing", got)
	}
}

// A simple command: input through an attacher and -w (text and
// standard input), -k killing it while attached (SPEC §10).
func TestAttachCat(t *testing.T) {
	s := startMQ(t)
	attachOK(t, s, "-c", "c", "cat")
	a := startAttach(t, s, "c")
	io.WriteString(a.stdin, "hello\n")
	a.waitFor(t, "hello\n")
	attachOK(t, s, "-w", "c", "two", "words")
	a.waitFor(t, "two words\n")
	if out, code := runProc(t, s.ns, "from stdin\n", bin("attach"), "-s", s.name, "-w", "c"); code != 0 {
		t.Fatalf("attach -w c <text: exit %d: %s", code, out)
	}
	a.waitFor(t, "from stdin\n")
	if got := attachOK(t, s, "-l"); got != "c\trunning\n" {
		t.Errorf("attach -l = %q, want %q", got, "c\trunning\n")
	}

	attachOK(t, s, "-k", "c")
	out, code := a.wait(t)
	want := "hello\ntwo words\nfrom stdin\nattach: c: exit " + strconv.Itoa(128+int(syscall.SIGKILL)) + "\n"
	if code != 128+int(syscall.SIGKILL) || out != want {
		t.Errorf("attacher after -k: exit %d, output %q; want %d, %q", code, out, 128+int(syscall.SIGKILL), want)
	}
	if got := attachOK(t, s, "-l"); got != "" {
		t.Errorf("attach -l after -k = %q, want nothing", got)
	}
}

// Errors are clear, Plan 9 style, with a non-zero exit (SPEC §10).
func TestAttachErrors(t *testing.T) {
	s := startMQ(t)
	attachOK(t, s, "-c", "x", "cat")
	t.Cleanup(func() { runProc(t, s.ns, "", bin("attach"), "-s", s.name, "-k", "x") })
	usage := "usage: attach [-s srv] -c [-t] id [command ...]\n" +
		"       attach [-s srv] [-r] id\n" +
		"       attach [-s srv] -w id [text ...]\n" +
		"       attach [-s srv] -k id\n" +
		"       attach [-s srv] -l\n"
	tests := []struct {
		args []string
		want string
	}{
		{nil, usage},
		{[]string{"a", "b"}, usage},
		{[]string{"-l", "x"}, usage},
		{[]string{"-k", "x", "y"}, usage},
		{[]string{"-c", "a", "-k", "b"}, usage},
		{[]string{"-q"}, usage},
		{[]string{"-t", "x"}, usage},
		{[]string{"-r", "-k", "x"}, usage},
		{[]string{"-r", "-c", "x"}, usage},
		{[]string{"-t", "-w", "x"}, usage},
		// An empty service name is a bad argument, as it is to mq -s.
		{[]string{"-s", "", "-l"}, usage},
		{[]string{"-s", "", "x"}, usage},
		{[]string{"-s", s.name, "nosuch"}, "attach: nosuch: no such session\n"},
		{[]string{"-s", s.name, "-w", "nosuch", "x"}, "attach: nosuch: no such session\n"},
		{[]string{"-s", s.name, "-k", "nosuch"}, "attach: nosuch: no such session\n"},
		{[]string{"-s", s.name, "-c", "x", "cat"}, "attach: x: session already exists\n"},
		{[]string{"-s", s.name, "-c", "a/b"}, "attach: bad session name \"a/b\"\n"},
		{[]string{"-s", s.name, "-c", "y", "/nonexistent/cmd"}, "attach: y: fork/exec /nonexistent/cmd: no such file or directory\n"},
	}
	for _, tt := range tests {
		out, code := runProc(t, s.ns, "", bin("attach"), tt.args...)
		if code == 0 || out != tt.want {
			t.Errorf("attach %q: exit %d, output %q; want non-zero and %q", tt.args, code, out, tt.want)
		}
	}
	// A failed -c leaves no session behind.
	if got := attachOK(t, s, "-l"); got != "x\trunning\n" {
		t.Errorf("attach -l = %q, want %q", got, "x\trunning\n")
	}
}

// Flags combine and come in any order, the Plan 9 way, as the usage
// lines read: -c, -k and -w are flags like -t, and id is the first
// argument, so -ct id is -c -t id, -c -s srv id makes session id, and
// the words after -w id are text, whatever they look like (SPEC §10).
func TestAttachFlagOrder(t *testing.T) {
	s := startMQ(t)
	run := func(args ...string) string {
		t.Helper()
		out, code := runProc(t, s.ns, "", bin("attach"), args...)
		if code != 0 {
			t.Fatalf("attach %q: exit %d, output %q", args, code, out)
		}
		return out
	}
	run("-ct", "-s", s.name, "a", "cat")
	run("-tcs", s.name, "b", "cat")
	run("-c", "-s", s.name, "c", "cat")
	run("-w", "-s", s.name, "c", "hello")
	run("-ws", s.name, "c", "-n", "is", "text") // after id, words are text
	want := "a\trunning\tterminal\nb\trunning\tterminal\nc\trunning\n"
	if diff := cmp.Diff(want, run("-ls", s.name)); diff != "" {
		t.Errorf("attach -ls srv (-want +got):\n%s", diff)
	}
	a := startProc(t, s.ns, bin("attach"), "-rs", s.name, "c")
	a.waitFor(t, "hello\n-n is text\n")
	a.stdin.Close()
	a.wait(t)
	run("-k", "-s", s.name, "a")
	run("-ks", s.name, "b")
	run("-s", s.name, "-k", "c")
	if got := run("-l", "-s", s.name); got != "" {
		t.Errorf("attach -l -s srv after -k = %q, want nothing", got)
	}
}

// Without a posted service attach starts `mq -r dir -s attach-$user`
// itself, and says so clearly when it cannot (SPEC §10, §11.6).
func TestAttachStartsService(t *testing.T) {
	ns := t.TempDir()
	wrap := t.TempDir()
	pidFile := filepath.Join(wrap, "mq.pid")
	script := fmt.Sprintf("#!/bin/sh\necho $$ >%s\nexec %s \"$@\"\n", pidFile, bin("mq"))
	if err := os.WriteFile(filepath.Join(wrap, "mq"), []byte(script), 0755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	run := func(stdin string, args ...string) (string, int) {
		cmd := exec.Command(bin("attach"), args...)
		cmd.Env = append(env(ns), "PATH="+wrap+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := run("", "-c", "c", "cat"); code != 0 {
		t.Fatalf("attach -c c cat with no service: exit %d: %s", code, out)
	}
	sock := filepath.Join(ns, "attach-"+owner(t))
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("no service posted at %s: %v", sock, err)
	}
	// It keeps its history in the per-user directory (SPEC §11.6):
	// $XDG_STATE_HOME/attach, made mode 0700, holding mq's lock.
	hist := filepath.Join(ns, "state", "attach")
	if fi, err := os.Stat(hist); err != nil || fi.Mode().Perm() != 0700 {
		t.Errorf("history directory %s: %v, want mode 0700", hist, err)
	}
	if _, err := os.Stat(filepath.Join(hist, "lock")); err != nil {
		t.Errorf("mq -r does not use %s: %v", hist, err)
	}
	if out, code := run("", "-l"); code != 0 || out != "c\trunning\n" {
		t.Errorf("attach -l: exit %d, %q; want c running", code, out)
	}
	if out, code := run("", "-k", "c"); code != 0 {
		t.Errorf("attach -k c: exit %d: %s", code, out)
	}

	// No mq on $PATH, and a service path that cannot be dialled.
	only := t.TempDir()
	if err := os.Symlink(bin("attach"), filepath.Join(only, "attach")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"NAMESPACE=" + t.TempDir(), "PATH=" + only}, "attach: attach-" + owner(t) + ": service not running, and mq is not on $PATH\n"},
		{[]string{"NAMESPACE=/" + strings.Repeat("x", 120), "PATH=" + only}, "attach: attach-" + owner(t) + ": service unreachable: dial unix /" + strings.Repeat("x", 120) + "/attach-" + owner(t) + ": connect: invalid argument\n"},
	}
	for _, tt := range tests {
		cmd := exec.Command(filepath.Join(only, "attach"), "-l")
		cmd.Env = append(os.Environ(), tt.env...)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() == 0 || string(out) != tt.want {
			t.Errorf("attach -l with %q: exit %d, %q; want non-zero, %q", tt.env, cmd.ProcessState.ExitCode(), out, tt.want)
		}
	}
}

// A program's output reaches attachers whole however it writes it, in
// messages no longer than a Plan 9 kernel mount reads at once (8192
// bytes), so attachers there get whole messages too (SPEC §10, §6.2).
func TestAttachLongOutput(t *testing.T) {
	s := startMQ(t)
	attachOK(t, s, "-c", "big", "sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo; exit 5")
	out, code := startAttach(t, s, "big").wait(t)
	want := strings.Repeat("x", 100000) + "\nattach: big: exit 5\n"
	if code != 5 || out != want {
		t.Errorf("attacher: exit %d, %d bytes; want 5, %d bytes: %s", code, len(out), len(want), firstDiff(want, out))
	}

	fs := s.attach(t, owner(t), "")
	fd1, err := fs.Open("big/fd1", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer fd1.Close()
	buf := make([]byte, 128<<10)
	for total := 0; total < 100001; {
		n, err := fd1.Read(buf)
		if err != nil {
			t.Fatalf("reading big/fd1 after %d bytes: %v", total, err)
		}
		if n > 8192 {
			t.Errorf("a message of %d bytes in big/fd1, want at most 8192", n)
		}
		total += n
	}
}

// The program gets standard input, output and error and no other open
// file: nothing of the supervisor's or of the shell that ran attach
// (SPEC §10: it runs detached).
func TestAttachProgramFiles(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	s := startMQ(t)
	attachOK(t, s, "-c", "fds", "sh", "-c", "ls /proc/$$/fd")
	out, code := startAttach(t, s, "fds").wait(t)
	if want := "0\n1\n2\nattach: fds: exit 0\n"; code != 0 || out != want {
		t.Errorf("open files of the program: exit %d, %q; want 0, %q", code, out, want)
	}
}

// End of input detaches once the history is shown, whatever the depth
// dropped of it: while the program floods its output under a small
// depth, and once it is idle, when the attacher gets exactly what is
// retained (SPEC §10, §7.2).
func TestAttachDetachTrimmed(t *testing.T) {
	s := startMQ(t)
	work := t.TempDir()
	done := filepath.Join(work, "done")
	flood := fmt.Sprintf("i=0; while [ $i -lt 600 ]; do head -c $((i+1)) /dev/zero | tr '\\0' x; echo; i=$((i+1)); done; touch %s; exec cat", done)
	attachOK(t, s, "-c", "flood", "sh", "-c", flood)
	fs := s.attach(t, owner(t), "")
	ctl, err := fs.Open("flood/ctl", plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if _, err := ctl.Write([]byte("depth 2\n")); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		_, err := os.Stat(done)
		idle := err == nil
		if out, code := runProc(t, s.ns, "", bin("attach"), "-s", s.name, "flood"); code != 0 {
			t.Fatalf("attach flood </dev/null: exit %d: %s", code, out)
		} else if idle {
			// The last two messages: the x's of the last line,
			// and its newline (written by echo).
			if want := strings.Repeat("x", 600) + "\n"; out != want {
				t.Fatalf("attach flood </dev/null once idle: %d bytes, want %d", len(out), len(want))
			}
		}
		if idle {
			return
		}
	}
}
