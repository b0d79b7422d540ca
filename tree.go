package main

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"9fans.net/go/plan9"
)

// This file owns names and permissions: groups, streams, qids, stat
// and Plan 9's permission rules (SPEC §3).

// fsError is an error string sent to clients as is.
type fsError string

func (e fsError) Error() string { return string(e) }

// Plan 9's error strings where one exists (SPEC §8.10).
const (
	errNotExist    fsError = "file does not exist"
	errPerm        fsError = "permission denied"
	errExist       fsError = "file already exists"
	errNotDir      fsError = "not a directory"
	errIsDir       fsError = "is a directory"
	errNotEmpty    fsError = "directory not empty"
	errInterrupted fsError = "interrupted"
	errUnknownFid  fsError = "unknown fid"
	errFidInUse    fsError = "fid in use"
	errInUse       fsError = "file in use"
	errDirOffset   fsError = "bad offset in directory read"
	errRemoved     fsError = "file has been removed"
	errNoSpace     fsError = "no buffer space"
	errDropped     fsError = "message dropped unread"
	errNotOwner    fsError = "not owner"
	errLength      fsError = "cannot change length"
	errTagInUse    fsError = "tag in use"
	errCountSmall  fsError = "read count too small"
	errStatBig     fsError = "stat buffer too small"
	errBadStat     fsError = "malformed stat buffer"
	errMsizeSmall  fsError = "msize too small"
	errNoAuth      fsError = "mq: authentication not required"
	errBadName     fsError = "bad file name"
	errNameLong    fsError = "name too long"
	errOpen        fsError = "fid already open"
	errNotOpen     fsError = "fid not open"
	errWalkOpen    fsError = "cannot walk an open fid"
	errBadWstat    fsError = "wstat cannot change that"
	errDirMode     fsError = "cannot change a directory's mode to a file's"
	errFileMode    fsError = "cannot change a file's mode to a directory's"
	errExiting     fsError = "mq: exiting"
)

func fellBehind(n int) error {
	return fsError("reader fell behind: " + strconv.Itoa(n) + " messages lost")
}

type kind int

const (
	kGroup kind = iota
	kStream
	kCtl
	kOrder
)

// rootPath is the root's qid.path, by which scripts know an mq mount.
const rootPath = 0xA000000000000000

// node is a file: a group, a stream, or a group's ctl or order.
type node struct {
	kind         kind
	name         string
	path         uint64
	vers         uint32 // of groups: bumped when their entries change
	mode         plan9.Perm
	uid, gid     string
	muid         string
	atime, mtime uint32
	parent       *node // the group it is in; nil for the root
	removed      bool
	opens        int // open fids, for DMEXCL

	// groups
	q        *queue
	ctl      *node
	order    *node
	children []*node // streams and groups, in creation order
	byName   map[string]*node

	// streams
	sq *streamq
}

// tree is the whole file tree and everything it holds.
type tree struct {
	// mu guards the tree, every node, queue, reader and parked request,
	// and every connection's fids and pending tags: the state requests
	// share. It is never held across I/O.
	mu       sync.Mutex
	root     *node
	users    *users
	st       store
	nextPath uint64
	log      *dlog // with -r: every change is logged
}

func newTree(owner string, u *users, capBytes int64) *tree {
	t := &tree{users: u, st: store{cap: capBytes}, nextPath: 1}
	t.root = t.newGroup(nil, "/", owner, owner, plan9.DMDIR|0775, config{})
	t.root.path, t.root.q.path = rootPath, rootPath
	return t
}

func now() uint32 { return uint32(time.Now().Unix()) }

func (t *tree) newNode(parent *node, k kind, name, uid, gid string, mode plan9.Perm) *node {
	n := &node{kind: k, name: name, path: t.nextPath, mode: mode, uid: uid, gid: gid,
		muid: uid, parent: parent, atime: now()}
	n.mtime = n.atime
	t.nextPath++
	return n
}

