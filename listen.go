package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// connIDs numbers network connections for -D traces.
var connIDs atomic.Int64

// announce listens on a Plan 9 dial string, tcp!host!port or
// unix!path, and serves each connection as its own session (SPEC §2, -a).
func (s *server) announce(addr string) error {
	f := strings.Split(addr, "!")
	var ln net.Listener
	var err error
	switch {
	case len(f) == 3 && (f[0] == "tcp" || f[0] == "net"):
		host := f[1]
		if host == "*" {
			host = ""
		}
		if !isLoopback(host) {
			fmt.Fprintf(os.Stderr, "mq: warning: %s is not a loopback address: 9P attach names are not authenticated\n", addr)
		}
		ln, err = net.Listen("tcp", net.JoinHostPort(host, f[2]))
	case len(f) == 2 && f[0] == "unix":
		ln, err = s.listenUnix(f[1])
	default:
		return fmt.Errorf("bad address %q: want tcp!host!port or unix!path", addr)
	}
	if err != nil {
		return err
	}
	go s.acceptLoop(ln)
	return nil
}

// listenUnix listens on the Unix socket path and removes it when mq
// exits, even when a signal comes while it is being made.
func (s *server) listenUnix(path string) (net.Listener, error) {
	s.exitMu.Lock()
	defer s.exitMu.Unlock()
	ln, err := listenUnix(path)
	if err == nil {
		s.exits = append(s.exits, func() { os.Remove(path) })
	}
	return ln, err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// acceptLoop serves every connection ln accepts, each on its own,
// until ln is closed. An accept that fails otherwise, as when clients
// hold every file descriptor mq may have, is tried again after a pause
// of up to a second, so that mq serves again once some have gone
// (SPEC §8.8, §8.9).
func (s *server) acceptLoop(ln net.Listener) {
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		go s.serve(c, int(connIDs.Add(1))+2)
	}
}
