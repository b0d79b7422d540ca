//go:build !plan9

package main

import (
	"bufio"
	"io"
	"path"
	"strings"

	"9fans.net/go/plan9"

	"mq/internal/mqclient"
)

// An inputFollower reads a terminal session's fd0 and winsize in the
// order written, as mqclient.Follower does, and carries on exactly
// after its service comes back (SPEC §11.6).
//
// order has no length to count its retained entries by, so after a
// break (or a lost message) it is lined up with the streams: with
// nothing written to the group meanwhile (order's qid.vers the same
// before and after), order and each stream are opened again and read
// from the oldest message retained, which they share (SPEC §6.3). The
// stream's rfile tells how many of its retained messages were passed
// on before; as many of its first entries in order are skipped. The
// supervisor's own writes, the output, wait meanwhile, so that a
// program printing without pause cannot keep order from holding still.
type inputFollower struct {
	fs      *redialFS
	group   string
	streams map[string]*rfile
	order   mqclient.File
	lines   *bufio.Reader
	skip    map[string]int
	buf     []byte
}

// followInput follows names of group, carrying on across breaks when
// fs is the supervisor's redialling service.
func followInput(fs mqclient.FS, group string, names []string) (follower, error) {
	r, ok := fs.(*redialFS)
	if !ok {
		return mqclient.Follow(fs, group, names)
	}
	f := &inputFollower{fs: r, group: group, streams: make(map[string]*rfile), buf: make([]byte, ninepMsgSize)}
	for _, name := range names {
		sf, err := r.Open(path.Join(group, name), plan9.OREAD)
		if err != nil {
			f.Close()
			return nil, mqclient.PathErr(path.Join(group, name), err)
		}
		f.streams[name] = sf.(*rfile)
	}
	if err := f.lineUp(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// A follower reads messages of a group's streams in order.
type follower interface {
	Next() (name string, data []byte, err error)
	Close() error
}

// lineUp opens order again, reads the streams back again, and sets
// how many of order's first entries to skip.
func (f *inputFollower) lineUp() error {
	name := path.Join(f.group, "order")
	f.fs.writes.close()
	defer f.fs.writes.open()
	for {
		if f.order != nil {
			f.order.Close()
			f.order = nil
		}
		before, err := f.fs.stat(name)
		if err != nil {
			return mqclient.PathErr(name, err)
		}
		of, err := f.fs.Open(name, plan9.OREAD)
		if err != nil {
			return mqclient.PathErr(name, err)
		}
		f.order = of
		for _, s := range f.streams {
			if err := s.reread(); err != nil && !mqclient.IsNotExist(err) {
				return err
			}
		}
		after, err := f.fs.stat(name)
		if err != nil {
			return mqclient.PathErr(name, err)
		}
		if before.Qid.Vers != after.Qid.Vers {
			continue
		}
		f.lines = bufio.NewReaderSize(of, 512)
		f.skip = make(map[string]int)
		for n, s := range f.streams {
			f.skip[n] = s.window - len(s.pending)
		}
		return nil
	}
}

func (f *inputFollower) Next() (string, []byte, error) {
	for {
		line, err := f.lines.ReadString('\n')
		if err == io.EOF {
			return "", nil, err // the group was removed
		}
		if err != nil {
			// A break, or entries lost: line up again.
			if err := f.lineUp(); err != nil {
				return "", nil, err
			}
			continue
		}
		name := strings.TrimSuffix(line, "\n")
		s, ok := f.streams[name]
		if !ok {
			continue
		}
		if f.skip[name] > 0 {
			f.skip[name]--
			continue
		}
		for {
			n, err := s.Read(f.buf)
			if n > 0 {
				return name, f.buf[:n], nil
			}
			switch {
			case mqclient.IsFellBehind(err):
				// Lost: line up again from what is left.
				if err := f.lineUp(); err != nil {
					return "", nil, err
				}
			case err == nil || err == io.EOF:
				if !f.fs.Gone(s, path.Join(f.group, name)) {
					continue // an eof written to ctl
				}
				s.Close()
				delete(f.streams, name)
			default:
				return "", nil, err
			}
			break
		}
	}
}

func (f *inputFollower) Close() error {
	for _, s := range f.streams {
		s.Close()
	}
	if f.order != nil {
		f.order.Close()
	}
	return nil
}
