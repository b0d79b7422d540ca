//go:build plan9

package main

import (
	"io"
	"os"
	"sync"
	"syscall"

	"9fans.net/go/plan9"

	"mq/internal/mqclient"
)

// An fdServer serves a program its standard files fd0, fd1 and fd2
// (SPEC §10, §11.6): a small 9P server on one end of a pipe whose
// other end the supervisor mounts, in its own name space, just long
// enough to open them. The kernel brings every write the program makes
// here as one Twrite, one at a time in the order made, on one channel:
// the writes to fd1 and fd2 go to the spool in that order, each as one
// message, and each is answered once the spool holds it, so a program
// writing while mq is away blocks once the spool is full. Reads of fd0
// wait for input from the session's fd0, which the supervisor reads
// across restarts of mq.
type fdServer struct {
	conn    *os.File     // our end of the pipe
	out     [2]io.Writer // fd1, fd2: the spool's writers
	writes  chan *plan9.Fcall
	replies chan *plan9.Fcall

	mu    sync.Mutex // guards what follows
	msize uint32
	fids  map[uint32]uint64       // fid → qid.path of its file
	owed  map[uint16]*plan9.Fcall // reads and writes not yet answered, by tag
	reads []*plan9.Fcall          // reads of fd0 waiting for input
	input [][]byte                // input not yet read
	eofs  int                     // ends of input (eof written to fd0's ctl) not yet read
	ended bool                    // fd0 is gone: every read ends
}

// The files' qid.paths.
const (
	fdRoot = iota
	fdIn
	fdOut
	fdErr
)

var fdNames = []string{fdRoot: ".", fdIn: "fd0", fdOut: "fd1", fdErr: "fd2"}

// fdMsize bounds the server's msize: the iounit of a Plan 9 mount, so
// that each write is at most what mq's mount takes as one message.
const fdMsize = msgMax + plan9.IOHDRSZ

// serveFiles starts serving the program's files, input from in (the
// stream name of the service fs) and output to out, and opens them.
func serveFiles(fs mqclient.FS, name string, in mqclient.File, out [2]io.Writer) ([3]*os.File, error) {
	var files [3]*os.File
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		return files, err
	}
	s := &fdServer{
		conn:    os.NewFile(uintptr(p[1]), "fdserver"),
		out:     out,
		writes:  make(chan *plan9.Fcall, 1024),
		replies: make(chan *plan9.Fcall, 1024),
		msize:   fdMsize,
		fids:    make(map[uint32]uint64),
		owed:    make(map[uint16]*plan9.Fcall),
	}
	go s.serve()
	go s.reply()
	go s.write()
	go s.pump(fs, name, in)
	dir, err := os.MkdirTemp("", "attach.")
	if err != nil {
		syscall.Close(p[0])
		return files, err
	}
	defer os.Remove(dir)
	err = syscall.Mount(p[0], -1, dir, syscall.MREPL, "")
	syscall.Close(p[0])
	if err != nil {
		return files, err
	}
	defer syscall.Unmount("", dir)
	for i, mode := range []int{os.O_RDONLY, os.O_WRONLY, os.O_WRONLY} {
		if files[i], err = os.OpenFile(dir+"/"+fdNames[fdIn+i], mode, 0); err != nil {
			for _, f := range files[:i] {
				f.Close()
			}
			return files, err
		}
	}
	return files, nil
}

// serve reads requests until the last of the program's files is
// closed, and the mount with it.
func (s *fdServer) serve() {
	defer s.conn.Close()
	for {
		t, err := plan9.ReadFcall(s.conn)
		if err != nil {
			return
		}
		if w := s.handle(t); w != nil {
			s.writes <- w
		}
	}
}

// reply writes the replies, in the order they were made.
func (s *fdServer) reply() {
	for r := range s.replies {
		if plan9.WriteFcall(s.conn, r) != nil {
			return
		}
	}
}

// send queues r, the reply to t. It is called with s.mu held, so that
// a reply to a flushed request never follows the Rflush.
func (s *fdServer) send(t, r *plan9.Fcall) {
	r.Tag = t.Tag
	s.replies <- r
}

func (s *fdServer) fail(t *plan9.Fcall, e string) {
	s.send(t, &plan9.Fcall{Type: plan9.Rerror, Ename: e})
}

func fdQid(path uint64) plan9.Qid {
	if path == fdRoot {
		return plan9.Qid{Type: plan9.QTDIR, Path: path}
	}
	return plan9.Qid{Path: path}
}

func fdDir(path uint64) plan9.Dir {
	d := plan9.Dir{Name: fdNames[path], Qid: fdQid(path), Mode: 0600, Uid: mqclient.User(), Gid: mqclient.User(), Muid: mqclient.User()}
	switch path {
	case fdRoot:
		d.Name, d.Mode = "/", plan9.DMDIR|0500
	case fdIn:
		d.Mode = 0400
	default:
		d.Mode = 0200
	}
	return d
}

