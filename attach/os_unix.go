//go:build !plan9

package main

import (
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strconv"
	"syscall"
	"time"

	"9fans.net/go/plan9"

	"mq/internal/mqclient"
)

// outputGrace is how long, after the program exits, output is still
// passed on while programs it left running hold its standard output or
// error.
const outputGrace = time.Second

func defaultCommand() []string {
	if sh := os.Getenv("SHELL"); sh != "" {
		return []string{sh, "-i"}
	}
	return []string{"/bin/sh", "-i"}
}

// exitCode is the status attach exits with: the program's. A session
// whose program ran on Plan 9 says ok for success.
func exitCode(status string) int {
	if status == "ok" {
		return 0
	}
	n, err := strconv.Atoi(status)
	if err != nil || n < 0 || n > 255 {
		return 1
	}
	return n
}

// detached puts the supervisor in a session of its own, away from the
// terminal and its hangup.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// closeInherited keeps the files the supervisor was started with, bar
// standard input, output and error, from the program: the report pipe,
// and whatever the terminal's shell left open.
func closeInherited() {
	var lim syscall.Rlimit
	n := 1024
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		n = int(min(lim.Cur, 1<<16))
	}
	for fd := 3; fd < n; fd++ {
		syscall.CloseOnExec(fd)
	}
}

// detachSignals keeps the supervisor from dying of a terminal's
// signals. They are caught rather than ignored so that the program,
// which gets default handling across exec, can still be interrupted
// even if attach itself was started with them ignored.
func detachSignals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		for range c {
		}
	}()
}

// unixProc is the program in a process group of its own, its input
// pumped from fd0 and its output and errors passed through one queue
// to fd1 and fd2.
type unixProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited
	passed chan struct{} // closed when its output has all been spooled
	spool  *spool        // what it wrote, on its way to fd1 and fd2
}

func start(fs mqclient.FS, id string, argv []string) (proc, error) {
	in, err := fs.Open(path.Join(id, "fd0"), plan9.OREAD)
	if err != nil {
		return nil, err
	}
	out, err := fs.Open(path.Join(id, "fd1"), plan9.OWRITE)
	if err != nil {
		return nil, err
	}
	errs, err := fs.Open(path.Join(id, "fd2"), plan9.OWRITE)
	if err != nil {
		return nil, err
	}
	q, err := newOutQueue()
	if err != nil {
		return nil, err
	}
	// Input stays a pipe: a program may read it a byte at a time,
	// which would drop the rest of a datagram.
	stdin, stdinW, err := os.Pipe()
	if err != nil {
		q.close()
		return nil, err
	}
	cmd, notify, err := startProgram(func() *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, q.files[0], q.files[1]
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}, q.limit)
	stdin.Close()
	q.closeSenders()
	if err != nil {
		stdinW.Close()
		q.close()
		return nil, err
	}
	q.notify = notify
	p := &unixProc{cmd: cmd, exited: make(chan struct{}), passed: make(chan struct{})}
	// Each write of the program is one message, or a few of at most
	// msgMax bytes each, one after another. The spool holds them
	// while the service is away (SPEC §11.6).
	p.spool = newSpool([2]io.Writer{msgWriter{out}, msgWriter{errs}}, spoolMax)
	go q.run(p.spool.writers(), p.exited, p.passed)
	go pumpInput(fs, in, stdinW)
	return p, nil
}

// pumpInput passes fd0's messages to the program's standard input,
// which it closes when fd0 ends (an eof written to ctl, or removal).
func pumpInput(fs mqclient.FS, in mqclient.File, w io.WriteCloser) {
	defer w.Close()
	buf := make([]byte, fs.MsgSize())
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			continue
		}
		if !mqclient.IsFellBehind(err) {
			return
		}
	}
}

var noteSignals = map[string]syscall.Signal{
	"interrupt": syscall.SIGINT,
	"hangup":    syscall.SIGHUP,
	"kill":      syscall.SIGKILL,
}

func (p *unixProc) note(n string) {
	if sig, ok := noteSignals[n]; ok {
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// wait waits for the program to exit and its output to be passed on.
func (p *unixProc) wait() string {
	p.cmd.Wait()
	close(p.exited)
	<-p.passed
	p.spool.close()
	return waitStatus(p.cmd)
}

// waitStatus is the exit status of cmd, which has exited, as shells
// report it: the exit code, or 128+N for signal N.
func waitStatus(cmd *exec.Cmd) string {
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return strconv.Itoa(cmd.ProcessState.ExitCode())
	case ws.Signaled():
		return strconv.Itoa(128 + int(ws.Signal()))
	}
	return strconv.Itoa(ws.ExitStatus())
}
