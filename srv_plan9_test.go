//go:build plan9

package main

import (
	"net"
	"testing"
)

// TestRepliesByWriterOnly checks that on Plan 9 no reply is written
// under the reading goroutine's deadline, even on a connection that
// takes write deadlines, as network connections do: the note that ends
// such a write may come after the kernel queued the data, and the
// write then says none of it was sent, so sending the rest again would
// send replies twice. net.Pipe stands in for a network connection.
func TestRepliesByWriterOnly(t *testing.T) {
	cli, end := net.Pipe()
	defer cli.Close()
	defer end.Close()
	if c := newServer(newTestTree(t), nil).newConn(end, 3); c.direct != nil {
		t.Error("the reading goroutine writes its replies under a deadline; want them left to the writer")
	}
}
