package main

import (
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

// create makes session id and starts argv in it, detached.
func create(fs mqclient.FS, srv, id string, argv []string) {
	if err := fs.Create(id, plan9.DMDIR|0775); err != nil {
		if mqclient.IsExist(err) {
			fatal("%s: session already exists", id)
		}
		fatal("%v", mqclient.PathErr(id, err))
	}
	err := writeString(fs, path.Join(id, "ctl"), "data message\nreplay all\n")
	for _, s := range sessionStreams {
		if err == nil {
			err = fs.Create(path.Join(id, s), 0664)
		}
	}
	if err == nil {
		err = startSupervisor(srv, id, argv)
	}
	if err != nil {
		removeSession(fs, id)
		fatal("%s: %v", id, err)
	}
}

// attach replays the session's output in the order written and follows
// it, sending standard input to the program, until input ends (the
// program keeps running) or the program exits.
func attach(fs mqclient.FS, id string) {
	mustExist(fs, id)
	in := open(fs, id, "fd0", plan9.OWRITE)
	note := open(fs, id, "note", plan9.OWRITE)
	shown := []string{"fd1", "fd2", "status"}
	// End of input detaches only once the history there is now has been
	// shown, so that attach id </dev/null prints the session so far.
	var history int64
	for _, name := range shown {
		if d, err := fs.Stat(path.Join(id, name)); err == nil {
			history += d.Length
		}
	}
	replayed := make(chan struct{})
	if history == 0 {
		close(replayed)
	}
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
	f.Lost = func(err error) {
		fmt.Fprintf(os.Stderr, "attach: %s: %v\n", id, err)
		if history > 0 {
			history = 0
			close(replayed) // what was there is gone: stop waiting for it
		}
	}

	intr := make(chan os.Signal, 1)
	signal.Notify(intr, os.Interrupt)
	go func() {
		for range intr {
			note.Write([]byte("interrupt"))
		}
	}()
	go func() {
		if err := copyMessages(in, os.Stdin); err != nil {
			fatal("%s: %v", id, err)
		}
		<-replayed
		os.Exit(0) // end of input detaches
	}()

	for {
		name, data, err := f.Next()
		if err == io.EOF {
			if status := <-exited; status != "" {
				exitWith(id, status)
			}
			fatal("%s: session removed", id)
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
		if history > 0 {
			if history -= int64(len(data)); history <= 0 {
				close(replayed)
			}
		}
	}
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
		fmt.Printf("%s\t%s\n", d.Name, state)
	}
}

// exitWith reports the program's exit and exits as it did.
func exitWith(id, status string) {
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
