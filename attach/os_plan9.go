//go:build plan9

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"syscall"

	"9fans.net/go/plan9"

	"mq/internal/exits"
	"mq/internal/mqclient"
)

// connect mounts service srv on /n/srv, posting it first with
// `mq -r dir -s srv` (which returns once it is posted; dir:
// historyDir) if need be.
func connect(srv string) mqclient.FS {
	if _, err := os.Stat("/srv/" + srv); err != nil && !mqclient.Mounted("/n/"+srv) {
		mq, err := exec.LookPath("mq")
		if err != nil {
			fatal("%s: service not running, and mq is not in the path", srv)
		}
		dir, err := historyDir(srv)
		if err != nil {
			fatal("%s: %v", srv, err)
		}
		// Its errors go straight to ours: a pipe would be held open
		// by the server it leaves running.
		cmd := exec.Command(mq, "-r", dir, "-s", srv)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fatal("%s: mq -r %s -s %s: %v", srv, dir, srv, err)
		}
	}
	fs, err := mqclient.Service(srv)
	if err != nil {
		fatal("%s: service unreachable: %v", srv, err)
	}
	return fs
}

func defaultCommand() []string { return []string{"rc", "-i"} }

// stateBase is $home/lib, where Plan 9 programs keep a user's files.
func stateBase() (string, error) {
	home := os.Getenv("home")
	if home == "" {
		return "", errors.New("$home is not set")
	}
	return home + "/lib", nil
}

func mkdirPrivate(dir string) error { return os.MkdirAll(dir, 0700) }

// exitStatus exits as the program did (SPEC §10): with its exit
// string, so that $status shows it, or successfully for ok, or for 0
// from a program that ran on Unix.
func exitStatus(status string) {
	if status == "ok" || status == "0" {
		status = ""
	}
	exits.Exit(status)
}

// detached gives the supervisor a note group of its own, so closing
// the window does not kill it, and a name space of its own (a copy of
// the caller's), where it mounts the service and the program's files.
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Rfork: syscall.RFNOTEG | syscall.RFNAMEG}
}

func detachSignals() {}

// closeInherited has nothing to do: Plan 9's exec passes a program only
// the files it is given.
func closeInherited() {}

// plan9Proc is the program in a note group of its own. Its standard
// files are served by the supervisor (fdServer), which passes what it
// writes on through a spool to the session's streams, and gives it
// input from fd0, across restarts of mq (SPEC §11.6).
type plan9Proc struct {
	cmd   *exec.Cmd
	spool *spool // what it wrote, on its way to fd1 and fd2
}

func start(fs mqclient.FS, id string, argv []string) (proc, error) {
	var streams []mqclient.File
	for _, s := range []struct {
		name string
		mode uint8
	}{{"fd0", plan9.OREAD}, {"fd1", plan9.OWRITE}, {"fd2", plan9.OWRITE}} {
		f, err := fs.Open(path.Join(id, s.name), s.mode)
		if err != nil {
			return nil, err
		}
		streams = append(streams, f)
	}
	sp := newSpool([2]io.Writer{msgWriter{streams[1]}, msgWriter{streams[2]}}, spoolMax)
	files, err := serveFiles(fs, path.Join(id, "fd0"), streams[0], sp.writers())
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	cmd.SysProcAttr = &syscall.SysProcAttr{Rfork: syscall.RFNOTEG}
	err = cmd.Start()
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return nil, err
	}
	return &plan9Proc{cmd, sp}, nil
}

// note posts n to the program's note group. kill is not a note a
// program can catch or ignore (rc would exit with its last command's
// status, often ok): as kill(1) does, it kills the whole note group
// through the program's ctl file, as SIGKILL does on Unix.
func (p *plan9Proc) note(n string) {
	if n == "" {
		return
	}
	if n == "kill" && procWrite(p.cmd.Process.Pid, "ctl", "killgrp") == nil {
		return
	}
	procWrite(p.cmd.Process.Pid, "notepg", n)
}

func procWrite(pid int, file, s string) error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/%s", pid, file), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(s))
	f.Close()
	return err
}

// wait returns the program's exit string, or ok when it is empty.
func (p *plan9Proc) wait() string {
	p.cmd.Wait()
	// Each write it made was answered once spooled: all it wrote is
	// in the spool now.
	p.spool.close()
	if w, ok := p.cmd.ProcessState.Sys().(*syscall.Waitmsg); ok {
		return exitString(w.Msg)
	}
	return "ok"
}
