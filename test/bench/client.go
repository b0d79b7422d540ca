//go:build !plan9

package main

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/user"

	"9fans.net/go/plan9"
)

// msize is what the Plan 9 kernel asks for: 8 KiB of data per message.
const msize = 8192 + plan9.IOHDRSZ

// conn is a raw 9P client: the caller picks tags and may have many
// requests in flight; sends are buffered until flush, so a round of
// requests leaves in one write.
type conn struct {
	rwc io.ReadWriteCloser
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte // the last reply read; reply.data points into it
}

// reply is a decoded R-message. data is valid until the next recv.
type reply struct {
	typ   uint8
	tag   uint16
	count uint32 // Rwrite
	data  []byte // Rread
	ename string // Rerror
	f     *plan9.Fcall
}

func newConn(rwc io.ReadWriteCloser) *conn {
	return &conn{
		rwc: rwc,
		r:   bufio.NewReaderSize(rwc, 2*msize),
		w:   bufio.NewWriterSize(rwc, 2*msize),
		buf: make([]byte, msize),
	}
}

func (c *conn) Close() error { return c.rwc.Close() }

func (c *conn) flush() error { return c.w.Flush() }

// send queues f; the hot messages are encoded by hand so the client
// costs the same small amount against every server.
func (c *conn) send(f *plan9.Fcall) error {
	b, err := f.Bytes()
	if err != nil {
		return err
	}
	_, err = c.w.Write(b)
	return err
}

func (c *conn) sendRead(tag uint16, fid uint32, off uint64, count uint32) {
	var b [23]byte
	binary.LittleEndian.PutUint32(b[0:], 23)
	b[4] = plan9.Tread
	binary.LittleEndian.PutUint16(b[5:], tag)
	binary.LittleEndian.PutUint32(b[7:], fid)
	binary.LittleEndian.PutUint64(b[11:], off)
	binary.LittleEndian.PutUint32(b[19:], count)
	c.w.Write(b[:])
}

func (c *conn) sendWrite(tag uint16, fid uint32, data []byte) {
	var b [23]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(23+len(data)))
	b[4] = plan9.Twrite
	binary.LittleEndian.PutUint16(b[5:], tag)
	binary.LittleEndian.PutUint32(b[7:], fid)
	binary.LittleEndian.PutUint64(b[11:], 0)
	binary.LittleEndian.PutUint32(b[19:], uint32(len(data)))
	c.w.Write(b[:])
	c.w.Write(data)
}

// recv reads one reply. Rread, Rwrite and Rerror are decoded in place;
// anything else through plan9.UnmarshalFcall.
func (c *conn) recv() (reply, error) {
	var r reply
	if _, err := io.ReadFull(c.r, c.buf[:4]); err != nil {
		return r, err
	}
	n := binary.LittleEndian.Uint32(c.buf)
	if n < 7 || n > msize {
		return r, fmt.Errorf("bad reply size %d", n)
	}
	b := c.buf[:n]
	if _, err := io.ReadFull(c.r, b[4:]); err != nil {
		return r, err
	}
	r.typ, r.tag = b[4], binary.LittleEndian.Uint16(b[5:])
	switch r.typ {
	case plan9.Rread:
		if n < 11 || int(binary.LittleEndian.Uint32(b[7:])) != int(n)-11 {
			return r, fmt.Errorf("bad Rread")
		}
		r.data = b[11:]
	case plan9.Rwrite:
		if n != 11 {
			return r, fmt.Errorf("bad Rwrite")
		}
		r.count = binary.LittleEndian.Uint32(b[7:])
	default:
		f, err := plan9.UnmarshalFcall(b)
		if err != nil {
			return r, err
		}
		r.f, r.ename = f, f.Ename
	}
	return r, nil
}

// rpc sends f and waits for its reply, with nothing else in flight.
func (c *conn) rpc(f *plan9.Fcall) (*plan9.Fcall, error) {
	if err := c.send(f); err != nil {
		return nil, err
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	r, err := c.recv()
	if err != nil {
		return nil, err
	}
	if r.tag != f.Tag {
		return nil, fmt.Errorf("%v: reply tag %d", f, r.tag)
	}
	if r.typ == plan9.Rerror {
		return nil, fmt.Errorf("%v: %s", f, r.ename)
	}
	if r.typ != f.Type+1 {
		return nil, fmt.Errorf("%v: reply type %d", f, r.typ)
	}
	if r.f == nil { // decoded in place: Rread or Rwrite
		r.f = &plan9.Fcall{Type: r.typ, Tag: r.tag, Count: r.count, Data: append([]byte(nil), r.data...)}
	}
	return r.f, nil
}

// session is a connection attached as fid 0 to the root of a server's
// tree, with fids handed out in order from 1.
type session struct {
	*conn
	next uint32
}

const rootFid = 0

// uname attaches as the user running the servers, who owns mq's root
// (SPEC §3.1) and so may make groups in it.
var uname = func() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return cmp.Or(os.Getenv("USER"), "none")
}()

