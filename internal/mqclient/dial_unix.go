//go:build !plan9

package mqclient

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// User is the name the commands attach as and put in service names:
// the effective user's login name, else $USER, as mq does (SPEC §3.1).
func User() string {
	// Not user.Current, which names the real user: a set-uid mq runs
	// as, and owns its root as, the user it is set to.
	if u, err := user.LookupId(strconv.Itoa(os.Geteuid())); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "none"
}

// NamespaceDir is plan9port's name space directory, where services
// are posted as Unix sockets: $NAMESPACE, else /tmp/ns.USER.DISPLAY
// with DISPLAY's trailing ".0" dropped and ":0" when unset.
func NamespaceDir() string {
	if ns := os.Getenv("NAMESPACE"); ns != "" {
		return ns
	}
	disp := os.Getenv("DISPLAY")
	if disp == "" {
		disp = ":0"
	}
	disp = strings.TrimSuffix(disp, ".0")
	disp = strings.ReplaceAll(disp, "/", "_")
	return fmt.Sprintf("/tmp/ns.%s.%s", realUser(), disp)
}

// realUser is the real user's login name, as plan9port's getuser
// gives it for the name space directory (getpwuid(getuid())), even
// for a set-uid mq.
func realUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "none"
}

// Socket is the path of service srv's socket.
func Socket(srv string) string { return filepath.Join(NamespaceDir(), srv) }

// Service reaches the posted service srv over 9P, with no mount, and
// attaches to its root.
func Service(srv string) (FS, error) {
	nc, err := net.Dial("unix", Socket(srv))
	if err != nil {
		return nil, err
	}
	w := &watched{Conn: nc, broken: make(chan struct{})}
	c, err := client.NewConn(w)
	if err != nil {
		nc.Close()
		return nil, err
	}
	fsys, err := c.Attach(nil, User(), "")
	if err != nil {
		c.Close()
		return nil, err
	}
	return &ninep{c, fsys, w.broken}, nil
}

// watched is a connection that says when reading or writing it fails.
// The 9P client hands the reading of replies from one waiting request
// to the next; when a read or write fails, the requests left waiting
// are never answered, so their callers must learn of it another way
// (Lost).
type watched struct {
	net.Conn
	once   sync.Once
	broken chan struct{}
}

func (w *watched) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if err != nil {
		w.once.Do(func() { close(w.broken) })
	}
	return n, err
}

func (w *watched) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	if err != nil {
		w.once.Do(func() { close(w.broken) })
	}
	return n, err
}

// ninep is a service spoken to over 9P.
type ninep struct {
	conn   *client.Conn
	fsys   *client.Fsys
	broken chan struct{} // closed when the connection fails
}

func (n *ninep) lost() <-chan struct{} { return n.broken }

// ninepMsgSize covers the iounit of any connection of the 9fans client,
// whose msize is at most 128K: the client cuts each read to its iounit,
// so a read of this size is one Tread of the whole iounit.
const ninepMsgSize = 128 << 10

// walkErr says a failed walk the way the server does: the 9fans
// client reports a walk that fails past its first name in words of
// its own.
func walkErr(err error) error {
	if e, ok := err.(client.Error); ok && strings.HasPrefix(string(e), "file '") && strings.HasSuffix(string(e), "' not found") {
		return client.Error("file does not exist")
	}
	return err
}

func (n *ninep) Open(name string, mode uint8) (File, error) {
	fid, err := n.fsys.Open(name, mode)
	if err != nil {
		return nil, walkErr(err)
	}
	return fid, nil
}

func (n *ninep) Create(name string, perm plan9.Perm) error {
	mode := uint8(plan9.OWRITE)
	if perm&plan9.DMDIR != 0 {
		mode = plan9.OREAD
	}
	fid, err := n.fsys.Create(path.Clean(name), mode, perm)
	if err != nil {
		return walkErr(err)
	}
	return fid.Close()
}

func (n *ninep) Remove(name string) error { return walkErr(n.fsys.Remove(name)) }

func (n *ninep) Stat(name string) (*Dir, error) {
	d, err := n.fsys.Stat(name)
	if err != nil {
		return nil, walkErr(err)
	}
	return &Dir{Name: d.Name, IsDir: d.Mode&plan9.DMDIR != 0, Length: int64(d.Length), Vers: d.Qid.Vers}, nil
}

func (n *ninep) ReadDir(name string) ([]Dir, error) {
	fid, err := n.fsys.Open(name, plan9.OREAD)
	if err != nil {
		return nil, walkErr(err)
	}
	defer fid.Close()
	ds, err := fid.Dirreadall()
	if err != nil {
		return nil, err
	}
	dirs := make([]Dir, len(ds))
	for i, d := range ds {
		dirs[i] = Dir{Name: d.Name, IsDir: d.Mode&plan9.DMDIR != 0, Length: int64(d.Length)}
	}
	return dirs, nil
}

func (n *ninep) Gone(f File, name string) bool {
	fid, ok := f.(*client.Fid)
	if !ok {
		return true
	}
	now, err := n.fsys.Stat(name)
	return err != nil || now.Qid.Path != fid.Qid().Path
}

func (*ninep) MsgSize() int { return ninepMsgSize }

func (n *ninep) Close() error { return n.conn.Close() }