func (t *tree) newGroup(parent *node, name, uid, gid string, mode plan9.Perm, cfg config) *node {
	g := t.newNode(parent, kGroup, name, uid, gid, mode)
	g.q = newQueue(&t.st, cfg)
	g.q.log, g.q.path = t.log, g.path
	g.byName = make(map[string]*node)
	g.ctl = t.newNode(g, kCtl, "ctl", uid, gid, 0664)
	g.order = t.newNode(g, kOrder, "order", uid, gid, 0444)
	return g
}

func (n *node) isDir() bool { return n.kind == kGroup }

// gone says whether n has been removed, with its group for ctl and order.
func (n *node) gone() bool {
	return n.removed || (n.kind == kCtl || n.kind == kOrder) && n.parent.removed
}

func (n *node) qid() plan9.Qid {
	q := plan9.Qid{Path: n.path, Vers: n.vers}
	switch n.kind {
	case kGroup:
		q.Type = plan9.QTDIR
	case kStream:
		q.Type = plan9.QTAPPEND
		q.Vers = n.sq.vers
		if n.mode&plan9.DMEXCL != 0 {
			q.Type |= plan9.QTEXCL
		}
	case kOrder:
		q.Vers = n.parent.q.orderVers
	}
	return q
}

func (n *node) stat() *plan9.Dir {
	d := &plan9.Dir{Qid: n.qid(), Mode: n.mode, Atime: n.atime, Mtime: n.mtime,
		Name: n.name, Uid: n.uid, Gid: n.gid, Muid: n.muid}
	if n.kind == kStream {
		d.Length = uint64(n.sq.bytes)
	}
	return d
}

// lookup finds name in group g.
func (g *node) lookup(name string) *node {
	switch name {
	case "ctl":
		return g.ctl
	case "order":
		return g.order
	}
	return g.byName[name]
}

// entries are what a read of group g lists.
func (g *node) entries() []*node {
	return append([]*node{g.ctl, g.order}, g.children...)
}

// hasPerm applies Plan 9's permission rule: want (a mask of DMREAD,
// DMWRITE, DMEXEC) must be granted to other, to the owner, or to the
// group, whichever uid is (SPEC §3.3).
func (t *tree) hasPerm(n *node, uid string, want plan9.Perm) bool {
	m := n.mode & 7
	if want&m == want {
		return true
	}
	if uid == n.uid {
		m |= (n.mode >> 6) & 7
		if want&m == want {
			return true
		}
	}
	if t.users.member(uid, n.gid) {
		m |= (n.mode >> 3) & 7
		if want&m == want {
			return true
		}
	}
	return false
}

// isOwner says whether uid may change n's mode, mtime or gid: its
// owner or the leader of its group (SPEC §3.6).
func (t *tree) isOwner(n *node, uid string) bool {
	return uid == n.uid || t.users.leader(uid, n.gid)
}

// validName refuses what Plan 9's kernel refuses in a name: '/',
// control characters and DEL. A newline in a stream's name would also
// break the lines of order for every reader (SPEC §6.3).
// maxName bounds names and attach names, so that every stat fits in a
// directory read of the smallest msize Plan 9 uses.
const maxName = 255

func validName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= maxName &&
		strings.IndexFunc(name, func(r rune) bool { return r == '/' || r < 0x20 || r == 0x7f }) < 0
}

// create makes a group (DMDIR in perm) or a stream named name in g,
// owned by uid (SPEC §3.2, §3.3).
func (t *tree) create(g *node, uid, name string, perm plan9.Perm) (*node, error) {
	if g.kind != kGroup {
		return nil, errNotDir
	}
	if g.removed {
		return nil, errNotExist
	}
	if !t.hasPerm(g, uid, plan9.DMWRITE) {
		return nil, errPerm
	}
	if !validName(name) {
		return nil, errBadName
	}
	if g.lookup(name) != nil {
		return nil, errExist
	}
	if err := t.log.room(256 + len(name) + len(uid) + len(g.gid)); err != nil {
		return nil, err
	}
	var n *node
	if perm&plan9.DMDIR != 0 {
		mode := perm&(^plan9.Perm(0777)|g.mode&0777)&(plan9.DMDIR|0777) | plan9.DMDIR
		n = t.newGroup(g, name, uid, g.gid, mode, g.q.cfg)
	} else {
		mode := perm&(^plan9.Perm(0666)|g.mode&0666)&(plan9.DMEXCL|0777) | plan9.DMAPPEND
		n = t.newNode(g, kStream, name, uid, g.gid, mode)
		n.sq = g.q.newStream()
		n.sq.path, n.sq.node = n.path, n
	}
	g.children = append(g.children, n)
	g.byName[name] = n
	g.vers++
	g.mtime = n.mtime
	g.muid = uid
	t.log.created(n)
	return n, nil
}

