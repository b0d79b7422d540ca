//go:build plan9

package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"9fans.net/go/plan9"

	"mq/internal/mqclient"
)

// ninepMsgSize is a read count that holds any message: reads are cut
// to each file's iounit (nsFid.Read), so that the kernel never joins
// two messages in one read.
const ninepMsgSize = 128 << 10

// keepsHistory says whether service srv is the mq that attach starts:
// one that holds srv's historyDir, whose lock file, DMEXCL, the file
// server then refuses to open again (see mq's lockDir).
func keepsHistory(srv string) bool {
	dir, err := historyPath(srv)
	if err != nil {
		return false
	}
	f, err := os.OpenFile(dir+"/lock", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return false
	}
	return exclusive(err)
}

// exclusive says whether err is a file server's refusal to open a
// DMEXCL file that is open already.
func exclusive(err error) bool {
	e := err.Error()
	return strings.Contains(e, "excl") || strings.Contains(e, "in use") || strings.Contains(e, "locked")
}

// A connection on Plan 9 is a mount of /srv/srv in the supervisor's
// name space (its own: it runs with RFNAMEG). The kernel's mount
// driver gives every call its own tag, so all calls share one mount
// while it works; when mq dies they fail with the hangup of its pipe,
// and the next dial mounts the service again on a directory of its
// own. A mount is undone once it is dead and its last user is done.
type mount struct {
	dir  string
	refs int
	dead bool
}

var (
	mountMu   sync.Mutex // guards mountBase and mountCur
	mountBase string     // the directory the mounts are made in
	mountCur  *mount     // the mount calls go on, nil if none
)

type mountConn struct{ m *mount }

func (c mountConn) Close() error {
	mountMu.Lock()
	c.m.refs--
	m := c.m
	gone := m.dead && m.refs == 0
	mountMu.Unlock()
	if gone {
		m.undo()
	}
	return nil
}

func (m *mount) undo() {
	syscall.Unmount("", m.dir)
	os.Remove(m.dir)
}

// alive says whether the service answers on m.
func (m *mount) alive() bool {
	buf := make([]byte, 512)
	_, err := syscall.Stat(m.dir, buf)
	return err == nil
}

// dial returns a connection to the service, mounting it again if need
// be, waiting for it as long as it takes and starting it when it is
// not posted, if it is ours to start.
func (r *redialFS) dial() (rconn, rfsys, error) {
	pause := 10 * time.Millisecond
	for {
		mountMu.Lock()
		m := mountCur
		mountMu.Unlock()
		if m != nil {
			ok := m.alive() // a call: not under the lock
			mountMu.Lock()
			if ok && !m.dead {
				m.refs++
				mountMu.Unlock()
				return mountConn{m}, nsFsys{m.dir}, nil
			}
			if !m.dead {
				m.dead = true
				if mountCur == m {
					mountCur = nil
				}
				if m.refs == 0 {
					mountMu.Unlock()
					m.undo()
					continue
				}
			}
			mountMu.Unlock()
		}
		fd, err := syscall.Open("/srv/"+r.srv, syscall.O_RDWR)
		if err == nil {
			m, err := mountOn(fd)
			syscall.Close(fd)
			if err == nil {
				mountMu.Lock()
				if mountCur != nil {
					// Another goroutine mounted it meanwhile.
					mountMu.Unlock()
					m.undo()
					continue
				}
				mountCur = m
				m.refs++
				mountMu.Unlock()
				return mountConn{m}, nsFsys{m.dir}, nil
			}
		} else if mqclient.IsNotExist(err) {
			if !r.restart {
				return nil, nil, errGone
			}
			r.start()
		}
		time.Sleep(pause)
		pause = min(2*pause, redialMax)
	}
}

func mountOn(fd int) (*mount, error) {
	mountMu.Lock()
	if mountBase == "" {
		d, err := os.MkdirTemp("", "attach.")
		if err != nil {
			mountMu.Unlock()
			return nil, err
		}
		mountBase = d
	}
	base := mountBase
	mountMu.Unlock()
	dir, err := os.MkdirTemp(base, "c")
	if err != nil {
		return nil, err
	}
	if err := syscall.Mount(fd, -1, dir, syscall.MREPL|syscall.MCREATE, ""); err != nil {
		os.Remove(dir)
		return nil, err
	}
	return &mount{dir: dir}, nil
}

// start starts mq for the service unless it is posted already: `mq -r
// dir -s srv` returns once it is. Another mq starting at the same time
// makes this one fail, which dial's next try sees.
func (r *redialFS) start() {
	r.starting.Lock()
	defer r.starting.Unlock()
	if _, err := os.Stat("/srv/" + r.srv); err == nil {
		return
	}
	mq, err := exec.LookPath("mq")
	if err != nil {
		return
	}
	dir, err := historyDir(r.srv)
	if err != nil {
		return
	}
	exec.Command(mq, "-r", dir, "-s", r.srv).Run()
}

// broken says whether err, from a call on a mount, means the service's
// channel is gone (mq died) rather than that mq refused the call.
func broken(err error) bool {
	if err == nil || err == io.EOF {
		return false
	}
	e := err.Error()
	for _, s := range []string{"hungup", "hung up", "mount rpc", "short message", "bad 9p", "closed pipe", "unmounted"} {
		if strings.Contains(strings.ToLower(e), s) {
			return true
		}
	}
	return false
}

// nsFsys is the tree mounted on root.
type nsFsys struct{ root string }

func (n nsFsys) path(name string) string { return n.root + "/" + name }

func (n nsFsys) Open(name string, mode uint8) (rfid, error) {
	fd, err := syscall.Open(n.path(name), int(mode))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return newNSFid(fd, name), nil
}

func (n nsFsys) Create(name string, mode uint8, perm plan9.Perm) (rfid, error) {
	fd, err := syscall.Create(n.path(name), int(mode), uint32(perm))
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	return newNSFid(fd, name), nil
}

func (n nsFsys) Remove(name string) error { return syscall.Remove(n.path(name)) }

func (n nsFsys) Stat(name string) (*plan9.Dir, error) {
	buf := make([]byte, 1024)
	k, err := syscall.Stat(n.path(name), buf)
	if err != nil {
		return nil, err
	}
	return plan9.UnmarshalDir(buf[:k])
}

// An nsFid is a file of a mount.
type nsFid struct {
	f      *os.File
	iounit int
}

func newNSFid(fd int, name string) *nsFid {
	f := os.NewFile(uintptr(fd), name)
	return &nsFid{f, mqclient.IOUnit(f)}
}

func (n *nsFid) Read(b []byte) (int, error) {
	if n.iounit > 0 && len(b) > n.iounit {
		b = b[:n.iounit]
	}
	return n.f.Read(b)
}

func (n *nsFid) Write(b []byte) (int, error) { return n.f.Write(b) }

func (n *nsFid) Stat() (*plan9.Dir, error) {
	buf := make([]byte, 1024)
	k, err := syscall.Fstat(int(n.f.Fd()), buf)
	if err != nil {
		return nil, err
	}
	return plan9.UnmarshalDir(buf[:k])
}

func (n *nsFid) Dirreadall() ([]*plan9.Dir, error) {
	fis, err := n.f.Readdir(-1)
	var ds []*plan9.Dir
	for _, fi := range fis {
		d := &plan9.Dir{Name: fi.Name(), Length: uint64(fi.Size())}
		if fi.IsDir() {
			d.Mode = plan9.DMDIR
		}
		ds = append(ds, d)
	}
	return ds, err
}

func (n *nsFid) Close() error { return n.f.Close() }
