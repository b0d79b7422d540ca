//go:build !plan9

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"9fans.net/go/plan9"

	"mq/internal/mqclient"
)

// Terminal sessions (SPEC §10.1): the attacher's side.

func canTerminal() error { return nil }

// saved is the attacher's terminal state before it went raw.
var saved struct {
	sync.Mutex             // guards state
	state      *term.State // nil when nothing is to be restored
}

// makeRaw puts standard input, if it is a terminal, in raw mode, and
// says whether it did.
func makeRaw() bool {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return false
	}
	st, err := term.MakeRaw(fd)
	if err != nil {
		return false
	}
	saved.Lock()
	saved.state = st
	saved.Unlock()
	return true
}

// restoreTerminal undoes makeRaw; every way out of attach calls it.
func restoreTerminal() {
	saved.Lock()
	defer saved.Unlock()
	if saved.state != nil {
		term.Restore(int(os.Stdin.Fd()), saved.state)
		saved.state = nil
	}
}

// terminalSize is the size of the attacher's terminal: standard
// input's, else standard output's.
func terminalSize() (rows, cols int, ok bool) {
	for _, f := range []*os.File{os.Stdin, os.Stdout} {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 0 && h > 0 {
			return h, w, true
		}
	}
	return 0, 0, false
}

// terminationSignals end an attacher on a raw terminal, which restores
// it first.
var terminationSignals = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// resizeSignals tell the attacher its terminal changed size.
var resizeSignals = []os.Signal{syscall.SIGWINCH}

// quitSignals detach an attacher that is not on a raw terminal:
// ctl-\ on a cooked terminal is SIGQUIT, the key that detaches a
// raw one.
var quitSignals = []os.Signal{syscall.SIGQUIT}

func signalNumber(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return int(s)
	}
	return 0
}

// Terminal sessions: the supervisor's side.

// ptyProc is the program on a pseudo-terminal, a session leader with
// the terminal as its controlling terminal. What the terminal shows
// goes to fd1; fd0 and winsize are applied in the order written.
type ptyProc struct {
	cmd    *exec.Cmd
	pty    *os.File      // the terminal's master side
	output chan struct{} // closed when the terminal's output has ended
	shown  chan struct{} // gets a token when the terminal shows something
	reads  atomic.Int64  // of the terminal's output so far
	spool  *spool        // the output on its way to fd1
}

// A program redrawing for a new attacher (see redraw) counts as done
// once its output has paused for redrawQuiet; the terminal stays a row
// shorter for redrawWait at most.
const (
	redrawQuiet = 100 * time.Millisecond
	redrawWait  = 2 * time.Second
)

