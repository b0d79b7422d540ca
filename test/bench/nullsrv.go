//go:build !plan9

package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"9fans.net/go/plan9"
)

// nullServer is the least a message server can do over 9P: the same
// tree shape as mq (groups, streams, a ctl in every group), a Twrite
// answered at once and handed to every reader of its stream, a Tread
// answered with the next message as soon as there is one. No history,
// no permissions, no modes; ctl writes are accepted and ignored.
// Replies are gathered while more requests are already buffered and
// leave in one write, the cheapest way to speak 9P.
type nullServer struct {
	mu    sync.Mutex // guards everything below and every nconn's out
	path  uint64     // last qid.path handed out
	root  *nnode
	dirty []*nconn // connections with replies waiting in out
}

type nnode struct {
	qid      plan9.Qid
	children map[string]*nnode // a group's members; nil for files
	ctl      bool
	readers  []*nfid // a stream's fids open for reading
}

type nfid struct {
	n       *nnode
	c       *nconn
	open    bool
	pending []nread  // parked Treads, oldest first
	backlog [][]byte // messages written while no read was parked
}

type nread struct {
	tag   uint16
	count uint32
}

type nconn struct {
	w     io.Writer
	out   []byte
	fids  map[uint32]*nfid
	msize uint32
	dirty bool
}

func newNullServer() *nullServer {
	s := &nullServer{}
	s.root = s.newNode(true)
	return s
}

func (s *nullServer) newNode(dir bool) *nnode {
	s.path++
	n := &nnode{qid: plan9.Qid{Path: s.path}}
	if dir {
		n.qid.Type = plan9.QTDIR
		n.children = map[string]*nnode{}
		s.path++
		n.children["ctl"] = &nnode{qid: plan9.Qid{Path: s.path}, ctl: true}
	}
	return n
}

// serve speaks 9P on rwc until it closes.
func (s *nullServer) serve(rwc io.ReadWriteCloser) {
	c := &nconn{w: rwc, fids: map[uint32]*nfid{}, msize: msize}
	r := bufio.NewReaderSize(rwc, 2*msize)
	buf := make([]byte, msize)
	defer rwc.Close()
	for {
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			break
		}
		n := binary.LittleEndian.Uint32(buf)
		if n < 7 || n > c.msize {
			break
		}
		if _, err := io.ReadFull(r, buf[4:n]); err != nil {
			break
		}
		s.mu.Lock()
		ok := s.handle(c, buf[:n])
		if r.Buffered() == 0 || !ok {
			s.flush()
		}
		s.mu.Unlock()
		if !ok {
			break
		}
	}
	s.mu.Lock()
	for id := range c.fids {
		s.clunk(c, id)
	}
	s.mu.Unlock()
}

// flush writes out every connection's gathered replies.
func (s *nullServer) flush() {
	for _, c := range s.dirty {
		c.w.Write(c.out)
		c.out, c.dirty = c.out[:0], false
	}
	s.dirty = s.dirty[:0]
}

func (s *nullServer) queue(c *nconn, b []byte) {
	c.out = append(c.out, b...)
	if !c.dirty {
		c.dirty = true
		s.dirty = append(s.dirty, c)
	}
}

func (s *nullServer) reply(c *nconn, f *plan9.Fcall) {
	b, _ := f.Bytes()
	s.queue(c, b)
}

func (s *nullServer) rerror(c *nconn, tag uint16, err string) {
	s.reply(c, &plan9.Fcall{Type: plan9.Rerror, Tag: tag, Ename: err})
}

// handle answers one request; false means the connection is unusable.
func (s *nullServer) handle(c *nconn, b []byte) bool {
	typ, tag := b[4], binary.LittleEndian.Uint16(b[5:])
	switch typ {
	case plan9.Tread:
		if len(b) != 23 {
			return false
		}
		s.read(c, tag, binary.LittleEndian.Uint32(b[7:]), binary.LittleEndian.Uint32(b[19:]))
		return true
	case plan9.Twrite:
		if len(b) < 23 || int(binary.LittleEndian.Uint32(b[19:])) != len(b)-23 {
			return false
		}
		s.write(c, tag, binary.LittleEndian.Uint32(b[7:]), b[23:])
		return true
	}
	f, err := plan9.UnmarshalFcall(b)
	if err != nil {
		return false
	}
	if err := s.other(c, f); err != nil {
		s.rerror(c, tag, err.Error())
	}
	return true
}

var (
	errUnknownFid = errors.New("unknown fid")
	errNotFound   = errors.New("file does not exist")
	errExists     = errors.New("file already exists")
	errFidInUse   = errors.New("fid in use")
)

