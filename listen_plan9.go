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
