//go:build !plan9

package test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"github.com/creack/pty"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// A termAttacher is attach run by a user at a terminal: a process on a
// pseudo-terminal of the test's, its controlling terminal. Writing to
// stdin types; output is what the terminal shows.
type termAttacher struct {
	*proc
	master *os.File
	// The terminal's settings before attach ran and once it had
	// exited (valid after wait).
	before, after *unix.Termios
}

// startTerm runs attach -s srv args on a fresh terminal of the given
// size.
func startTerm(t *testing.T, s *mqServer, rows, cols int, args ...string) *termAttacher {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := pty.Setsize(master, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	a := &termAttacher{
		proc:   &proc{cmd: exec.Command(bin("attach"), append([]string{"-s", s.name}, args...)...), done: make(chan struct{}), changed: make(chan struct{})},
		master: master,
	}
	a.stdin = master
	if a.before, err = unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil {
		t.Fatal(err)
	}
	a.cmd.Env = append(env(s.ns), "GORACE=atexit_sleep_ms=0 log_path="+raceLogs(t)+"/race", "TERM=xterm")
	a.cmd.Stdin, a.cmd.Stdout, a.cmd.Stderr = slave, slave, slave
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(a.proc, master) // until the slave is closed below
		close(copied)
	}()
	go func() {
		a.cmd.Wait()
		a.after, _ = unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		slave.Close()
		<-copied
		close(a.done)
	}()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
		master.Close()
	})
	return a
}

// type_ types s on the terminal.
func (a *termAttacher) type_(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(a.master, s); err != nil {
		t.Fatal(err)
	}
}

// waitN waits until the terminal has shown s at least n times.
func (a *termAttacher) waitN(t *testing.T, s string, n int) {
	t.Helper()
	a.waitUntil(t, fmt.Sprintf("%q %d times", s, n), func(out string) bool { return strings.Count(out, s) >= n })
}

// waitUntil waits until what the terminal has shown satisfies ok.
func (a *termAttacher) waitUntil(t *testing.T, what string, ok func(string) bool) {
	t.Helper()
	deadline := time.After(guard)
	for {
		a.mu.Lock()
		done, changed := ok(a.out.String()), a.changed
		a.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-a.done:
			if !ok(a.output()) {
				t.Fatalf("attach exited (%v) without showing %s; output:\n%s", a.cmd.ProcessState, what, a.output())
			}
			return
		case <-deadline:
			t.Fatalf("attach did not show %s; output:\n%s", what, a.output())
		}
	}
}

// exited waits for the attacher to exit with code and checks that it
// left its terminal as it found it (SPEC §10.1).
func (a *termAttacher) exited(t *testing.T, code int) string {
	t.Helper()
	out, got := a.wait(t)
	if got != code {
		t.Errorf("attach exit %d, want %d; output:\n%s", got, code, out)
	}
	if a.after == nil {
		t.Errorf("terminal settings unknown after attach exited")
	} else if diff := cmp.Diff(*a.before, *a.after); diff != "" {
		t.Errorf("terminal settings not restored (-before +after):\n%s", diff)
	}
	return out
}

// createTerm makes terminal session id running argv, with TERM=vt220
// in the creator's environment.
func createTerm(t *testing.T, s *mqServer, id string, argv ...string) {
	t.Helper()
	cmd := exec.Command(bin("attach"), append([]string{"-s", s.name, "-c", "-t", id}, argv...)...)
	cmd.Env = append(env(s.ns), "TERM=vt220", "GORACE=atexit_sleep_ms=0 log_path="+raceLogs(t)+"/race")
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("attach -c -t %s: %v, %q", id, err, out)
	}
}

