package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"

	"9fans.net/go/plan9"

	"mq/internal/mqclient"
)

// supervisorArg, first on the command line, runs attach as a session's
// supervisor: the process that outlives the terminal, runs the
// program, passes notes to it and records its exit.
const supervisorArg = "-supervise-session"

// launcherArg, first on the command line, runs attach as the launcher
// of a session's program (Linux): it puts itself under the filter that
// passes large writes to the supervisor, then executes the program.
// lingerArg runs it as what answers that filter once the supervisor
// has gone (launch_linux.go).
const (
	launcherArg = "-launch-program"
	lingerArg   = "-answer-writes"
)

// Supervisor arguments say how the program is run: on a
// pseudo-terminal, or not.
const (
	onTerminal = "-t"
	onFiles    = "-f"
)

// startSupervisor starts the supervisor of session id, detached, and
// returns once it has started the program or failed to.
func startSupervisor(srv, id string, terminal bool, argv []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	how := onFiles
	if terminal {
		how = onTerminal
	}
	cmd := exec.Command(self, append([]string{supervisorArg, srv, id, how}, argv...)...)
	cmd.ExtraFiles = []*os.File{w} // its fd 3: "ok", or why not
	cmd.SysProcAttr = detached()
	err = cmd.Start()
	w.Close()
	if err != nil {
		return err
	}
	line, _ := bufio.NewReader(r).ReadString('\n')
	cmd.Process.Release()
	switch line {
	case "ok\n":
		return nil
	case "":
		return errors.New("supervisor died")
	}
	return errors.New(strings.TrimSuffix(line, "\n"))
}

// A proc is the program of a session, as its supervisor sees it.
type proc interface {
	note(n string) // post a Plan 9 note: interrupt, hangup, kill
	wait() string  // wait for exit; the status line
}

// superviseMain is the supervisor: args are srv, id, how the program
// is run and the command.
func superviseMain(args []string) {
	closeInherited()
	report := os.NewFile(3, "report")
	fail := func(err error) {
		fmt.Fprintf(report, "%v\n", err)
		os.Exit(1)
	}
	if len(args) < 4 {
		fail(errors.New("bad supervisor arguments"))
	}
	srv, id, how, argv := args[0], args[1], args[2], args[3:]
	detachSignals()
	fs, err := superviseService(srv)
	if err != nil {
		fail(err)
	}
	status := mustOpen(fs, id, "status", plan9.OWRITE, fail)
	ctl := mustOpen(fs, id, "ctl", plan9.OWRITE, fail)
	notes := mustOpen(fs, id, "note", plan9.OREAD, fail)
	var p proc
	if how == onTerminal {
		p, err = startTerminal(fs, id, argv)
	} else {
		p, err = start(fs, id, argv)
	}
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(report, "ok\n")
	report.Close()

	go passNotes(fs, path.Join(id, "note"), notes, p)
	go func() {
		<-mqclient.Lost(fs)
		// The service is gone, and with it the session: nothing
		// the program does can reach anyone now.
		p.note("hangup")
		os.Exit(1)
	}()
	status.Write([]byte(p.wait() + "\n"))
	// Readers of the output files see its end (SPEC §4.2).
	ctl.Write([]byte("eof fd1\neof fd2\n"))
}

// passNotes posts each message written to note to the program. When
// the session is removed under it, the program is hung up on.
func passNotes(fs mqclient.FS, name string, f mqclient.File, p proc) {
	buf := make([]byte, fs.MsgSize())
	for {
		n, err := f.Read(buf)
		switch {
		case n > 0:
			p.note(strings.TrimSpace(string(buf[:n])))
		case mqclient.IsFellBehind(err):
		case err != nil && err != io.EOF || fs.Gone(f, name):
			p.note("hangup")
			return
		}
	}
}

func mustOpen(fs mqclient.FS, id, name string, mode uint8, fail func(error)) mqclient.File {
	f, err := fs.Open(path.Join(id, name), mode)
	if err != nil {
		fail(mqclient.PathErr(path.Join(id, name), err))
	}
	return f
}