// remove takes n out of the tree for uid (SPEC §3.5), who is then its
// group's last writer, as on Plan 9's file servers (SPEC §3.4).
// Permission is checked by the caller, which may have checked it at
// open (ORCLOSE).
func (t *tree) remove(n *node, uid string) error {
	switch {
	case n.removed:
		return errNotExist
	case n.parent == nil || n.kind == kCtl || n.kind == kOrder:
		return errPerm
	case n.kind == kGroup && len(n.children) > 0:
		return errNotEmpty
	}
	// It only frees history: it may use the room kept for that.
	if err := t.log.roomToFree(32 + len(uid)); err != nil {
		return err
	}
	g := n.parent
	t.unlink(g, n)
	g.muid = uid
	t.log.removed(n, g.mtime, uid)
	n.removed = true
	if n.kind == kStream {
		g.q.removeStream(n.sq)
	} else {
		n.q.remove()
	}
	t.log.freed() // its messages left with it, unlogged
	return nil
}

func (t *tree) unlink(g *node, n *node) {
	for i, c := range g.children {
		if c == n {
			g.children = append(g.children[:i], g.children[i+1:]...)
			break
		}
	}
	delete(g.byName, n.name)
	g.vers++
	g.mtime = now()
}

// wstat applies d to n for uid, all or nothing (SPEC §3.6).
func (t *tree) wstat(n *node, uid string, d *plan9.Dir) error {
	var null plan9.Dir
	null.Null()
	if *d == null {
		return nil // a sync
	}
	if n.gone() {
		return errNotExist
	}
	cur := n.stat()
	if d.Type != null.Type && d.Type != cur.Type || d.Dev != null.Dev && d.Dev != cur.Dev ||
		d.Qid != null.Qid && d.Qid != cur.Qid ||
		d.Uid != "" && d.Uid != cur.Uid || d.Muid != "" && d.Muid != cur.Muid {
		return errBadWstat
	}
	// Length 0 on a stream is how Unix clients send > (Plan 9 sends
	// OTRUNC): accepted, and it changes nothing (SPEC §3.6, §8.4).
	if d.Length != null.Length && d.Length != cur.Length && !(n.kind == kStream && d.Length == 0) {
		return errLength
	}
	rename := d.Name != "" && d.Name != n.name
	if rename {
		g := n.parent
		switch {
		case g == nil || n.kind == kCtl || n.kind == kOrder:
			return errPerm
		case !t.hasPerm(g, uid, plan9.DMWRITE):
			return errPerm
		case d.Name == "ctl" || d.Name == "order":
			return errPerm
		case !validName(d.Name):
			return errBadName
		case g.lookup(d.Name) != nil:
			return errExist
		}
	}
	// A field set to the value it has is no change, and needs no
	// permission, as with Plan 9's file servers: a wstat of what stat
	// returned succeeds for anyone (SPEC §3.6).
	setMode := d.Mode != null.Mode && (n.newMode(d.Mode) != n.mode || (d.Mode&plan9.DMDIR != 0) != n.isDir())
	setMtime := d.Mtime != null.Mtime && d.Mtime != n.mtime
	setAtime := d.Atime != null.Atime && d.Atime != n.atime
	setGid := d.Gid != "" && d.Gid != n.gid
	if (setMode || setMtime || setAtime || setGid) && !t.isOwner(n, uid) {
		return errNotOwner
	}
	// A new group: its owner if a member of it, or the leader of
	// both the old and the new group, as Plan 9's file servers do.
	if setGid && !(uid == n.uid && t.users.member(uid, d.Gid) ||
		t.users.leader(uid, n.gid) && t.users.leader(uid, d.Gid)) {
		return errNotOwner
	}
	if setMode && (d.Mode&plan9.DMDIR != 0) != n.isDir() {
		if n.isDir() {
			return errDirMode
		}
		return errFileMode
	}
	if n.kind == kCtl || n.kind == kOrder {
		if setMode || setGid {
			return errPerm
		}
	}
	if !rename && !setMode && !setMtime && !setGid {
		// Nothing a restart keeps changes (length 0, Unix's >, or
		// atime alone): nothing to log, so a full disk cannot fail it
		// (SPEC §3.6, §8.4).
		if setAtime {
			n.atime = d.Atime
		}
		return nil
	}
	if err := t.log.room(128 + len(d.Name) + len(d.Gid)); err != nil {
		return err
	}
	defer t.log.statChanged(n)
	if rename {
		g := n.parent
		delete(g.byName, n.name)
		n.name = d.Name
		g.byName[n.name] = n
		g.vers++
	}
	if setMode {
		n.mode = n.newMode(d.Mode)
	}
	if setMtime {
		n.mtime = d.Mtime
	}
	if setAtime {
		n.atime = d.Atime
	}
	if setGid {
		n.gid = d.Gid
		if n.kind == kGroup {
			n.ctl.gid, n.order.gid = d.Gid, d.Gid
		}
	}
	return nil
}

