//go:build !plan9

package main

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"mq/internal/mqclient"
)

// ninepMsgSize is a read count that holds any message mq sends the
// 9fans client, whose msize is at most 128K (as in mqclient).
const ninepMsgSize = 128 << 10

// keepsHistory says whether service srv is the mq that attach starts:
// one that holds the lock of srv's historyDir. Only that one is started
// again when it is gone; a service attach did not start may have kept
// nothing, and once it is gone its sessions end as they did before
// mq -r.
func keepsHistory(srv string) bool {
	dir, err := historyPath(srv)
	if err != nil {
		return false
	}
	f, err := os.Open(filepath.Join(dir, "lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false
	}
	return errors.Is(err, syscall.EWOULDBLOCK)
}

// dial connects to the service over its socket, waiting for it as long
// as it takes and starting it when it is not posted (startMQ copes with
// another process starting it at the same time), if it is ours to
// start.
func (r *redialFS) dial() (rconn, rfsys, error) {
	pause := 10 * time.Millisecond
	for {
		c, err := client.Dial("unix", mqclient.Socket(r.srv))
		if err == nil {
			fsys, err := c.Attach(nil, mqclient.User(), "")
			if err == nil {
				return c, p9pFsys{fsys}, nil
			}
			c.Close()
		} else if notPosted(err) {
			if !r.restart {
				return nil, nil, errGone
			}
			r.start()
		}
		time.Sleep(pause)
		pause = min(2*pause, redialMax)
	}
}

// start starts mq for the service unless another of our goroutines
// has started it meanwhile.
func (r *redialFS) start() {
	r.starting.Lock()
	defer r.starting.Unlock()
	c, err := client.Dial("unix", mqclient.Socket(r.srv))
	if err == nil {
		c.Close()
		return
	}
	if notPosted(err) {
		startMQ(r.srv)
	}
}

// broken says whether err, from a call on a connection, means the
// connection is gone rather than that the server refused the call.
func broken(err error) bool {
	var e client.Error
	return err != nil && !errors.As(err, &e)
}

// p9pFsys is the 9fans client's tree as an rfsys.
type p9pFsys struct{ fs *client.Fsys }

func (p p9pFsys) Open(name string, mode uint8) (rfid, error) {
	f, err := p.fs.Open(name, mode)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (p p9pFsys) Create(name string, mode uint8, perm plan9.Perm) (rfid, error) {
	f, err := p.fs.Create(name, mode, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (p p9pFsys) Remove(name string) error { return p.fs.Remove(name) }

func (p p9pFsys) Stat(name string) (*plan9.Dir, error) { return p.fs.Stat(name) }
