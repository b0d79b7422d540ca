//go:build plan9

package main

import (
	"errors"
	"os"
	"strings"
)

func currentUser() string {
	b, err := os.ReadFile("/dev/user")
	if err != nil || len(b) == 0 {
		return "none"
	}
	return strings.TrimSpace(string(b))
}

func exitUsage() { os.Exit(1) }

func serveService(s *server, o *options) error {
	return errors.New("posting is not yet done on Plan 9")
}

func newStdio() stdio { return stdio{os.Stdin, os.Stdout} }