// foreground waits until process pid is in the foreground of its
// terminal, as /proc shows it.
func foreground(t *testing.T, pid string) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			t.Fatalf("job %s: %v", pid, err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if f[2] == f[5] { // pgrp, tpgid
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never in the foreground: %s", pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A shell on a terminal session: a terminal of the attacher's size and
// the creator's TERM, resizing, job control and ctl-c, two attachers,
// a read-only one, detaching with ctl-\, the exit status, and the
// attachers' terminals restored each time (SPEC §10.1). Markers are
// typed with quotes split (x'y') so output can be told from the echo.
func TestTerminalSession(t *testing.T) {
	s := startMQ(t)
	createTerm(t, s, "term", "bash", "--norc", "--noprofile", "-i")
	if got := attachOK(t, s, "-l"); got != "term\trunning\tterminal\n" {
		t.Errorf("attach -l = %q, want %q", got, "term\trunning\tterminal\n")
	}

	a := startTerm(t, s, 30, 100, "term")
	a.type_(t, "tty; stty size; echo $TERM; echo one-'done'\r")
	a.waitFor(t, "one-done")
	inOrder(t, a.output(), "/dev/pts/", "30 100", "vt220", "one-done")

	// The attacher's terminal is resized: the program gets SIGWINCH
	// and the new size.
	a.type_(t, "sh -c 'trap \"stty size; exit\" WINCH; echo wait'\"ing\"'; while :; do sleep 0.1; done'\r")
	a.waitFor(t, "waiting")
	if err := pty.Setsize(a.master, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, "40 120")

	// Job control: a job in the background, listed, brought back and
	// interrupted with ctl-c.
	a.type_(t, "sleep 100 &\r")
	a.waitFor(t, "[1] ")
	out := a.output()
	pid := strings.Fields(out[strings.LastIndex(out, "[1] ")+4:])[0]
	a.type_(t, "jobs\r")
	a.waitFor(t, "Running")
	a.type_(t, "fg\r")
	foreground(t, pid)
	a.type_(t, "\x03")
	a.type_(t, "echo after-'int'\r") // read only once the job has ended
	a.waitFor(t, "after-int")

	// A second attacher: both see what either types.
	b := startTerm(t, s, 40, 120, "term")
	b.waitFor(t, "after-int")
	b.type_(t, "echo from-'b'\r")
	a.waitFor(t, "from-b")
	b.waitFor(t, "from-b")
	attachOK(t, s, "-w", "term", "echo from-'w'")
	a.waitFor(t, "from-w")
	b.waitFor(t, "from-w")

	// A read-only attacher: what it types is not sent, its size not
	// applied.
	r := startTerm(t, s, 50, 50, "-r", "term")
	r.waitFor(t, "from-b")
	r.type_(t, "echo ro-'typed'\r")
	a.type_(t, "stty size; echo after-'ro'\r")
	r.waitFor(t, "after-ro")
	if strings.Contains(a.output(), "ro-typed") || !strings.Contains(a.output(), "40 120") {
		t.Errorf("a read-only attacher's typing or size reached the program:\n%s", a.output())
	}
	r.type_(t, "\x03") // detaches it
	r.exited(t, 0)

	// ctl-\ detaches; the shell runs on.
	a.type_(t, "\x1c")
	if out := a.exited(t, 0); !strings.Contains(out, "attach: term: detached") {
		t.Errorf("detached attacher's output ends %q", out[max(0, len(out)-60):])
	}

	b.type_(t, "exit 7\r")
	if out := b.exited(t, 7); !strings.Contains(out, "attach: term: exit 7") {
		t.Errorf("attacher's output ends %q, want the exit status", out[max(0, len(out)-60):])
	}
	if got := attachOK(t, s, "-l"); got != "term\texit 7\tterminal\n" {
		t.Errorf("attach -l = %q, want %q", got, "term\texit 7\tterminal\n")
	}
	for _, m := range sessionMessages(t, s, "term") {
		switch {
		case m.stream == "fd2":
			t.Errorf("fd2 of a terminal session holds %q; want it empty", m.data)
		case m.stream == "fd0" && strings.Contains(m.data, "ro-"):
			t.Errorf("fd0 holds %q, typed by the read-only attacher", m.data)
		case m.stream == "winsize" && m.data == "50 50\n":
			t.Errorf("winsize holds the read-only attacher's size")
		}
	}
}

// A full-screen program draws, is left with ctl-\, and redraws its
// screen for the next attacher, which also sees what it drew before
// (SPEC §10.1).
func TestTerminalFullScreen(t *testing.T) {
	text := filepath.Join(t.TempDir(), "text")
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("line %d of the text", i))
	}
	if err := os.WriteFile(text, []byte(strings.Join(lines, "\n")+"\n"), 0644); err != nil {
		t.Fatal(err)
	}
	s := startMQ(t)
	createTerm(t, s, "less", "less", text)

	// Screens drawn: each has this line, then a prompt.
	const line = "line 22 of the text\r\n"
	screens := func(n int) func(string) bool {
		return func(out string) bool {
			i := strings.LastIndex(out, line)
			return strings.Count(out, line) >= n && strings.Contains(out[i:], ":\x1b[K")
		}
	}
	// The history's first screen, then the one drawn for this
	// attacher.
	a := startTerm(t, s, 24, 80, "less")
	a.waitUntil(t, "two screens", screens(2))
	a.type_(t, "\x1c")
	a.exited(t, 0)
	drawn := strings.Count(a.output(), line)

	// The history shows the screens as they were; then the program
	// draws one more.
	b := startTerm(t, s, 24, 80, "less")
	b.waitUntil(t, "one screen more", screens(drawn+1))
	b.type_(t, "q")
	if out := b.exited(t, 0); !strings.Contains(out, "attach: less: exit 0") {
		t.Errorf("attacher's output ends %q, want the exit status", out[max(0, len(out)-60):])
	}
}

