package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"slices"
	"strings"
	"time"

	"9fans.net/go/plan9"

	"mq/internal/mqclient"
)

// A session is a group with these streams (SPEC §10).
var sessionStreams = []string{"fd0", "fd1", "fd2", "note", "status"}

// msgMax is the largest message attach writes: what a Plan 9 kernel
// mount (msize 8192+24) reads in one read, so that attachers there
// get whole messages too.
const msgMax = 8192

// msgWriter writes to a stream in messages of at most msgMax bytes.
type msgWriter struct{ w io.Writer }

func (m msgWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), msgMax)
		if _, err := m.w.Write(b[:k]); err != nil {
			return n, err
		}
		n, b = n+k, b[k:]
	}
	return n, nil
}

// killWait bounds how long -k waits for the program to report its
// exit before removing the session anyway (its supervisor may be gone).
const killWait = 5 * time.Second

// A terminal session keeps this much of its history (SPEC §10.1).
const terminalDepth = "1M"

// detachKey, typed to an attacher of a terminal session, detaches it:
// ctl-\, as in dtach.
const detachKey = 0x1c

// create makes session id and starts argv in it, detached; on a
// pseudo-terminal if terminal is set.
func create(fs mqclient.FS, srv, id string, terminal bool, argv []string) {
	if err := fs.Create(id, plan9.DMDIR|0775); err != nil {
		if mqclient.IsExist(err) {
			fatal("%s: session already exists", id)
		}
		fatal("%v", mqclient.PathErr(id, err))
	}
	conf := "data message\nreplay all\n"
	streams := sessionStreams
	if terminal {
		conf += "depth " + terminalDepth + "\n"
		streams = append(slices.Clip(streams), "winsize")
	}
	err := writeString(fs, path.Join(id, "ctl"), conf)
	for _, s := range streams {
		if err == nil {
			err = fs.Create(path.Join(id, s), 0664)
		}
	}
	if err == nil && terminal {
		// The program starts at the creator's size, if it has one.
		if rows, cols, ok := terminalSize(); ok {
			err = writeString(fs, path.Join(id, "winsize"), fmt.Sprintf("%d %d\n", rows, cols))
		}
	}
	if err == nil {
		err = startSupervisor(srv, id, terminal, argv)
	}
	if err != nil {
		removeSession(fs, id)
		fatal("%s: %v", id, err)
	}
}

// isTerminal says whether session id runs on a pseudo-terminal.
func isTerminal(fs mqclient.FS, id string) bool {
	_, err := fs.Stat(path.Join(id, "winsize"))
	return err == nil
}

// attach replays the session's output in the order written and follows
// it, sending standard input to the program (unless readOnly), until
// input ends or the user detaches (the program keeps running) or the
// program exits. On a terminal session the attacher's terminal is raw
// meanwhile, and its size is the program's.
func attach(fs mqclient.FS, id string, readOnly bool) {
	mustExist(fs, id)
	terminal := isTerminal(fs, id)
	var in, note, winsize mqclient.File
	if !readOnly {
		in = open(fs, id, "fd0", plan9.OWRITE)
		note = open(fs, id, "note", plan9.OWRITE)
		if terminal {
			winsize = open(fs, id, "winsize", plan9.OWRITE)
		}
	}
	shown := []string{"fd1", "fd2", "status"}
	// -k removes the session once the program's status is written,
	// perhaps before order has brought this attacher to it; a read on
	// status of its own, parked from the start, gets it all the same.
	exited := make(chan string, 1)
	status := open(fs, id, "status", plan9.OREAD)
	go func() { exited <- statusFrom(status) }()
	f, err := mqclient.Follow(fs, id, shown)
	if err != nil {
		fatal("%v", err)
	}
	// Measured once the follower stands at the oldest message: all
	// it counts is read, or reported lost.
	r := newReplay(fs, id, shown)
	raw := terminal && makeRaw()
	nl := "\n"
	if raw {
		nl = "\r\n"
	}
	f.Lost = func(err error) {
		fmt.Fprintf(os.Stderr, "attach: %s: %v%s", id, err, nl)
		r.lost()
	}
	handleSignals(id, raw, readOnly, note, winsize)
	go func() {
		<-mqclient.Lost(fs)
		fatal("%s: i/o on hungup channel", id)
	}()
	go func() {
		key, err := readInput(in, terminal, readOnly && raw)
		if !key {
			// End of input: once the history is shown.
			<-r.done
		}
		if err != nil {
			fatal("%s: %v", id, err)
		}
		detach(id, raw)
	}()

	for {
		name, data, err := f.Next()
		if err == io.EOF {
			if status := <-exited; status != "" {
				exitWith(id, status)
			}
			fatal("%s: session removed", id)
		}
		if err == mqclient.ErrHungup {
			fatal("%s: %v", id, err) // as the watch on Lost says it
		}
		if err != nil {
			fatal("%v", err)
		}
		switch name {
		case "fd1":
			os.Stdout.Write(data)
		case "fd2":
			os.Stderr.Write(data)
		case "status":
			exitWith(id, strings.TrimSpace(string(data)))
		}
		r.shown(len(data))
	}
}

