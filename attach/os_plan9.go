//go:build plan9

package main

import (
	"errors"
	"fmt"
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

// superviseService is the service as the supervisor uses it. On Plan 9
// the program writes the mounted streams itself, and a supervisor does
// not outlive its service.
func superviseService(srv string) (mqclient.FS, error) { return mqclient.Service(srv) }

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
// string, so that $status shows it, or successfully for ok.
func exitStatus(status string) {
	if status == "ok" {
		status = ""
	}
	exits.Exit(status)
}

// detached gives the supervisor a note group of its own, so closing
// the window does not kill it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Rfork: syscall.RFNOTEG} }

func detachSignals() {}

// closeInherited has nothing to do: Plan 9's exec passes a program only
// the files it is given.
func closeInherited() {}

// plan9Proc is the program in a note group of its own, reading and
// writing the mounted streams directly.
type plan9Proc struct {
	cmd *exec.Cmd
}

func start(fs mqclient.FS, id string, argv []string) (proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var files []*os.File
	for _, s := range []struct {
		name string
		mode uint8
	}{{"fd0", plan9.OREAD}, {"fd1", plan9.OWRITE}, {"fd2", plan9.OWRITE}} {
		f, err := fs.Open(path.Join(id, s.name), s.mode)
		if err != nil {
			return nil, err
		}
		files = append(files, mqclient.OSFile(f))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	cmd.SysProcAttr = &syscall.SysProcAttr{Rfork: syscall.RFNOTEG}
	err := cmd.Start()
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return nil, err
	}
	return &plan9Proc{cmd}, nil
}

func (p *plan9Proc) note(n string) {
	if n == "" {
		return
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/notepg", p.cmd.Process.Pid), os.O_WRONLY, 0)
	if err != nil {
		return
	}
	f.Write([]byte(n))
	f.Close()
}

// wait returns the program's exit string, or ok when it is empty.
func (p *plan9Proc) wait() string {
	p.cmd.Wait()
	if w, ok := p.cmd.ProcessState.Sys().(*syscall.Waitmsg); ok {
		return exitString(w.Msg)
	}
	return "ok"
}