// The attacher's terminal is restored when it is killed (SPEC §10.1),
// and gets the exit status 128+N of signal N as shells report it.
func TestTerminalRestoreOnSignal(t *testing.T) {
	s := startMQ(t)
	createTerm(t, s, "cat", "cat")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		a := startTerm(t, s, 24, 80, "cat")
		a.type_(t, "before-"+sig.String()+"\r")
		a.waitN(t, "before-"+sig.String(), 2) // the echo, and cat's
		if err := a.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		a.exited(t, 128+int(sig))
	}
}

// A terminal session is sent interrupt through note (its foreground
// job gets SIGINT) and is killed with -k; attachers see the exit
// (SPEC §10, §10.1).
func TestTerminalNotes(t *testing.T) {
	s := startMQ(t)
	createTerm(t, s, "n", "sh", "-c", "trap 'echo got-int' INT; echo rea''dy; while :; do sleep 0.1; done")
	a := startTerm(t, s, 24, 80, "n")
	a.waitFor(t, "ready")
	if err := a.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, "got-int")
	attachOK(t, s, "-k", "n")
	killed := 128 + int(syscall.SIGKILL)
	if out := a.exited(t, killed); !strings.Contains(out, "attach: n: exit "+strconv.Itoa(killed)) {
		t.Errorf("attacher's output ends %q, want the exit status", out[max(0, len(out)-60):])
	}
	if got := attachOK(t, s, "-l"); got != "" {
		t.Errorf("attach -l after -k = %q, want nothing", got)
	}
}