func startTerminal(fs mqclient.FS, id string, argv []string) (proc, error) {
	out, err := fs.Open(path.Join(id, "fd1"), plan9.OWRITE)
	if err != nil {
		return nil, err
	}
	// One reader of order for input and sizes keeps them in the
	// order written: a resize, then typing, reach the program so.
	f, err := followInput(fs, id, []string{"fd0", "winsize"})
	if err != nil {
		return nil, err
	}
	size := &pty.Winsize{Rows: 24, Cols: 80}
	var typed []byte
	if d, err := fs.Stat(path.Join(id, "winsize")); err == nil && d.Length > 0 {
		// The creator's size, written before we started.
		name, data, err := f.Next()
		if err != nil {
			return nil, err
		}
		if name == "winsize" {
			if rows, cols, ok := parseSize(data); ok {
				size.Rows, size.Cols = rows, cols
			}
		} else {
			typed = append(typed, data...)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	master, err := pty.StartWithAttrs(cmd, size, &syscall.SysProcAttr{Setsid: true, Setctty: true})
	if err != nil {
		return nil, err
	}
	p := &ptyProc{cmd: cmd, pty: master, output: make(chan struct{}), shown: make(chan struct{}, 1)}
	master.Write(typed)
	// The spool holds output while the service is away (SPEC §11.6).
	p.spool = newSpool([2]io.Writer{msgWriter{out}, io.Discard}, spoolMax)
	go p.passOutput(msgWriter{p.spool.writers()[0]})
	go p.passInput(f)
	return p, nil
}

// passOutput copies what the terminal shows to w, a read a message,
// until no process has the terminal open.
func (p *ptyProc) passOutput(w msgWriter) {
	defer close(p.output)
	buf := make([]byte, msgMax)
	for {
		n, err := p.pty.Read(buf)
		if n > 0 {
			p.reads.Add(1)
			w.Write(buf[:n])
			select {
			case p.shown <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return // EIO: the last process closed the terminal
		}
	}
}

// passInput types fd0's messages and applies winsize's, until the
// session is removed.
func (p *ptyProc) passInput(f follower) {
	defer f.Close()
	type message struct {
		name string
		data []byte
	}
	msgs := make(chan message)
	go func() {
		defer close(msgs)
		for {
			name, data, err := f.Next()
			if err != nil {
				return
			}
			msgs <- message{name, append([]byte(nil), data...)}
		}
	}()
	var r redraw
	for {
		select {
		case m, ok := <-msgs:
			r.end(p)
			if !ok {
				return
			}
			switch m.name {
			case "fd0":
				if _, err := p.pty.Write(m.data); err != nil {
					return
				}
			case "winsize":
				if rows, cols, ok := parseSize(m.data); ok {
					r.resize(p, rows, cols)
				}
			}
		case <-r.shown:
			if p.reads.Load() > r.reads {
				r.quiet = time.After(redrawQuiet)
			}
		case <-r.quiet:
			r.end(p)
		case <-r.timeout:
			r.end(p)
		}
	}
}

// A redraw is a terminal kept a row shorter for a moment. Setting the
// size the terminal has already makes no SIGWINCH, yet an attacher
// writes its size as it attaches so that the program redraws its
// screen for it, as under tmux. So the same size again is set one row
// shorter first, as abduco does, and set right once the program has
// drawn and paused, more comes from fd0 or winsize, or redrawWait has
// passed. Setting it back at once would not do: a program that took
// both changes at once would see no change and not redraw, and less,
// told while it draws, waits for a key before it redraws again.
type redraw struct {
	size    *pty.Winsize     // the size to go back to; nil when none
	reads   int64            // the terminal's reads when it began
	shown   <-chan struct{}  // the terminal's shown, while one is on
	quiet   <-chan time.Time // set when the program has shown something
	timeout <-chan time.Time // while one is on
}

// resize sets the terminal's size; the kernel tells the program with
// SIGWINCH.
func (r *redraw) resize(p *ptyProc, rows, cols uint16) {
	size := &pty.Winsize{Rows: rows, Cols: cols}
	if cur, err := pty.GetsizeFull(p.pty); err == nil && cur.Rows == rows && cur.Cols == cols && rows > 1 {
		*r = redraw{size: size, reads: p.reads.Load(), shown: p.shown, timeout: time.After(redrawWait)}
		pty.Setsize(p.pty, &pty.Winsize{Rows: rows - 1, Cols: cols})
		return
	}
	pty.Setsize(p.pty, size)
}

// end sets the size back, if a redraw is on.
func (r *redraw) end(p *ptyProc) {
	if r.size != nil {
		pty.Setsize(p.pty, r.size)
	}
	*r = redraw{}
}

// parseSize parses a message of winsize: "ROWS COLS".
func parseSize(b []byte) (rows, cols uint16, ok bool) {
	var r, c int
	if _, err := fmt.Sscanf(string(b), "%d %d", &r, &c); err != nil || r <= 0 || c <= 0 || r > 0xffff || c > 0xffff {
		return 0, 0, false
	}
	return uint16(r), uint16(c), true
}

// foreground is the terminal's foreground process group, else the
// program's.
func (p *ptyProc) foreground() int {
	pgrp := 0
	if rc, err := p.pty.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			pgrp, _ = unix.IoctlGetInt(int(fd), unix.TIOCGPGRP)
		})
	}
	if pgrp <= 0 {
		pgrp = p.cmd.Process.Pid
	}
	return pgrp
}

func (p *ptyProc) signalForeground(sig syscall.Signal) {
	syscall.Kill(-p.foreground(), sig)
}

// note passes interrupt to the job in the foreground, as ctl-c would;
// hangup and kill go to it and to the program.
func (p *ptyProc) note(n string) {
	sig, ok := noteSignals[n]
	if !ok {
		return
	}
	p.signalForeground(sig)
	if sig != syscall.SIGINT {
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

func (p *ptyProc) wait() string {
	p.cmd.Wait()
	select {
	case <-p.output:
	case <-time.After(outputGrace):
	}
	p.spool.close()
	return waitStatus(p.cmd)
}
