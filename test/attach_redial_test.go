//go:build !plan9

package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
	ns := t.TempDir()
	wrap := t.TempDir()
	work := t.TempDir()
	pids := filepath.Join(wrap, "pids")
	hold := filepath.Join(wrap, "hold")
	// mq, on $PATH, as attach and the supervisor start it: it waits
	// while hold exists, then notes its pid.
	script := fmt.Sprintf("#!/bin/sh\nwhile [ -e %s ]; do sleep 0.01; done\necho $$ >>%s\nexec %s \"$@\"\n", hold, pids, bin("mq"))
	if err := os.WriteFile(filepath.Join(wrap, "mq"), []byte(script), 0755); err != nil {
		t.Fatal(err)
	}
	environ := append(env(ns),
		"PATH="+wrap+string(os.PathListSeparator)+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GORACE=atexit_sleep_ms=0 log_path="+raceLogs(t)+"/race")
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin("attach"), args...)
		cmd.Env = environ
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	stop, last, super := filepath.Join(work, "stop"), filepath.Join(work, "last"), filepath.Join(work, "super")
	t.Cleanup(func() {
		if pid, ok := readPid(super); ok {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.WriteFile(stop, nil, 0644)
		for _, pid := range livePids(pids) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	counter := fmt.Sprintf("echo $PPID >%s; i=0; while [ ! -e %s ]; do echo $i; echo $i >%s; i=$((i+1)); sleep 0.01; done; echo end",
		super, stop, last)
	if out, code := run("-c", "count", "sh", "-c", counter); code != 0 {
		t.Fatalf("attach -c count: exit %d: %s", code, out)
	}
	sock := filepath.Join(ns, "attach-"+owner(t))
	server := waitServer(t, pids, sock)
	held := 0
	for k := 0; k < redialKills; k++ {
		// Down until the program has printed heldLines more.
		if err := os.WriteFile(hold, nil, 0644); err != nil {
			t.Fatal(err)
		}
		syscall.Kill(server, syscall.SIGKILL)
		from := waitCount(t, last, -1)
		to := waitCount(t, last, from+heldLines)
		held += to - from
		os.Remove(hold)
		server = waitServer(t, pids, sock)
	}

	// fd1 whole, once the program has ended.
	os.WriteFile(stop, nil, 0644)
	out := waitExit(t, run, "count")
	n := checkCounter(t, out)
	t.Logf("counter 0..%d with no gap or repeat across %d kills of mq; at least %d lines written while it was down", n-1, redialKills, held)

	// The history survives a restart of mq too once the program has
	// exited: attach starts it again.
	syscall.Kill(server, syscall.SIGKILL)
	waitGone(t, server)
	again, code := run("count")
	if diff := cmp.Diff(out, again); code != 0 || diff != "" {
		t.Errorf("attach count after a restart of mq: exit %d, output (-before +after):\n%s", code, diff)
	}
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

func waitGone(t *testing.T, pid int) {
	t.Helper()
	timeout := time.After(guard)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
			return
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(b), ") Z") {
			return
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