// other answers the requests off the hot path.
func (s *nullServer) other(c *nconn, f *plan9.Fcall) error {
	r := &plan9.Fcall{Type: f.Type + 1, Tag: f.Tag}
	fid := c.fids[f.Fid]
	switch f.Type {
	default:
		return errors.New("unknown message")
	case plan9.Tversion:
		for id := range c.fids {
			s.clunk(c, id)
		}
		c.msize = min(f.Msize, msize)
		r.Msize, r.Version = c.msize, "9P2000"
	case plan9.Tflush:
		for _, fid := range c.fids {
			for i, p := range fid.pending {
				if p.tag == f.Oldtag {
					fid.pending = append(fid.pending[:i], fid.pending[i+1:]...)
					break
				}
			}
		}
	case plan9.Tattach:
		if fid != nil {
			return errFidInUse
		}
		c.fids[f.Fid] = &nfid{n: s.root, c: c}
		r.Qid = s.root.qid
	case plan9.Twalk:
		if fid == nil {
			return errUnknownFid
		}
		n := fid.n
		for _, name := range f.Wname {
			m := n.children[name]
			if m == nil {
				break
			}
			n = m
			r.Wqid = append(r.Wqid, n.qid)
		}
		if len(r.Wqid) == 0 && len(f.Wname) > 0 {
			return errNotFound
		}
		if len(r.Wqid) == len(f.Wname) {
			if f.Newfid != f.Fid && c.fids[f.Newfid] != nil {
				return errFidInUse
			}
			c.fids[f.Newfid] = &nfid{n: n, c: c}
		}
	case plan9.Topen, plan9.Tcreate:
		if fid == nil {
			return errUnknownFid
		}
		if f.Type == plan9.Tcreate {
			if fid.n.children[f.Name] != nil {
				return errExists
			}
			n := s.newNode(f.Perm&plan9.DMDIR != 0)
			fid.n.children[f.Name] = n
			fid.n = n
		}
		fid.open = true
		if fid.n.children == nil && !fid.n.ctl && f.Mode&3 != plan9.OWRITE {
			fid.n.readers = append(fid.n.readers, fid)
		}
		r.Qid = fid.n.qid
	case plan9.Tclunk, plan9.Tremove:
		if fid == nil {
			return errUnknownFid
		}
		s.clunk(c, f.Fid)
	}
	s.reply(c, r)
	return nil
}

func (s *nullServer) clunk(c *nconn, id uint32) {
	fid := c.fids[id]
	delete(c.fids, id)
	rs := fid.n.readers
	for i, r := range rs {
		if r == fid {
			fid.n.readers = append(rs[:i], rs[i+1:]...)
			break
		}
	}
}

func (s *nullServer) read(c *nconn, tag uint16, id, count uint32) {
	fid := c.fids[id]
	switch {
	case fid == nil:
		s.rerror(c, tag, errUnknownFid.Error())
	case fid.n.children != nil || fid.n.ctl:
		s.rread(c, tag, nil) // the null server lists nothing
	case len(fid.backlog) > 0:
		m := fid.backlog[0]
		n := min(int(count), len(m))
		s.rread(c, tag, m[:n])
		if n < len(m) {
			fid.backlog[0] = m[n:]
		} else {
			fid.backlog[0] = nil
			fid.backlog = fid.backlog[1:]
		}
	default:
		fid.pending = append(fid.pending, nread{tag, count})
	}
}

func (s *nullServer) write(c *nconn, tag uint16, id uint32, data []byte) {
	fid := c.fids[id]
	if fid == nil {
		s.rerror(c, tag, errUnknownFid.Error())
		return
	}
	var kept []byte // one copy shared by the readers that must wait for it
	for _, r := range fid.n.readers {
		m := data
		for len(m) > 0 && len(r.pending) > 0 && len(r.backlog) == 0 {
			p := r.pending[0]
			r.pending = r.pending[1:]
			n := min(int(p.count), len(m))
			s.rread(r.c, p.tag, m[:n])
			m = m[n:]
		}
		if len(m) > 0 {
			if kept == nil {
				kept = append([]byte(nil), data...)
			}
			r.backlog = append(r.backlog, kept[len(data)-len(m):])
		}
	}
	var b [11]byte
	binary.LittleEndian.PutUint32(b[0:], 11)
	b[4] = plan9.Rwrite
	binary.LittleEndian.PutUint16(b[5:], tag)
	binary.LittleEndian.PutUint32(b[7:], uint32(len(data)))
	s.queue(c, b[:])
}

func (s *nullServer) rread(c *nconn, tag uint16, data []byte) {
	var b [11]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(11+len(data)))
	b[4] = plan9.Rread
	binary.LittleEndian.PutUint16(b[5:], tag)
	binary.LittleEndian.PutUint32(b[7:], uint32(len(data)))
	s.queue(c, b[:])
	s.queue(c, data)
}
