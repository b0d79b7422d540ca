//go:build !plan9

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// listenUnix listens on path, refusing if a live server answers there
// and replacing a stale socket left by one that died.
func listenUnix(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: a server is already posted there", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return net.Listen("unix", path)
}
