package main

import (
	"io"
	"net"

	"9fans.net/go/plan9"
)

// server is the 9P side of mq: connections, fids, tags, flush.
type server struct {
	tree  *tree
	trace io.Writer
}

func newServer(t *tree, trace io.Writer) *server { return &server{tree: t, trace: trace} }

// serve speaks 9P on rwc until it fails or closes. id names the
// connection in -D traces.
func (s *server) serve(rwc io.ReadWriteCloser, id int) {}

func (s *server) acceptLoop(ln net.Listener) {}

func (s *server) announce(addr string) error { return nil }

// onExit registers f to run when mq exits on purpose or by signal.
func (s *server) onExit(f func()) {}

func (s *server) exit() {}

var _ = plan9.Fcall{}
