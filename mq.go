// Mq serves, over 9P2000, a tree of buffered message streams for many
// readers and many writers. See man/4/mq and SPEC §2 for the command line.
package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"mq/internal/arg"
	"mq/internal/exits"
)

const usageLine = "usage: mq [-DS] [-a addr] [-m mtpt] [-M size] [-r dir] [-s name] [-u users]"

// options is the parsed command line.
type options struct {
	debug     bool   // -D: trace 9P on standard error
	addr      string // -a: also announce on this dial string
	mtpt      string // -m: mount the service here
	srvname   string // -s: post the service under this name
	capBytes  int64  // -M: bytes held in all queues together
	usersFile string // -u: /adm/users-format file
	dir       string // -r: keep the tree and its history here
	sync      bool   // -S: acknowledge changes once on stable storage
}

func main() {
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		usage()
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "mq: %v\n", err)
		exits.Exit(err.Error()) // as sysfatal(2) does on Plan 9; 1 on Unix
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, usageLine)
	exitUsage()
}

func parseOptions(args []string) (*options, error) {
	flags, rest, err := arg.Parse(args, "DSa:m:M:r:s:u:")
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("extra arguments")
	}
	o := &options{capBytes: 256 << 20}
	for _, f := range flags {
		// An empty name, mount point, address, dir or users file is a
		// bad argument: mq -s '' would otherwise serve standard input.
		if f.Letter != 'D' && f.Letter != 'S' && f.Value == "" {
			return nil, fmt.Errorf("empty argument to -%c", f.Letter)
		}
		switch f.Letter {
		case 'D':
			o.debug = true
		case 'S':
			o.sync = true
		case 'r':
			o.dir = f.Value
		case 'a':
			o.addr = f.Value
		case 'm':
			o.mtpt = f.Value
		case 's':
			o.srvname = f.Value
		case 'u':
			o.usersFile = f.Value
		case 'M':
			n, ok := parseSize(f.Value, false)
			if !ok || n <= 0 {
				return nil, fmt.Errorf("bad size %q", f.Value)
			}
			o.capBytes = n
		}
	}
	if o.sync && o.dir == "" {
		return nil, fmt.Errorf("-S without -r")
	}
	return o, nil
}

// run builds the server and serves it as the options say: on standard
// input and output when nothing else is asked for, else posted, mounted
// or announced.
func run(o *options) error {
	users, err := loadUsers(o.usersFile)
	if err != nil {
		return err
	}
	// On Plan 9, -s and -m leave the server in the background: this
	// command posts and mounts it and returns (SPEC §2).
	if o.srvname != "" || o.mtpt != "" {
		if done, err := background(o); done || err != nil {
			return err
		}
	}
	var trace io.Writer
	if o.debug {
		trace = os.Stderr
	}
	t := newTree(currentUser(), users, o.capBytes)
	if o.dir != "" {
		l, err := openLog(o.dir, o.sync, t, os.Stderr)
		if err != nil {
			return err
		}
		defer l.close()
	}
	s := newServer(t, trace)
	if t.log != nil {
		s.onExit(t.log.close)
	}
	if o.addr != "" || o.srvname != "" || o.mtpt != "" {
		exitOnSignal(s)
	}
	if o.addr != "" {
		if err := s.announce(o.addr); err != nil {
			return err
		}
	}
	switch {
	case o.srvname != "" || o.mtpt != "":
		err := serveService(s, o)
		s.exit() // -a's socket too, should posting fail
		return err
	case o.addr != "":
		select {} // serve the announced address until killed
	default:
		s.serve(newStdio(), 0)
		if s.trace != nil {
			s.trace.flush(time.Second) // unless standard error is stuck
		}
		return nil
	}
}

// stdio is the 9P channel of the no-flag mode: requests on standard
// input, replies on standard output.
type stdio struct{ in, out *os.File }

func (c stdio) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c stdio) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c stdio) Close() error                { return c.in.Close() }

func (c stdio) SetWriteDeadline(t time.Time) error { return c.out.SetWriteDeadline(t) }