func attach(rwc io.ReadWriteCloser) (*session, error) {
	c := newConn(rwc)
	rf, err := c.rpc(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: msize, Version: "9P2000"})
	if err != nil {
		return nil, err
	}
	if rf.Msize != msize || rf.Version != "9P2000" {
		return nil, fmt.Errorf("Rversion %v", rf)
	}
	_, err = c.rpc(&plan9.Fcall{Type: plan9.Tattach, Fid: rootFid, Afid: plan9.NOFID, Uname: uname})
	if err != nil {
		return nil, err
	}
	return &session{conn: c, next: 1}, nil
}

func (s *session) newFid() uint32 { s.next++; return s.next - 1 }

// walk walks a new fid from the root to path.
func (s *session) walk(path ...string) (uint32, error) {
	fid := s.newFid()
	rf, err := s.rpc(&plan9.Fcall{Type: plan9.Twalk, Fid: rootFid, Newfid: fid, Wname: path})
	if err != nil {
		return 0, err
	}
	if len(rf.Wqid) != len(path) {
		return 0, fmt.Errorf("walk %v: not found", path)
	}
	return fid, nil
}

// mkgroup makes the group dir in the root (SPEC §3.2).
func (s *session) mkgroup(dir string) error {
	fid, err := s.walk()
	if err != nil {
		return err
	}
	_, err = s.rpc(&plan9.Fcall{Type: plan9.Tcreate, Fid: fid, Name: dir, Perm: plan9.DMDIR | 0777, Mode: plan9.OREAD})
	if err != nil {
		return err
	}
	return s.clunk(fid)
}

// mkstream makes stream name in group dir and returns a fid open on it
// for writing.
func (s *session) mkstream(dir, name string) (uint32, error) {
	fid, err := s.walk(dir)
	if err != nil {
		return 0, err
	}
	_, err = s.rpc(&plan9.Fcall{Type: plan9.Tcreate, Fid: fid, Name: name, Perm: 0666, Mode: plan9.OWRITE})
	return fid, err
}

// open returns a new fid open on path with mode.
func (s *session) open(mode uint8, path ...string) (uint32, error) {
	fid, err := s.walk(path...)
	if err != nil {
		return 0, err
	}
	_, err = s.rpc(&plan9.Fcall{Type: plan9.Topen, Fid: fid, Mode: mode})
	return fid, err
}

func (s *session) clunk(fid uint32) error {
	_, err := s.rpc(&plan9.Fcall{Type: plan9.Tclunk, Fid: fid})
	return err
}

// ctl writes cmd to the ctl file of group dir (SPEC §4.2).
func (s *session) ctl(dir, cmd string) error {
	fid, err := s.open(plan9.OWRITE, dir, "ctl")
	if err != nil {
		return err
	}
	if _, err := s.rpc(&plan9.Fcall{Type: plan9.Twrite, Fid: fid, Data: []byte(cmd + "\n"), Count: uint32(len(cmd) + 1)}); err != nil {
		return err
	}
	return s.clunk(fid)
}

// readDir reads the whole directory open on fid and returns its
// entry count.
func (s *session) readDir(fid uint32) (int, error) {
	n := 0
	for off := uint64(0); ; {
		rf, err := s.rpc(&plan9.Fcall{Type: plan9.Tread, Fid: fid, Offset: off, Count: msize - plan9.IOHDRSZ})
		if err != nil {
			return 0, err
		}
		if len(rf.Data) == 0 {
			return n, nil
		}
		for b := rf.Data; len(b) > 0; n++ {
			sz := int(binary.LittleEndian.Uint16(b)) + 2
			if sz > len(b) {
				return 0, fmt.Errorf("directory read: torn entry")
			}
			b = b[sz:]
		}
		off += uint64(len(rf.Data))
	}
}
