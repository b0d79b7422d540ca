//go:build !plan9

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"mq/internal/mqclient"
)

// currentUser is the effective user's login name, else $USER (SPEC §3.1).
func currentUser() string { return mqclient.User() }

func exitUsage() { os.Exit(1) }

// exactDeadlines says whether a write that outlives its deadline
// reports how much of it was sent, so that another can send the rest.
const exactDeadlines = true

// background is a Plan 9 step: on Unix mq serves in the foreground.
func background(o *options) (bool, error) { return false, nil }

// namespaceDir is plan9port's name space directory, created mode
// 0700 if absent. Without $NAMESPACE it is in /tmp, and an existing
// one must be ours and private.
func namespaceDir() (string, error) {
	ns := mqclient.NamespaceDir()
	if os.Getenv("NAMESPACE") == "" {
		return ns, privateDir(ns)
	}
	if err := os.MkdirAll(ns, 0700); err != nil {
		return "", err
	}
	return ns, nil
}

// privateDir makes dir mode 0700, or accepts it if it is already ours
// and mode 0700, as plan9port's getns does: in /tmp another user could
// have made it first, to catch the socket or let anyone reach it.
func privateDir(dir string) error {
	err := os.Mkdir(dir, 0700)
	if err == nil || !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm() != 0700 || !ok || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("bad name space dir %s", dir)
	}
	return nil
}

// serveService posts the server as a Unix socket in the name space
// directory (SPEC §2, -s), mounts it with 9pfuse for -m, and serves in
// the foreground until killed, removing the socket on the way out.
func serveService(s *server, o *options) error {
	name := o.srvname
	if name == "" {
		name = fmt.Sprintf("mq.%d", os.Getpid())
	}
	if strings.Contains(name, "/") {
		return fmt.Errorf("bad service name %q", name)
	}
	var fuse string
	if o.mtpt != "" {
		var err error
		if fuse, err = exec.LookPath("9pfuse"); err != nil {
			return fmt.Errorf("cannot mount %s: 9pfuse not found on $PATH", o.mtpt)
		}
	}
	ns, err := namespaceDir()
	if err != nil {
		return err
	}
	path := filepath.Join(ns, name)
	ln, err := s.listenUnix(path)
	if err != nil {
		return err
	}
	go s.acceptLoop(ln)
	if fuse != "" {
		cmd := exec.Command(fuse, path, o.mtpt)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			s.exit()
			return fmt.Errorf("9pfuse %s: %v", o.mtpt, err)
		}
	}
	select {}
}

// newStdio puts standard input and output in the runtime's poller when
// they are a pipe or a socket. A read blocked in a system call keeps
// its thread and processor until the scheduler takes them back, which
// holds up the reply writer for as long; a polled read gives them up
// at once. Terminals and files are left as they are: the descriptor's
// non-blocking mode is shared with whoever else holds it.
func newStdio() stdio {
	in := pollable(0, os.Stdin)
	if sameFile(0, 1) && in != os.Stdin {
		return stdio{in, in}
	}
	return stdio{in, pollable(1, os.Stdout)}
}

func sameFile(a, b int) bool {
	var sa, sb syscall.Stat_t
	return syscall.Fstat(a, &sa) == nil && syscall.Fstat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

func pollable(fd int, f *os.File) *os.File {
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return f
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFSOCK, syscall.S_IFIFO:
		if syscall.SetNonblock(fd, true) == nil {
			return os.NewFile(uintptr(fd), f.Name())
		}
	}
	return f
}
