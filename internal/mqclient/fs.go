// Package mqclient is what mq-cat and attach share: the files of an mq
// service reached either through the name space (a mount: plain file
// I/O) or over 9P on a posted service, and the reading of a group's
// streams in the order they were written (SPEC §6.3, §9).
package mqclient

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"9fans.net/go/plan9"
)

// An FS is the part of a file tree the commands use. Names are slash
// separated and relative to the tree's root.
type FS interface {
	Open(name string, mode uint8) (File, error) // mode: plan9.OREAD, OWRITE, ORDWR
	Create(name string, perm plan9.Perm) error  // a stream, or with DMDIR a group
	Remove(name string) error
	Stat(name string) (*Dir, error)
	ReadDir(name string) ([]Dir, error)
	// Gone says whether name no longer names the open file f: it
	// was removed, or removed and made again.
	Gone(f File, name string) bool
	// MsgSize is a read count that holds any message the server can
	// carry to this client in one read (see Follower).
	MsgSize() int
	Close() error
}

// A File is an open file of an FS.
type File interface {
	io.ReadWriteCloser
}

// Dir is what the commands need of a directory entry.
type Dir struct {
	Name   string
	IsDir  bool
	Length int64
	Vers   uint32 // qid.vers; 0 where it cannot be told (a mount on Unix)
}

// The name space: mq-cat on a mount, attach on Plan 9.
type osFS struct {
	root   string // "" for names used as given
	iounit int    // of the files opened so far; 0 if not known
}

// NameSpace is the file tree seen through the name space, rooted at
// root ("" to take names as they are given).
func NameSpace(root string) FS { return &osFS{root: root} }

// nsMsgSize is the read count on a mount when the iounit is not known:
// the Plan 9 kernel's. A larger read would have the kernel join a
// message of exactly its iounit with the next one.
const nsMsgSize = 8192

func (o *osFS) path(name string) string {
	if o.root == "" {
		if name == "" {
			return "."
		}
		return name
	}
	return filepath.Join(o.root, name)
}

func (o *osFS) Open(name string, mode uint8) (File, error) {
	flag := os.O_RDONLY
	switch mode & 3 {
	case plan9.OWRITE:
		flag = os.O_WRONLY
	case plan9.ORDWR:
		flag = os.O_RDWR
	}
	var f *os.File
	var err error
	if flag == os.O_RDONLY {
		f, err = openRead(o.path(name))
	} else {
		f, err = os.OpenFile(o.path(name), flag, 0)
	}
	if err != nil {
		return nil, err
	}
	if n := iounit(f); n > 0 {
		o.iounit = n
	}
	if flag == os.O_RDONLY {
		return reader(f), nil
	}
	return nsFile(f), nil
}

func (o *osFS) Create(name string, perm plan9.Perm) error {
	if perm&plan9.DMDIR != 0 {
		return os.Mkdir(o.path(name), os.FileMode(perm&0777))
	}
	f, err := os.OpenFile(o.path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(perm&0777))
	if err != nil {
		return err
	}
	return f.Close()
}

func (o *osFS) Remove(name string) error { return os.Remove(o.path(name)) }

func (o *osFS) Stat(name string) (*Dir, error) {
	fi, err := os.Stat(o.path(name))
	if err != nil {
		return nil, err
	}
	return &Dir{Name: fi.Name(), IsDir: fi.IsDir(), Length: fi.Size(), Vers: qidVers(fi)}, nil
}

func (o *osFS) ReadDir(name string) ([]Dir, error) {
	ents, err := os.ReadDir(o.path(name))
	if err != nil {
		return nil, err
	}
	var dirs []Dir
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		dirs = append(dirs, Dir{Name: fi.Name(), IsDir: fi.IsDir(), Length: fi.Size()})
	}
	return dirs, nil
}

func (o *osFS) Gone(f File, name string) bool {
	of := OSFile(f)
	if of == nil {
		return true
	}
	fi, err := of.Stat()
	if err != nil {
		return true
	}
	now, err := os.Stat(o.path(name))
	return err != nil || !os.SameFile(fi, now)
}

func (o *osFS) MsgSize() int {
	if o.iounit > 0 {
		return o.iounit
	}
	return nsMsgSize
}

func (*osFS) Close() error { return nil }

// Lost returns a channel that is closed when fs's connection to its
// server fails, after which requests still waiting may never end; nil
// (never closed) on a name space, where the system ends them.
func Lost(fs FS) <-chan struct{} {
	if l, ok := fs.(interface{ lost() <-chan struct{} }); ok {
		return l.lost()
	}
	return nil
}

// IsNotExist says whether err means a file is not there, in either
// tree.
func IsNotExist(err error) bool {
	if err == nil {
		return false
	}
	if os.IsNotExist(err) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "does not exist") || strings.Contains(s, "not found")
}

// IsExist says whether err means a file is already there.
func IsExist(err error) bool {
	if err == nil {
		return false
	}
	return os.IsExist(err) || strings.Contains(err.Error(), "already exists")
}

// Interrupted says whether err is a system call's "interrupted" error,
// which on Plan 9 a note gives the call it lands in (see noteFile).
func Interrupted(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err != nil && err.Error() == "interrupted"
}

// PathErr is err about name, as Plan 9 commands say it: "name: text",
// without the operation os adds.
func PathErr(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %v", name, err)
}

// OSFile is the open file of the name space behind f, or nil.
func OSFile(f File) *os.File {
	switch f := f.(type) {
	case *os.File:
		return f
	case interface{ osFile() *os.File }:
		return f.osFile()
	}
	return nil
}
