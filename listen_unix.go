//go:build !plan9

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// listenUnix listens on path, refusing if a live server answers there
// and replacing a stale socket left by one that died.
func listenUnix(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: a server is already posted there", path)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() != os.ModeSocket {
		return nil, fmt.Errorf("%s: exists and is not a socket", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// Only its owner may connect: 9P attach names are not authenticated.
	if err := os.Chmod(path, 0600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// exitOnSignal arranges that when mq is interrupted, hung up or
// terminated, it runs the server's clean-up (removing its sockets) and
// exits. It is in force when it returns.
func exitOnSignal(s *server) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-c
		s.exit()
		os.Exit(128 + int(sig.(syscall.Signal)))
	}()
}
