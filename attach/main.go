// Attach detaches programs onto mq streams and attaches to them later,
// from one or many places at once (SPEC §10).
//
//	attach [-s srv] -c [-t] id [command ...]
//	attach [-s srv] [-r] id
//	attach [-s srv] -w id [text ...]
//	attach [-s srv] -k id
//	attach [-s srv] -l
package main

import (
	"fmt"
	"os"
	"strings"

	"mq/internal/arg"
	"mq/internal/exits"
)

const usageText = `usage: attach [-s srv] -c [-t] id [command ...]
       attach [-s srv] [-r] id
       attach [-s srv] -w id [text ...]
       attach [-s srv] -k id
       attach [-s srv] -l
`

func usage() {
	fmt.Fprint(os.Stderr, usageText)
	exits.Exit("usage") // the status Plan 9 commands give; 1 on Unix
}

// fatal ends attach with a message in the Plan 9 form.
func fatal(format string, a ...any) {
	restoreTerminal()
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintf(os.Stderr, "attach: %s\n", msg)
	exits.Exit(msg) // as sysfatal(2) does on Plan 9; 1 on Unix
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == supervisorArg {
		superviseMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == launcherArg {
		launchMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == lingerArg {
		lingerMain()
		return
	}
	// -c, -k and -w are flags like -t and -r, and id is the first
	// argument, as the usage lines read: so flags combine and come in
	// any order, as in -ct id or -c -s srv id (SPEC §10).
	flags, rest, err := arg.Parse(os.Args[1:], "cklrtws:")
	if err != nil {
		usage()
	}
	srv := defaultService()
	var op byte
	var id string
	var terminal, readOnly bool
	for _, f := range flags {
		switch f.Letter {
		case 's':
			if f.Value == "" {
				usage() // no service has an empty name; mq -s '' is refused too
			}
			srv = f.Value
		case 't':
			terminal = true
		case 'r':
			readOnly = true
		default:
			if op != 0 && op != f.Letter {
				usage()
			}
			op = f.Letter
		}
	}
	switch op {
	case 'l':
		if len(rest) != 0 {
			usage()
		}
	case 0, 'k':
		if len(rest) != 1 {
			usage()
		}
		id, rest = rest[0], nil
	case 'c', 'w':
		if len(rest) == 0 {
			usage()
		}
		id, rest = rest[0], rest[1:]
	}
	if op == 'c' && len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		usage() // a flag after the id, not a command
	}
	if terminal && op != 'c' || readOnly && op != 0 {
		usage()
	}
	if op != 'l' && !validID(id) {
		fatal("bad session name %q", id)
	}
	if terminal {
		if err := canTerminal(); err != nil {
			fatal("%v", err)
		}
	}
	fs := connect(srv)
	switch op {
	case 'c':
		if len(rest) == 0 {
			rest = defaultCommand()
		}
		create(fs, srv, id, terminal, rest)
	case 'w':
		write(fs, id, rest)
	case 'k':
		kill(fs, id)
	case 'l':
		list(fs)
	default:
		attach(fs, id, readOnly)
	}
}

// validID says whether id can name a group of the root.
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.Contains(id, "/") &&
		id != "ctl" && id != "order"
}
