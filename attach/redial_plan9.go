//go:build plan9

package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
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

// A connection on Plan 9 is a mount of /srv/srv on a directory of its
// own, in the supervisor's name space (its own: it runs with
// RFNAMEG). The kernel's mount driver gives every call its own tag, so
// mounts share the service's channel safely; when mq dies, the calls
// on it fail with the hangup of its pipe.
type mountConn struct{ dir string }

func (m mountConn) Close() error {
	syscall.Unmount("", m.dir)
	return os.Remove(m.dir)
}

// mountBase is the directory the mounts are made in.
var mountBase string

// dial mounts the service, waiting for it as long as it takes and
// starting it when it is not posted, if it is ours to start.
func (r *redialFS) dial() (rconn, rfsys, error) {
	pause := 10 * time.Millisecond
	for {
		fd, err := syscall.Open("/srv/"+r.srv, syscall.O_RDWR)
		if err == nil {
			c, err := mountOn(fd)
			syscall.Close(fd)
			if err == nil {
				return c, nsFsys{c.dir}, nil
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

func mountOn(fd int) (mountConn, error) {
	if mountBase == "" {
		d, err := os.MkdirTemp("", "attach.")
		if err != nil {
			return mountConn{}, err
		}
		mountBase = d
	}
	dir, err := os.MkdirTemp(mountBase, "c")
	if err != nil {
		return mountConn{}, err
	}
	if err := syscall.Mount(fd, -1, dir, syscall.MREPL|syscall.MCREATE, ""); err != nil {
		os.Remove(dir)
		return mountConn{}, err
	}
	return mountConn{dir}, nil
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
