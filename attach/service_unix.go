//go:build !plan9

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"mq/internal/mqclient"
)

// mqStartWait bounds how long attach waits for an mq it started to
// answer on its socket.
const mqStartWait = 10 * time.Second

// stateBase is the user's directory for state that outlives a
// process: $XDG_STATE_HOME, else $HOME/.local/state (XDG Base
// Directory; a relative $XDG_STATE_HOME is ignored, as it says).
func stateBase() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		return "", errors.New("neither $XDG_STATE_HOME nor $HOME is set")
	}
	return filepath.Join(home, ".local", "state"), nil
}

func mkdirPrivate(dir string) error { return os.MkdirAll(dir, 0700) }

// connect reaches service srv over 9P, starting `mq -r dir -s srv` in
// the background if it is not posted.
func connect(srv string) mqclient.FS {
	fs, err := mqclient.Service(srv)
	if err == nil {
		return fs
	}
	if !notPosted(err) {
		fatal("%s: service unreachable: %v", srv, err)
	}
	if err := startMQ(srv); err != nil {
		fatal("%s: %v", srv, err)
	}
	if fs, err = mqclient.Service(srv); err != nil {
		fatal("%s: service unreachable: %v", srv, err)
	}
	return fs
}

// notPosted says whether a failed dial means no server is there: no
// socket, or one a dead server left.
func notPosted(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

// startMQ starts `mq -r dir -s srv` (dir: historyDir) detached from
// the terminal, standard input and output on /dev/null, and waits until
// its socket answers. Two processes may start it at once (two attach
// -c, or supervisors whose service died): the one that does not get
// dir's lock, or finds the other already posted, exits saying so, and
// then this one waits for the other to answer, or starts mq again (the
// lock may have been a killed mq's, still on its way out).
func startMQ(srv string) error {
	mq, err := exec.LookPath("mq")
	if err != nil {
		return errors.New("service not running, and mq is not on $PATH")
	}
	dir, err := historyDir(srv)
	if err != nil {
		return err
	}
	sock := mqclient.Socket(srv)
	deadline := time.Now().Add(mqStartWait)
	for {
		said, err := runMQ(mq, dir, srv, sock, deadline)
		if err == nil {
			return nil
		}
		if !anotherMQ(said) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
		if answers(sock) {
			return nil
		}
	}
}

// runMQ starts mq and waits until sock answers, or until mq exits (it
// returns what mq said) or the deadline.
func runMQ(mq, dir, srv, sock string, deadline time.Time) (string, error) {
	cmd := exec.Command(mq, "-r", dir, "-s", srv)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// mq's diagnostics go to a file of no name: read if it exits at
	// once; a pipe would kill it once attach had gone.
	diag, err := os.CreateTemp("", "attach-mq")
	if err == nil {
		os.Remove(diag.Name())
		defer diag.Close()
		cmd.Stderr = diag
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("cannot start mq: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	timeout := time.After(time.Until(deadline))
	for !answers(sock) {
		select {
		case err := <-exited:
			if answers(sock) {
				return "", nil
			}
			said := ""
			if diag != nil {
				b, _ := io.ReadAll(io.NewSectionReader(diag, 0, 4096))
				said = strings.TrimSpace(string(b))
			}
			if said != "" {
				return said, errors.New(said)
			}
			return "", fmt.Errorf("mq -r %s -s %s exited: %v", dir, srv, err)
		case <-timeout:
			return "", fmt.Errorf("mq -r %s -s %s does not answer on %s", dir, srv, sock)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", nil
}

// answers says whether a server answers on sock.
func answers(sock string) bool {
	c, err := net.Dial("unix", sock)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// anotherMQ says whether mq's complaint is that another one has its
// dir or its service name (SPEC §11.5, §2).
func anotherMQ(said string) bool {
	return strings.Contains(said, "in use by another mq") || strings.Contains(said, "already posted")
}