// A replay tracks the history there was when an attacher came: end of
// input detaches only once it has been shown, so that attach id
// </dev/null prints the session so far. It is measured after the
// follower has opened its files: measured before, messages dropped in
// between (depth, cap, clear) would be counted but never read, and it
// would wait for output that may never come.
type replay struct {
	left int64         // bytes of it still to show
	done chan struct{} // closed once they are shown
}

func newReplay(fs mqclient.FS, id string, names []string) *replay {
	r := &replay{done: make(chan struct{})}
	for _, name := range names {
		if d, err := fs.Stat(path.Join(id, name)); err == nil {
			r.left += d.Length
		}
	}
	if r.left == 0 {
		close(r.done)
	}
	return r
}

func (r *replay) shown(n int) {
	if r.left > 0 {
		if r.left -= int64(n); r.left <= 0 {
			close(r.done)
		}
	}
}

// lost says messages were dropped: what there was is gone, so stop
// waiting for it.
func (r *replay) lost() {
	if r.left > 0 {
		r.left = 0
		close(r.done)
	}
}

// handleSignals sets what the attacher does on signals: interrupt is
// passed to the program, or detaches a read-only attacher; on a raw
// terminal, the terminal is restored before a signal ends attach, and
// on any other ctl-\ (quit) detaches, as it does on a raw one; and
// a change of window size is passed on to winsize, if open, as is the
// size now.
func handleSignals(id string, raw, readOnly bool, note, winsize mqclient.File) {
	if raw {
		onSignals(terminationSignals, func(sig os.Signal) {
			restoreTerminal()
			os.Exit(128 + signalNumber(sig))
		})
	} else {
		onSignals(quitSignals, func(os.Signal) { detach(id, false) })
	}
	if winsize != nil {
		sendSize := func() {
			if rows, cols, ok := terminalSize(); ok {
				winsize.Write([]byte(fmt.Sprintf("%d %d\n", rows, cols)))
			}
		}
		sendSize()
		onSignals(resizeSignals, func(os.Signal) { sendSize() })
	}
	onSignals([]os.Signal{os.Interrupt}, func(os.Signal) {
		if readOnly {
			detach(id, raw)
		}
		note.Write([]byte("interrupt"))
	})
}

// readInput sends standard input to in (nil: read-only), each read as
// one message, until it ends, or on a terminal session until the
// detach key. Typed by a read-only attacher on a raw terminal (rawRO),
// ctl-c and ctl-d detach too. key says a key typed ended it: the user
// asked to detach now, not once the history is shown.
func readInput(in io.Writer, terminal, rawRO bool) (bool, error) {
	buf := make([]byte, msgMax)
	for {
		n, err := os.Stdin.Read(buf)
		b := buf[:n]
		end := -1
		if terminal {
			end = bytes.IndexByte(b, detachKey)
		}
		if rawRO {
			if i := bytes.IndexAny(b, "\x03\x04"); i >= 0 && (end < 0 || i < end) {
				end = i
			}
		}
		if end >= 0 {
			b, err = b[:end], io.EOF
		}
		if len(b) > 0 && in != nil {
			if _, werr := in.Write(b); werr != nil {
				return false, werr
			}
		}
		if err == io.EOF {
			return end >= 0, nil
		}
		if err != nil && !mqclient.Interrupted(err) { // a note, on Plan 9
			return false, err
		}
	}
}

// detach leaves the session running and ends attach. On a raw
// terminal it says so, first leaving a full-screen program's alternate
// screen and showing the cursor (xterm's sequences, which terminals
// that set TERM now share) as tmux does, so the shell's screen is
// back.
func detach(id string, raw bool) {
	restoreTerminal()
	if raw {
		if t := os.Getenv("TERM"); t != "" && t != "dumb" {
			os.Stdout.WriteString("\x1b[?1049l\x1b[?25h\x1b[0m")
		}
		fmt.Fprintf(os.Stderr, "\r\nattach: %s: detached\n", id)
	}
	os.Exit(0)
}