// The same through tmux, as a user would: attach in a tmux window
// shows the window's size and follows its resizing; ctl-\ detaches
// and the window's terminal settings are as before (SPEC §10.1).
func TestTerminalTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("no tmux")
	}
	s := startMQ(t)
	createTerm(t, s, "tm", "sh", "-i")
	dir := t.TempDir()
	sock := filepath.Join(dir, "tmux")
	tmux := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("tmux", append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		cmd.Env = append(env(s.ns), "GORACE=atexit_sleep_ms=0 log_path="+raceLogs(t)+"/race", "TERM=xterm")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %q: %v: %s", args, err, out)
		}
		return string(out)
	}
	tmux("new", "-d", "-x", "80", "-y", "24",
		fmt.Sprintf("stty -g >%[1]s/before; attach -s %[2]s tm; echo attach-exit=$?; stty -g >%[1]s/after; exec sleep 1000", dir, s.name))
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	screen := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(guard)
		for {
			got := tmux("capture-pane", "-p")
			if strings.Contains(got, want) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("the tmux window never showed %q:\n%s", want, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	tmux("send-keys", "stty size; echo size-'shown'", "Enter")
	if got := screen("size-shown"); !strings.Contains(got, "\n24 80\n") {
		t.Errorf("stty size in a 24x80 window:\n%s", got)
	}
	sizes := s.attach(t, owner(t), "")
	winsize, err := sizes.Open("tm/winsize", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	tmux("resize-window", "-x", "100", "-y", "30")
	// Keys typed at once could reach the session before the size: wait
	// as a person would.
	resized := make(chan error, 1)
	go func() {
		buf := make([]byte, 100)
		for {
			n, err := winsize.Read(buf)
			if err != nil || string(buf[:n]) == "30 100\n" {
				resized <- err
				return
			}
		}
	}()
	select {
	case err := <-resized:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(guard):
		t.Fatal("the new size never reached winsize")
	}
	tmux("send-keys", "stty size; echo resize-'shown'", "Enter")
	if got := screen("resize-shown"); !strings.Contains(got, "\n30 100\n") {
		t.Errorf("stty size in the window made 30x100:\n%s", got)
	}
	tmux("send-keys", `C-\`)
	screen("attach-exit=0")
	before, err := os.ReadFile(filepath.Join(dir, "before"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(guard); ; time.Sleep(20 * time.Millisecond) {
		after, _ := os.ReadFile(filepath.Join(dir, "after"))
		if strings.HasSuffix(string(after), "\n") {
			if string(before) != string(after) {
				t.Errorf("terminal settings before attach %q, after %q", before, after)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stty -g never ran after attach")
		}
	}
}

// gone waits until process pid has exited (a zombie counts).
func gone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(guard); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still there: %s", pid, b)
		}
	}
}

// When the service goes away, attachers say so and exit, restoring
// their terminal, and each session's supervisor hangs up on its
// program and exits rather than wait for replies that cannot come.
func TestAttachServiceGone(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s := startMQ(t)
	prog := "echo pid=$$.; exec sleep 1000"
	attachOK(t, s, "-c", "plain", "sh", "-c", prog)
	createTerm(t, s, "term", "sh", "-c", prog)
	a := startAttach(t, s, "plain")
	b := startTerm(t, s, 24, 80, "term")
	var pids []int
	for _, p := range []*proc{a, b.proc} {
		p.waitFor(t, ".")
		out := p.output()
		pid, err := strconv.Atoi(out[strings.Index(out, "pid=")+4 : strings.Index(out, ".")])
		if err != nil {
			t.Fatalf("no pid in %q", out)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		ppid, _ := strconv.Atoi(strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))[2])
		pids = append(pids, pid, ppid)
	}

	s.cmd.Process.Kill()
	// Which error an attacher reports first depends on which of its
	// requests notices first.
	for id, out := range map[string]string{"plain": startAttachWait(t, a), "term": b.exited(t, 1)} {
		if !strings.Contains(out, "attach: ") {
			t.Errorf("attacher of %s: output ends %q, want an error", id, out[max(0, len(out)-60):])
		}
	}
	for _, pid := range pids {
		gone(t, pid)
	}
}

func startAttachWait(t *testing.T, p *proc) string {
	t.Helper()
	out, code := p.wait(t)
	if code != 1 {
		t.Errorf("attacher exit %d, want 1", code)
	}
	return out
}
