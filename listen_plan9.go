//go:build plan9

package main

import (
	"errors"
	"net"
)

// listenUnix fails: Plan 9 has no Unix-domain sockets.
func listenUnix(path string) (net.Listener, error) {
	return nil, errors.New("unix!" + path + ": no unix sockets on Plan 9")
}

// exitOnSignal does nothing: on Plan 9 the kernel removes a posted
// /srv file when mq exits (ORCLOSE), and there are no sockets to remove.
func exitOnSignal(s *server) {}