// onSignals calls f in a goroutine of its own for each of sigs that
// comes.
func onSignals(sigs []os.Signal, f func(os.Signal)) {
	if len(sigs) == 0 {
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, sigs...)
	go func() {
		for sig := range c {
			f(sig)
		}
	}()
}

// write sends text, or standard input, to the session's input.
func write(fs mqclient.FS, id string, words []string) {
	mustExist(fs, id)
	in := open(fs, id, "fd0", plan9.OWRITE)
	var err error
	if len(words) > 0 {
		_, err = msgWriter{in}.Write([]byte(strings.Join(words, " ") + "\n"))
	} else {
		err = copyMessages(in, os.Stdin)
	}
	if err != nil {
		fatal("%s: %v", id, err)
	}
	in.Close()
}

// kill kills the session's program and removes the session.
func kill(fs mqclient.FS, id string) {
	mustExist(fs, id)
	st, err := fs.Stat(path.Join(id, "status"))
	running := err == nil && st.Length == 0
	if note, err := fs.Open(path.Join(id, "note"), plan9.OWRITE); err == nil {
		note.Write([]byte("kill"))
		note.Close()
	}
	if running {
		// Let attachers see the exit before the session goes.
		done := make(chan struct{})
		go func() {
			readStatus(fs, id)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(killWait):
		}
	}
	if err := removeSession(fs, id); err != nil {
		fatal("%v", err)
	}
}

// list prints each session and whether its program runs.
func list(fs mqclient.FS) {
	dirs, err := fs.ReadDir("")
	if err != nil {
		fatal("%v", err)
	}
	slices.SortFunc(dirs, func(a, b mqclient.Dir) int { return strings.Compare(a.Name, b.Name) })
	for _, d := range dirs {
		if !d.IsDir {
			continue
		}
		st, err := fs.Stat(path.Join(d.Name, "status"))
		if err != nil {
			continue // not a session
		}
		state := "running"
		if st.Length > 0 {
			state = "exit " + readStatus(fs, d.Name)
		}
		if isTerminal(fs, d.Name) {
			state += "\tterminal"
		}
		fmt.Printf("%s\t%s\n", d.Name, state)
	}
}

// exitWith reports the program's exit and exits as it did.
func exitWith(id, status string) {
	restoreTerminal()
	fmt.Fprintf(os.Stderr, "attach: %s: exit %s\n", id, status)
	exitStatus(status)
}

// readStatus waits for the session's exit status and returns it.
func readStatus(fs mqclient.FS, id string) string {
	f, err := fs.Open(path.Join(id, "status"), plan9.OREAD)
	if err != nil {
		return "?"
	}
	return statusFrom(f)
}

// statusFrom waits for an exit status on f, open on a session's status
// file, and closes it. It is empty if the session goes without one.
func statusFrom(f mqclient.File) string {
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	return strings.TrimSpace(string(buf[:n]))
}

// removeSession removes the session's streams, then its group.
func removeSession(fs mqclient.FS, id string) error {
	dirs, err := fs.ReadDir(id)
	if err != nil {
		return mqclient.PathErr(id, err)
	}
	for _, d := range dirs {
		if !d.IsDir && d.Name != "ctl" && d.Name != "order" {
			fs.Remove(path.Join(id, d.Name))
		}
	}
	if err := fs.Remove(id); err != nil {
		return mqclient.PathErr(id, err)
	}
	return nil
}

func mustExist(fs mqclient.FS, id string) {
	if _, err := fs.Stat(path.Join(id, "status")); err != nil {
		if mqclient.IsNotExist(err) {
			fatal("%s: no such session", id)
		}
		fatal("%v", mqclient.PathErr(id, err))
	}
}

func open(fs mqclient.FS, id, name string, mode uint8) mqclient.File {
	f, err := fs.Open(path.Join(id, name), mode)
	if err != nil {
		fatal("%v", mqclient.PathErr(path.Join(id, name), err))
	}
	return f
}

func writeString(fs mqclient.FS, name, s string) error {
	f, err := fs.Open(name, plan9.OWRITE)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(s))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyMessages sends what r gives to w, each read as one message,
// until r ends.
func copyMessages(w io.Writer, r io.Reader) error {
	buf := make([]byte, msgMax)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil && !mqclient.Interrupted(err) { // a note, on Plan 9
			return err
		}
	}
}
