//go:build plan9

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"mq/internal/exits"
	"mq/internal/mqclient"
)

// On Plan 9, -s and -m work as lib9p's postmountsrv does: the command
// the user ran makes a pipe, posts one end in /srv, starts the server
// in the background on the other end, mounts the service if asked,
// and returns. Go cannot fork without exec, so the background server
// is this program run again, told by childEnv which descriptors it
// inherited.
const (
	childEnv = "mqservechild" // set in the server child's environment

	childConnFd   = 3 // the server's end of the 9P pipe
	childReadyFd  = 4 // written and closed once the child serves
	childStderrFd = 5 // the user's standard error, for -D
	// 6 is the /srv file, left open until the child exits
)

// ORCLOSE in open(2): remove the file when the last reference to it is
// closed. Go's syscall package does not name it.
const oRCLOSE = 64

// currentUser is the user this process runs as, as getuser(2) reads
// it from /dev/user (cons(3)).
func currentUser() string { return mqclient.User() }

// background does the command's half of -s and -m (SPEC §2): post,
// start the server child, wait until it serves, mount. It reports
// true when this process is that command and should exit, false in
// the server child, which goes on to serveService.
func background(o *options) (bool, error) {
	if os.Getenv(childEnv) != "" {
		return false, nil
	}
	// pipe(2): a bidirectional channel; one end is the service, the
	// other is served by the child.
	srvEnd, childEnd, err := os.Pipe()
	if err != nil {
		return true, err
	}
	defer srvEnd.Close()
	var posted *os.File
	if o.srvname != "" {
		if posted, err = post(o.srvname, srvEnd); err != nil {
			childEnd.Close()
			return true, err
		}
		defer posted.Close()
	}
	child, err := startChild(childEnd, posted)
	childEnd.Close() // the child has its own copy now
	if err != nil {
		return true, err
	}
	if o.mtpt != "" {
		// mount(2): MREPL replaces what is at mtpt, MCREATE lets
		// creates go through to mq. Our name space is the calling
		// shell's (rc forks without RFNAMEG), so the shell sees it.
		err := syscall.Mount(int(srvEnd.Fd()), -1, o.mtpt, syscall.MREPL|syscall.MCREATE, "")
		if err != nil {
			// All or nothing: a server nobody can use is not left posted.
			child.Process.Kill()
			return true, fmt.Errorf("mount %s: %v", o.mtpt, err)
		}
	}
	return true, nil
}

// post creates /srv/name and writes the descriptor number of end into
// it, as srv(3) and postfd(2) describe. The entry is created mode 0600
// with ORCLOSE, so it goes away when the last holder of the returned
// file, the server child, exits; OEXCL makes a taken name an error
// ("file already exists") rather than an open of the old entry.
func post(name string, end *os.File) (*os.File, error) {
	if name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("bad service name %q", name)
	}
	path := "/srv/" + name
	fd, err := syscall.Create(path, syscall.O_WRONLY|oRCLOSE|syscall.O_EXCL, 0600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %v", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if _, err := f.WriteString(strconv.Itoa(int(end.Fd()))); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %v", path, err)
	}
	return f, nil
}

// startChild runs this program again as the server, with the same
// arguments, and waits until it serves. fork(2): RFNOTEG puts it in a
// note group of its own, so the interrupt and hangup notes of the
// window that started it do not reach it; RFNAMEG gives it a copy of
// the name space, as lib9p gives its server procs, so the mount made
// here afterwards is the caller's alone. The child inherits conn and,
// when posting, the /srv file, whose ORCLOSE it then carries.
//
// Until it serves, the child's standard error comes back here, so that
// what goes wrong in start-up is reported by this command; then it is
// the user's for -D, else /dev/null, so a caller reading our standard
// error to its end (attach does) is not kept waiting by the server.
func startChild(conn, posted *os.File) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer ready.Close()
	errs, errsW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, err
	}
	defer errs.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = errsW
	cmd.ExtraFiles = []*os.File{conn, readyW, os.Stderr, posted}
	cmd.SysProcAttr = &syscall.SysProcAttr{Rfork: syscall.RFNOTEG | syscall.RFNAMEG}
	err = cmd.Start()
	readyW.Close()
	errsW.Close()
	if err != nil {
		return nil, err
	}
	said := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(errs)
		said <- string(b)
	}()
	// "ok" and end of file once it serves; end of file alone if not.
	ok, _ := io.ReadAll(ready)
	lines := strings.Split(strings.TrimSpace(<-said), "\n")
	if string(ok) == "ok" {
		for _, l := range lines {
			if l != "" {
				fmt.Fprintln(os.Stderr, l) // warnings, such as -a's
			}
		}
		return cmd, nil
	}
	cmd.Wait()
	for _, l := range lines[:len(lines)-1] {
		fmt.Fprintln(os.Stderr, l)
	}
	if why := strings.TrimPrefix(lines[len(lines)-1], "mq: "); why != "" {
		return nil, errors.New(why)
	}
	return nil, errors.New("server did not start")
}

// serveService is the server child's part (SPEC §2): tell the command
// it serves, then serve the 9P pipe inherited from background until
// every mount of it is gone and the /srv entry is removed (the kernel
// then gives end of file), and exit, which closes the /srv file and so
// removes the entry if it is still there.
func serveService(s *server, o *options) error {
	if os.Getenv(childEnv) == "" {
		return errors.New("not started by mq -s or -m")
	}
	conn := os.NewFile(childConnFd, "/srv/"+o.srvname)
	ready := os.NewFile(childReadyFd, "ready")
	if _, err := ready.WriteString("ok"); err != nil {
		return err
	}
	// Standard error leaves the start-up pipe before ready is closed,
	// so the command sees end of file on both.
	if err := dupStderr(o.debug); err != nil {
		return err
	}
	ready.Close()
	s.serve(conn, 0)
	s.exit()
	return nil
}

// dupStderr makes standard error the user's (fd 5) for -D, else
// /dev/null, with dup(2).
func dupStderr(debug bool) error {
	defer syscall.Close(childStderrFd)
	if debug {
		_, err := syscall.Dup(childStderrFd, 2)
		return err
	}
	null, err := syscall.Open("/dev/null", syscall.O_WRONLY)
	if err != nil {
		return err
	}
	defer syscall.Close(null)
	_, err = syscall.Dup(null, 2)
	return err
}

// exitUsage exits with the status "usage", as Plan 9 commands do
// (SPEC §2).
func exitUsage() { exits.Exit("usage") }

func newStdio() stdio { return stdio{os.Stdin, os.Stdout} }

// exactDeadlines is false: a network connection's write deadline
// interrupts the write with a note, which the kernel takes only after
// queueing the data it was given (qbwrite waits for flow control last),
// and the write then reports none of it sent. Sending the rest again
// would send replies twice, so the reading goroutine never writes
// replies itself: the writer does, with no deadline until the end.
const exactDeadlines = false
