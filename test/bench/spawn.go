//go:build !plan9

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// child is one server process, fresh for each measurement.
type child struct {
	kind   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	probe  string // its probe socket
	listen string // its Unix socket in listen mode, else ""
	pc     net.Conn
	pr     *bufio.Reader
}

// bench holds what every measurement needs.
type bench struct {
	self   string // this program, re-run as the baseline servers
	mq     string // the mq binary
	mq0    string // -mq0: an earlier mq to compare with
	tmp    string
	nprobe int
	extra  []string // more arguments for mq (workload R)
	nprof  int
}

// spawn starts a server of kind speaking 9P on one end of a socketpair
// as its standard input and output (mq's no-flag mode) and returns the
// other end. With listen, it serves a Unix socket instead and the
// connection is nil.
func (b *bench) spawn(kind string, listen bool) (*child, net.Conn, error) {
	b.nprobe++
	ch := &child{kind: kind, stderr: new(bytes.Buffer), probe: filepath.Join(b.tmp, fmt.Sprintf("probe%d", b.nprobe))}
	var args []string
	if listen {
		ch.listen = filepath.Join(b.tmp, fmt.Sprintf("srv%d", b.nprobe))
	}
	switch kind {
	case "mq", "mq0":
		ch.cmd = exec.Command(b.mq)
		if kind == "mq0" {
			ch.cmd = exec.Command(b.mq0)
		}
		if listen {
			args = []string{"-a", "unix!" + ch.listen}
		}
		args = append(args, b.extra...)
	default:
		ch.cmd = exec.Command(b.self)
		args = []string{"-serve", kind}
		if listen {
			args = append(args, "-listen", ch.listen)
		}
	}
	ch.cmd.Args = append(ch.cmd.Args, args...)
	ch.cmd.Env = append(os.Environ(), "MQBENCH_PROBE="+ch.probe)
	ch.cmd.Stderr = ch.stderr
	var conn net.Conn
	if !listen {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, nil, err
		}
		theirs := os.NewFile(uintptr(fds[1]), "9p")
		ours := os.NewFile(uintptr(fds[0]), "9p")
		ch.cmd.Stdin, ch.cmd.Stdout = theirs, theirs
		err = ch.cmd.Start()
		theirs.Close()
		if err == nil {
			conn, err = net.FileConn(ours)
		}
		ours.Close()
		if err != nil {
			ch.stop()
			return nil, nil, err
		}
	} else if err := ch.cmd.Start(); err != nil {
		return nil, nil, err
	}
	if err := ch.waitProbe(); err != nil {
		if conn != nil {
			conn.Close()
		}
		ch.stop()
		return nil, nil, err
	}
	return ch, conn, nil
}

// waitProbe waits until the child answers on its probe socket (and on
// its listening socket, if any), so start-up is never timed.
func (ch *child) waitProbe() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", ch.probe)
		if err == nil && ch.listen != "" {
			var l net.Conn
			if l, err = net.Dial("unix", ch.listen); err == nil {
				l.Close()
			} else {
				c.Close()
			}
		}
		if err == nil {
			ch.pc, ch.pr = c, bufio.NewReader(c)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not start: %v; stderr: %s", ch.kind, err, ch.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ask sends one probe command and returns its reply line.
func (ch *child) ask(cmd string) (string, error) {
	if _, err := fmt.Fprintln(ch.pc, cmd); err != nil {
		return "", err
	}
	line, err := ch.pr.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "error ") {
		return "", fmt.Errorf("%s probe: %s", ch.kind, line)
	}
	return line, nil
}

// heap is the child's live memory after a collection: heap objects
// and goroutine stacks, since a parked goroutine costs its stack.
func (ch *child) heap() (int64, error) {
	h, s, err := ch.mem()
	return h + s, err
}

// mem is the child's live heap and goroutine stacks, after a collection.
func (ch *child) mem() (heap, stack int64, err error) {
	line, err := ch.ask("mem")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(line)
	if len(f) < 4 {
		return 0, 0, fmt.Errorf("probe: %q", line)
	}
	h, err1 := strconv.ParseInt(f[1], 10, 64)
	s, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("probe: %q", line)
	}
	return h, s, nil
}

// rss is the child's resident set size in bytes.
func (ch *child) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ch.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

// cpu is the CPU time the child's threads have used so far.
func (ch *child) cpu() time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", ch.cmd.Process.Pid)
	tasks, _ := os.ReadDir(dir)
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			ns += n
		}
	}
	return time.Duration(ns)
}

func (ch *child) stop() {
	if ch.pc != nil {
		ch.pc.Close()
	}
	ch.cmd.Process.Kill()
	ch.cmd.Wait()
	if ch.listen != "" {
		os.Remove(ch.listen)
	}
	os.Remove(ch.probe)
}

// buildMQ builds mq from the module holding this harness, adding the
// probe import through a build overlay so mq's sources stay as they are.
// root is the module's directory, "" for the one holding the harness.
func buildMQ(tmp, root, name string) (string, error) {
	if root == "" {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			return "", fmt.Errorf("go env GOMOD: %v", err)
		}
		root = filepath.Dir(strings.TrimSpace(string(out)))
	}
	src := filepath.Join(tmp, "probe_import.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport _ \"mq/test/bench/probe\"\n"), 0644); err != nil {
		return "", err
	}
	ov, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(root, "zz_benchprobe.go"): src}})
	ovf := filepath.Join(tmp, name+".overlay.json")
	if err := os.WriteFile(ovf, ov, 0644); err != nil {
		return "", err
	}
	bin := filepath.Join(tmp, name)
	cmd := exec.Command("go", "build", "-overlay", ovf, "-o", bin, ".")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building mq: %v", err)
	}
	return bin, nil
}

// pin sets the CPU affinity of every thread of this process to cpu, or
// to every CPU when cpu < 0. Children inherit it.
func pin(cpu int) error {
	var mask [16]uint64
	if cpu < 0 {
		for i := range mask {
			mask[i] = ^uint64(0)
		}
	} else {
		mask[cpu/64] = 1 << (cpu % 64)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
		if e != 0 && e != syscall.ESRCH {
			return fmt.Errorf("sched_setaffinity: %v", e)
		}
	}
	return nil
}
