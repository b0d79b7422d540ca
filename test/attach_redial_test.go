//go:build !plan9

package test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// redialKills is how many times the service is killed under a session.
const redialKills = 5

// heldLines is how many lines the program writes, at least, while the
// service is down, each time.
const heldLines = 20

// A session's service, mq -r started by attach, is killed with SIGKILL
// several times while the program prints a counter; each time it stays
// down until the program has printed more, then the supervisor starts
// it again. fd1, read whole at the end, has the counter with no gap and
// no repeat, and the history is still there after a restart of mq
// (SPEC §11.6).
func TestAttachServiceKilled(t *testing.T) {
	r := newRedial(t)
	work := t.TempDir()
	stop, last, super := filepath.Join(work, "stop"), filepath.Join(work, "last"), filepath.Join(work, "super")
	t.Cleanup(func() {
		if pid, ok := readPid(super); ok {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.WriteFile(stop, nil, 0644)
	})

	fast := filepath.Join(work, "fast")
	counter := fmt.Sprintf("echo $PPID >%s; i=0; while [ ! -e %s ]; do echo $i; echo $i >%s; i=$((i+1)); [ -e %s ] || sleep 0.01; done; echo end",
		super, stop, last, fast)
	if out, code := r.run("-c", "count", "sh", "-c", counter); code != 0 {
		t.Fatalf("attach -c count: exit %d: %s", code, out)
	}
	// A second session, so that two supervisors start mq at once.
	if out, code := r.run("-c", "echo", "sh", "-c", "while read l; do echo \"got $l\"; done"); code != 0 {
		t.Fatalf("attach -c echo: exit %d: %s", code, out)
	}
	server := r.server()
	held := 0
	for k := 0; k < redialKills; k++ {
		// Down until the program has printed heldLines more.
		if err := os.WriteFile(r.hold, nil, 0644); err != nil {
			t.Fatal(err)
		}
		r.kill(server)
		from := waitCount(t, last, -1)
		to := waitCount(t, last, from+heldLines)
		held += to - from
		os.Remove(r.hold)
		server = r.server()
	}
	// Killed while the supervisor writes as fast as the program
	// prints, so that a write may be cut short anywhere (the lost
	// reply itself is made certain in TestAttachLostReply), and
	// started again at once.
	if err := os.WriteFile(fast, nil, 0644); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < redialKills; k++ {
		r.kill(server)
		waitCount(t, last, waitCount(t, last, -1)+3)
		server = r.server()
	}

	if out, code := r.run("-w", "echo", "hello"); code != 0 {
		t.Fatalf("attach -w echo hello: exit %d: %s", code, out)
	}
	waitOutput(t, r.run, "echo", "got hello\n")

	// fd1 whole, once the program has ended.
	os.WriteFile(stop, nil, 0644)
	out := waitExit(t, r.run, "count")
	n := checkCounter(t, out)
	t.Logf("counter 0..%d with no gap or repeat across %d kills of mq; at least %d lines written while it was down", n-1, 2*redialKills, held)

	// The history survives a restart of mq too once the program has
	// exited: attach starts it again.
	r.kill(server)
	again, code := r.run("count")
	if diff := cmp.Diff(out, again); code != 0 || diff != "" {
		t.Errorf("attach count after a restart of mq: exit %d, output (-before +after):\n%s", code, diff)
	}
}

// Input written to a session before and after a restart of its
// service reaches the program once each, and a note written after it
// still kills the program (SPEC §11.6).
func TestAttachInputAcrossRestart(t *testing.T) {
	r := newRedial(t)
	super := filepath.Join(t.TempDir(), "super")
	prog := fmt.Sprintf("echo $PPID >%s; echo ready; while read l; do echo \"got $l\"; done", super)
	if out, code := r.run("-c", "c", "sh", "-c", prog); code != 0 {
		t.Fatalf("attach -c c: exit %d: %s", code, out)
	}
	want := "ready\n"
	waitOutput(t, r.run, "c", want)
	r.inputAcross(t, "c", want, "\n", super)
}

// A terminal session's input, typed before and after restarts of its
// service, reaches the program once each and in order (SPEC §10.1,
// §11.6).
func TestAttachTerminalInputAcrossRestart(t *testing.T) {
	r := newRedial(t)
	super := filepath.Join(t.TempDir(), "super")
	prog := fmt.Sprintf("echo $PPID >%s; stty -echo; echo ready; while read l; do echo \"got $l\"; done", super)
	if out, code := r.run("-c", "-t", "t", "sh", "-c", prog); code != 0 {
		t.Fatalf("attach -c -t t: exit %d: %s", code, out)
	}
	want := "ready\r\n"
	waitOutput(t, r.run, "t", want)
	r.inputAcross(t, "t", want, "\r\n", super)
}

// inputAcross writes lines to session id's input while its service
// is killed and started again, each time once with the supervisor
// (its pid in the file super) stopped meanwhile, so that the line is
// in fd0 before it dials again, and once not. The program prints each
// line l as "got l" and nl; before them it printed want.
func (r *redial) inputAcross(t *testing.T, id, want, nl, super string) {
	t.Helper()
	pid, ok := readPid(super)
	if !ok {
		t.Fatalf("no supervisor pid in %s", super)
	}
	for i, w := range []string{"one", "two", "three", "four", "five"} {
		stopped := i%2 == 1
		if stopped {
			syscall.Kill(pid, syscall.SIGSTOP)
		}
		r.kill(r.server())
		if out, code := r.run("-w", id, w); code != 0 {
			t.Fatalf("attach -w %s %s: exit %d: %s", id, w, code, out)
		}
		if stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
		want += "got " + w + nl
		waitOutput(t, r.run, id, want)
	}
	if out, code := r.run("-k", id); code != 0 {
		t.Fatalf("attach -k %s: exit %d: %s", id, code, out)
	}
	if out, code := r.run("-l"); code != 0 || out != "" {
		t.Errorf("attach -l after -k: exit %d, %q; want nothing", code, out)
	}
}

// A terminal session whose program prints without pause still gets
// its input after its service comes back, once each (SPEC §11.6).
func TestAttachTerminalFloodAcrossRestart(t *testing.T) {
	r := newRedial(t)
	work := t.TempDir()
	got := filepath.Join(work, "got")
	prog := fmt.Sprintf("stty -echo; (while :; do echo x; done) & while read l; do echo $l >>%s; done", got)
	if out, code := r.run("-c", "-t", "f", "sh", "-c", prog); code != 0 {
		t.Fatalf("attach -c -t f: exit %d: %s", code, out)
	}
	want := ""
	for _, w := range []string{"one", "two", "three"} {
		r.kill(r.server())
		if out, code := r.run("-w", "f", w); code != 0 {
			t.Fatalf("attach -w f %s: exit %d: %s", w, code, out)
		}
		want += w + "\n"
		timeout := time.After(guard)
		for {
			b, _ := os.ReadFile(got)
			if string(b) == want {
				break
			}
			if !strings.HasPrefix(want, string(b)) {
				t.Fatalf("the program read %q, want %q", b, want)
			}
			select {
			case <-timeout:
				t.Fatalf("the program read %q, want %q", b, want)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	r.run("-k", "f")
}

// Without $XDG_STATE_HOME the history is in $HOME/.local/state/attach,
// made mode 0700 (SPEC §11.6).
func TestAttachHistoryInHome(t *testing.T) {
	r := newRedial(t)
	home := t.TempDir()
	r.environ = append(r.environ, "HOME="+home, "XDG_STATE_HOME=")
	if out, code := r.run("-l"); code != 0 || out != "" {
		t.Fatalf("attach -l: exit %d, %q", code, out)
	}
	for _, d := range []string{".local", ".local/state", ".local/state/attach"} {
		if fi, err := os.Stat(filepath.Join(home, d)); err != nil || fi.Mode().Perm() != 0700 {
			t.Errorf("%s: %v, want a directory of mode 0700", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".local/state/attach/lock")); err != nil {
		t.Errorf("mq -r does not use $HOME/.local/state/attach: %v", err)
	}
	r.kill(r.server())
}

// waitOutput attaches to session id with no input until what it
// prints is want; it fails on anything else but a part of want.
func waitOutput(t *testing.T, run func(...string) (string, int), id, want string) {
	t.Helper()
	timeout := time.After(guard)
	for {
		out, code := run(id)
		if code != 0 || !strings.HasPrefix(want, out) {
			t.Fatalf("attach %s: exit %d, %q; want %q", id, code, out, want)
		}
		if out == want {
			return
		}
		select {
		case <-timeout:
			t.Fatalf("attach %s: %q, want %q", id, out, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// redial is the default attach service of a test's own, started by
// attach and its supervisors through a wrapper of mq on $PATH that
// notes each one's pid and waits while the file hold exists.
type redial struct {
	t       *testing.T
	ns      string
	pids    string // the pids of the mq started, a line each
	hold    string
	environ []string
	sock    string
}

func newRedial(t *testing.T) *redial {
	wrap := t.TempDir()
	r := &redial{t: t, ns: t.TempDir(), pids: filepath.Join(wrap, "pids"), hold: filepath.Join(wrap, "hold")}
	// Once the test is over (the file done exists) it starts none.
	done := filepath.Join(wrap, "done")
	script := fmt.Sprintf("#!/bin/sh\nwhile [ -e %s ]; do sleep 0.01; done\n[ -e %s ] || [ ! -d %s ] && exit 1\necho $$ >>%s\nexec %s \"$@\"\n",
		r.hold, done, wrap, r.pids, bin("mq"))
	if err := os.WriteFile(filepath.Join(wrap, "mq"), []byte(script), 0755); err != nil {
		t.Fatal(err)
	}
	r.environ = append(env(r.ns),
		"PATH="+wrap+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GORACE=atexit_sleep_ms=0 log_path="+raceLogs(t)+"/race")
	r.sock = filepath.Join(r.ns, "attach-"+owner(t))
	t.Cleanup(func() {
		// Sessions left are killed, so that their supervisors do
		// not start mq again once it is killed.
		os.Remove(r.hold)
		if out, code := r.run("-l"); code == 0 {
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					r.run("-k", f[0])
				}
			}
		}
		os.WriteFile(done, nil, 0644)
		for _, pid := range livePids(r.pids) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return r
}

// run runs attach with args and returns its output and exit status.
func (r *redial) run(args ...string) (string, int) {
	r.t.Helper()
	cmd := exec.Command(bin("attach"), args...)
	cmd.Env = r.environ
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}

// server waits until one mq is alive and answers, and returns its pid.
func (r *redial) server() int {
	r.t.Helper()
	return waitServer(r.t, r.pids, r.sock)
}

// kill kills mq pid with SIGKILL and waits until it is gone.
func (r *redial) kill(pid int) {
	r.t.Helper()
	syscall.Kill(pid, syscall.SIGKILL)
	waitGone(r.t, pid)
}

// waitExit attaches to session id until the program's exit, and
// returns what the attacher printed.
func waitExit(t *testing.T, run func(...string) (string, int), id string) string {
	t.Helper()
	timeout := time.After(guard)
	for {
		out, code := run(id)
		if strings.HasSuffix(out, "attach: "+id+": exit 0\n") {
			return out
		}
		if code != 0 {
			t.Fatalf("attach %s: exit %d: %s", id, code, out)
		}
		select {
		case <-timeout:
			t.Fatalf("session %s did not end; last output:\n%s", id, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkCounter checks out is the lines 0, 1, ... n-1, end, and the exit
// line; it returns n.
func checkCounter(t *testing.T, out string) int {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 3 || lines[len(lines)-1] != "attach: count: exit 0" || lines[len(lines)-2] != "end" {
		t.Fatalf("output does not end with end and the exit line:\n%s", out)
	}
	nums := lines[:len(lines)-2]
	for i, l := range nums {
		if l != strconv.Itoa(i) {
			t.Fatalf("line %d of the counter is %q, want %d (a gap or a repeat); output:\n%s", i, l, i, out)
		}
	}
	return len(nums)
}

// waitCount waits until the number in file is more than min, and
// returns it.
func waitCount(t *testing.T, file string, min int) int {
	t.Helper()
	timeout := time.After(guard)
	for {
		if b, err := os.ReadFile(file); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > min {
				return n
			}
		}
		select {
		case <-timeout:
			t.Fatalf("%s did not pass %d", file, min)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitServer waits until one mq of those listed in pids is alive and
// its socket answers, and returns its pid.
func waitServer(t *testing.T, pids, sock string) int {
	t.Helper()
	timeout := time.After(guard)
	for {
		if live := livePids(pids); len(live) == 1 {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				return live[0]
			}
		}
		select {
		case <-timeout:
			t.Fatalf("no one mq serving %s; pids %v", sock, livePids(pids))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// livePids are the processes listed in file that are alive (not
// zombies).
func livePids(file string) []int {
	b, _ := os.ReadFile(file)
	var live []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && !strings.HasPrefix(string(stat[i:]), ") Z") {
			live = append(live, pid)
		}
	}
	return live
}

// waitGone waits until process pid is gone or a zombie with no thread
// left but its first: then its files are closed (its threads hold them
// for a while after /proc shows it a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	timeout := time.After(guard)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if strings.Contains(string(stat), ") Z") {
			if tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err != nil || len(tasks) <= 1 {
				return
			}
		}
		select {
		case <-timeout:
			t.Fatalf("pid %d did not die", pid)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func readPid(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil
}

// A write the service logged but whose reply the broken connection
// lost is not written again: a proxy between the supervisor and mq -r
// cuts the connection in place of passing on an Rwrite, several times,
// while the program prints a counter; fd1 has no repeat and no gap
// (SPEC §11.6, §11.3).
func TestAttachLostReply(t *testing.T) {
	s := startMQ(t, "-r", filepath.Join(t.TempDir(), "hist"))
	p := newCutter(t, filepath.Join(s.ns, "p"), s.socket())
	work := t.TempDir()
	stop, last := filepath.Join(work, "stop"), filepath.Join(work, "last")
	t.Cleanup(func() { os.WriteFile(stop, nil, 0644) })
	counter := fmt.Sprintf("i=0; while [ ! -e %s ]; do echo $i; echo $i >%s; i=$((i+1)); sleep 0.01; done; echo end", stop, last)
	if out, code := runProc(t, s.ns, "", bin("attach"), "-s", "p", "-c", "count", "sh", "-c", counter); code != 0 {
		t.Fatalf("attach -c count: exit %d: %s", code, out)
	}
	const cuts = 5
	for k := 0; k < cuts; k++ {
		p.cut(t)
	}
	waitCount(t, last, waitCount(t, last, -1)+3)
	os.WriteFile(stop, nil, 0644)
	run := func(args ...string) (string, int) {
		return runProc(t, s.ns, "", bin("attach"), append([]string{"-s", "mq"}, args...)...)
	}
	n := checkCounter(t, waitExit(t, run, "count"))
	t.Logf("counter 0..%d with no gap or repeat; %d replies to logged writes lost", n-1, cuts)
}

// A cutter passes 9P between clients on a socket of its own and a
// server, and when asked cuts the connection that the next Rwrite comes
// on, dropping the Rwrite.
type cutter struct {
	armed chan struct{} // a token: cut at the next Rwrite
	done  chan struct{} // a token for each cut made
}

func newCutter(t *testing.T, sock, server string) *cutter {
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &cutter{armed: make(chan struct{}, 1), done: make(chan struct{}, 1)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.pass(c, server)
		}
	}()
	return p
}

// cut has the next Rwrite's connection cut and waits until it is.
func (p *cutter) cut(t *testing.T) {
	t.Helper()
	p.armed <- struct{}{}
	select {
	case <-p.done:
	case <-time.After(guard):
		t.Fatal("no Rwrite came to cut")
	}
}

func (p *cutter) pass(c net.Conn, server string) {
	defer c.Close()
	s, err := net.Dial("unix", server)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		io.Copy(s, c)
		s.Close()
	}()
	const rwrite = 119
	for {
		var size [4]byte
		if _, err := io.ReadFull(s, size[:]); err != nil {
			return
		}
		n := int(size[0]) | int(size[1])<<8 | int(size[2])<<16 | int(size[3])<<24
		if n < 7 {
			return
		}
		msg := make([]byte, n)
		copy(msg, size[:])
		if _, err := io.ReadFull(s, msg[4:]); err != nil {
			return
		}
		if msg[4] == rwrite {
			select {
			case <-p.armed:
				p.done <- struct{}{}
				return
			default:
			}
		}
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}

// While mq refuses the session's output ("no buffer space": other
// groups hold all that its -M cap allows, as they might a full disk),
// the supervisor holds what the program wrote and tries it again; once
// there is room it is all delivered, in order, with no gap and no
// repeat, and then the exit status (SPEC §11.6, §7.2).
func TestAttachOutputRefused(t *testing.T) {
	const capBytes = 64 << 10
	s := startMQ(t, "-M", "64K")
	fs := s.attach(t, owner(t), "")
	hog, err := fs.Create("hog", plan9.OREAD, plan9.DMDIR|0775)
	if err != nil {
		t.Fatal(err)
	}
	hog.Close()
	ctl, err := fs.Open("hog/ctl", plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if _, err := ctl.Write([]byte("replay all\n")); err != nil {
		t.Fatal(err)
	}
	w, err := fs.Create("hog/s", plan9.OWRITE, 0664)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < capBytes/8192; i++ {
		if _, err := w.Write(bytes.Repeat([]byte("h"), 8192)); err != nil {
			t.Fatal(err)
		}
	}

	done := filepath.Join(t.TempDir(), "done")
	counter := fmt.Sprintf("i=0; while [ $i -lt 200 ]; do echo $i; i=$((i+1)); done; echo end; touch %s", done)
	attachOK(t, s, "-c", "count", "sh", "-c", counter)
	timeout := time.After(guard)
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		select {
		case <-timeout:
			t.Fatal("the program did not finish printing")
		case <-time.After(5 * time.Millisecond):
		}
	}
	// All of it was refused so far.
	if d, err := fs.Stat("count/fd1"); err != nil || d.Length != 0 {
		t.Fatalf("count/fd1 before there is room: %v, %v; want 0 bytes", d, err)
	}
	if _, err := ctl.Write([]byte("clear\n")); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		return runProc(t, s.ns, "", bin("attach"), append([]string{"-s", s.name}, args...)...)
	}
	out := waitExit(t, run, "count")
	if n := checkCounter(t, out); n != 200 {
		t.Errorf("counter 0..%d, want 0..199", n-1)
	}
}