// newMode is n's mode after a wstat asks for mode: its permission
// bits and DMEXCL (streams only) change; DMDIR and DMAPPEND stay.
func (n *node) newMode(mode plan9.Perm) plan9.Perm {
	keep := plan9.Perm(plan9.DMDIR | plan9.DMAPPEND)
	set := plan9.Perm(0777)
	if n.kind == kStream {
		set |= plan9.DMEXCL
	} else {
		keep = plan9.DMDIR
	}
	return n.mode&keep | mode&set
}

// walk1 steps from n to name for uid, whose walks stop going up at
// root, its attach's (SPEC §8.3).
func (t *tree) walk1(n, root *node, uid, name string) (*node, error) {
	if !n.isDir() {
		return nil, errNotDir
	}
	if !t.hasPerm(n, uid, plan9.DMEXEC) {
		return nil, errPerm
	}
	if name == ".." {
		if n == root || n.parent == nil {
			return n, nil
		}
		return n.parent, nil
	}
	next := n.lookup(name)
	if n.removed || next == nil {
		return nil, errNotExist
	}
	return next, nil
}

// checkOpen applies the permission rules of an open (SPEC §3.3, §8.4).
func (t *tree) checkOpen(n *node, uid string, mode uint8) error {
	if n.isDir() && (mode&3 != plan9.OREAD || mode&plan9.OTRUNC != 0) {
		return errIsDir
	}
	need := [4]plan9.Perm{plan9.DMREAD, plan9.DMWRITE, plan9.DMREAD | plan9.DMWRITE, plan9.DMEXEC}[mode&3]
	if mode&plan9.OTRUNC != 0 {
		need |= plan9.DMWRITE
	}
	if !t.hasPerm(n, uid, need) {
		return errPerm
	}
	if mode&plan9.ORCLOSE != 0 && (n.parent == nil || !t.hasPerm(n.parent, uid, plan9.DMWRITE)) {
		return errPerm
	}
	return nil
}

// depth is how many groups n is below the root.
func (n *node) depth() int {
	d := 0
	for p := n.parent; p != nil; p = p.parent {
		d++
	}
	return d
}

// walkTo resolves an attach name, a path of groups below the root.
func (t *tree) walkTo(aname, uid string) (*node, error) {
	n := t.root
	for _, name := range strings.Split(aname, "/") {
		if name == "" || name == "." {
			continue
		}
		if !t.hasPerm(n, uid, plan9.DMEXEC) {
			return nil, errPerm
		}
		c := n.lookup(name)
		if c == nil || c.kind != kGroup {
			return nil, errNotExist
		}
		n = c
	}
	return n, nil
}