// handle answers t, or returns it when it is a write for write to
// pass on.
func (s *fdServer) handle(t *plan9.Fcall) *plan9.Fcall {
	s.mu.Lock()
	defer s.mu.Unlock()
	path, known := s.fids[t.Fid]
	switch t.Type {
	case plan9.Tversion:
		s.msize = min(t.Msize, fdMsize)
		v := "9P2000"
		if len(t.Version) < 6 || t.Version[:6] != v {
			v = "unknown"
		}
		clear(s.fids)
		s.send(t, &plan9.Fcall{Type: plan9.Rversion, Msize: s.msize, Version: v})
		return nil
	case plan9.Tauth:
		s.fail(t, "authentication not required")
		return nil
	case plan9.Tattach:
		s.fids[t.Fid] = fdRoot
		s.send(t, &plan9.Fcall{Type: plan9.Rattach, Qid: fdQid(fdRoot)})
		return nil
	case plan9.Tflush:
		if s.owed[t.Oldtag] != nil {
			delete(s.owed, t.Oldtag)
			for i, r := range s.reads {
				if r.Tag == t.Oldtag {
					s.reads = append(s.reads[:i], s.reads[i+1:]...)
					break
				}
			}
		}
		s.send(t, &plan9.Fcall{Type: plan9.Rflush})
		return nil
	}
	if !known {
		s.fail(t, "unknown fid")
		return nil
	}
	switch t.Type {
	case plan9.Twalk:
		var qids []plan9.Qid
		p := path
		for _, name := range t.Wname {
			switch {
			case p == fdRoot && (name == ".." || name == "."):
			case p == fdRoot && name == "fd0":
				p = fdIn
			case p == fdRoot && name == "fd1":
				p = fdOut
			case p == fdRoot && name == "fd2":
				p = fdErr
			default:
				p = ^uint64(0)
			}
			if p == ^uint64(0) {
				break
			}
			qids = append(qids, fdQid(p))
		}
		if len(qids) < len(t.Wname) {
			if len(qids) == 0 {
				s.fail(t, "file does not exist")
			} else {
				s.send(t, &plan9.Fcall{Type: plan9.Rwalk, Wqid: qids})
			}
			return nil
		}
		s.fids[t.Newfid] = p
		s.send(t, &plan9.Fcall{Type: plan9.Rwalk, Wqid: qids})
	case plan9.Topen:
		s.send(t, &plan9.Fcall{Type: plan9.Ropen, Qid: fdQid(path), Iounit: s.msize - plan9.IOHDRSZ})
	case plan9.Tread:
		switch path {
		case fdRoot:
			var b []byte
			if t.Offset == 0 {
				for _, p := range []uint64{fdIn, fdOut, fdErr} {
					d := fdDir(p)
					e, _ := d.Bytes()
					b = append(b, e...)
				}
				if len(b) > int(t.Count) {
					b = nil
				}
			}
			s.send(t, &plan9.Fcall{Type: plan9.Rread, Data: b})
		case fdIn:
			s.owed[t.Tag] = t
			s.reads = append(s.reads, t)
			s.feed()
		default:
			s.send(t, &plan9.Fcall{Type: plan9.Rread})
		}
	case plan9.Twrite:
		switch path {
		case fdOut, fdErr:
			s.owed[t.Tag] = t
			t.Fid = uint32(path) // which stream, for write
			return t
		case fdRoot:
			s.fail(t, "is a directory")
		default:
			s.fail(t, "permission denied")
		}
	case plan9.Tclunk:
		delete(s.fids, t.Fid)
		s.send(t, &plan9.Fcall{Type: plan9.Rclunk})
	case plan9.Tremove:
		delete(s.fids, t.Fid)
		s.fail(t, "permission denied")
	case plan9.Tstat:
		d := fdDir(path)
		b, _ := d.Bytes()
		s.send(t, &plan9.Fcall{Type: plan9.Rstat, Stat: b})
	case plan9.Tcreate, plan9.Twstat:
		s.fail(t, "permission denied")
	default:
		s.fail(t, "bad 9P message")
	}
	return nil
}

// feed answers the reads of fd0 it has input (or an end) for. s.mu is
// held.
func (s *fdServer) feed() {
	for len(s.reads) > 0 && (len(s.input) > 0 || s.eofs > 0 || s.ended) {
		t := s.reads[0]
		s.reads = s.reads[1:]
		delete(s.owed, t.Tag)
		var b []byte
		switch {
		case len(s.input) > 0:
			n := min(int(t.Count), len(s.input[0]))
			b = s.input[0][:n]
			if s.input[0] = s.input[0][n:]; len(s.input[0]) == 0 {
				s.input = s.input[1:]
			}
		case s.eofs > 0:
			s.eofs--
		}
		s.send(t, &plan9.Fcall{Type: plan9.Rread, Data: b})
	}
}

// pump reads the session's fd0, across restarts of mq, for the reads
// of the program's.
func (s *fdServer) pump(fs mqclient.FS, name string, in mqclient.File) {
	buf := make([]byte, fs.MsgSize())
	for {
		n, err := in.Read(buf)
		s.mu.Lock()
		switch {
		case n > 0:
			s.input = append(s.input, append([]byte(nil), buf[:n]...))
		case mqclient.IsFellBehind(err):
		case err == nil || err == io.EOF && !fs.Gone(in, name):
			s.eofs++ // an eof written to ctl
		default:
			s.ended = true
		}
		ended := s.ended
		s.feed()
		s.mu.Unlock()
		if ended {
			return
		}
	}
}

// write passes the program's writes to the spool in the order they
// came, answering each once the spool holds it. A write flushed before
// its turn is dropped: the program was told it failed.
func (s *fdServer) write() {
	for t := range s.writes {
		s.mu.Lock()
		owed := s.owed[t.Tag] == t
		s.mu.Unlock()
		if !owed {
			continue
		}
		s.out[t.Fid-fdOut].Write(t.Data)
		s.mu.Lock()
		if s.owed[t.Tag] == t {
			delete(s.owed, t.Tag)
			s.send(t, &plan9.Fcall{Type: plan9.Rwrite, Count: uint32(len(t.Data))})
		}
		s.mu.Unlock()
	}
}
