package main

import (
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// testQueueEnv, in the supervisor's environment, is for tests only:
// "small" gives the program's output the send buffer a stock Linux
// allows a user (so the largest datagram is 425952 bytes, as without
// CAP_NET_ADMIN), "nofilter" has the launcher run the program without
// the filter.
const testQueueEnv = "ATTACH_TEST_QUEUE"

// startProgram starts cmd, the program of a session without a
// terminal, under the write filter (seccomp_linux.go) for writes longer
// than limit, and returns the filter's listener, or -1 when the program
// runs without it: the system refused it, or is too old. Either way
// the program is run as cmd says. cmd is not started again if the
// launcher fails to start: newCmd makes a fresh one.
func startProgram(newCmd func() *exec.Cmd, limit int) (*exec.Cmd, int, error) {
	cmd := newCmd()
	if cmd.Err != nil {
		return cmd, -1, cmd.Start()
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return cmd, -1, cmd.Start()
	}
	mine, theirs := pair[0], os.NewFile(uintptr(pair[1]), "launcher")
	defer unix.Close(mine)
	path, args := cmd.Path, cmd.Args
	// The launcher is this program again: it installs the filter,
	// sends the listener back and executes path in place, with the
	// files, environment and process group that cmd gives it.
	cmd.Path = "/proc/self/exe"
	cmd.Args = append([]string{os.Args[0], launcherArg, strconv.Itoa(limit), path}, args...)
	cmd.ExtraFiles = []*os.File{theirs} // its fd 3
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		cmd = newCmd()
		return cmd, -1, cmd.Start()
	}
	// One message with the listener, or none; then the end (the
	// program was executed), or why it could not be.
	listener := -1
	for {
		buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := unix.Recvmsg(mine, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return cmd, listener, nil
		}
		if fds := rights(oob[:oobn]); len(fds) > 0 {
			listener = fds[0]
			continue
		}
		errno, _ := strconv.Atoi(string(buf[:n]))
		if listener >= 0 {
			unix.Close(listener)
		}
		cmd.Wait()
		return cmd, -1, &os.PathError{Op: "fork/exec", Path: path, Err: syscall.Errno(errno)}
	}
}

// rights are the files passed in control message oob.
func rights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		f, err := unix.ParseUnixRights(&m)
		if err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// launchMain is the launcher: args are the limit, the program's path
// and its argv. Fd 3 goes back to the supervisor.
func launchMain(args []string) {
	const back = 3
	unix.CloseOnExec(back)
	if len(args) < 3 {
		os.Exit(127)
	}
	limit, _ := strconv.Atoi(args[0])
	path, argv := args[1], args[2:]
	// The filter is the thread's, and passes to what it executes.
	runtime.LockOSThread()
	// "nofilter" is as where the system refuses the filter.
	if os.Getenv(testQueueEnv) != "nofilter" {
		if fd, err := installFilter(limit); err == nil {
			unix.Sendmsg(back, []byte("L"), unix.UnixRights(fd), nil, 0)
			unix.Close(fd)
		}
	}
	err := syscall.Exec(path, argv, os.Environ())
	errno, _ := err.(syscall.Errno)
	unix.Sendmsg(back, []byte(strconv.Itoa(int(errno))), nil, nil, 0)
	os.Exit(127)
}

// linger hands listener, which calls still use once the session's
// output has ended, to a process of its own (this program again) that
// lets each go on as without the filter until no process is left under
// it: without it, they would fail (ENOSYS) once the supervisor exits.
func linger(listener int) {
	f := os.NewFile(uintptr(listener), "listener")
	defer f.Close()
	cmd := exec.Command("/proc/self/exe", lingerArg)
	cmd.ExtraFiles = []*os.File{f}
	if cmd.Start() == nil {
		cmd.Process.Release()
	}
}

// lingerMain is that process: fd 3 is the listener.
func lingerMain() {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	const listener = 3
	for {
		fds := []unix.PollFd{{Fd: listener, Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			os.Exit(1)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			if n, err := receive(listener); err == nil {
				answer(listener, n.id, 0, true)
			}
			continue
		}
		os.Exit(0) // hung up: no process is left under the filter
	}
}
