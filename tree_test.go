package main

// SPEC §3: the tree, Plan 9 permissions, stat, remove and wstat.

import (
	"fmt"
	"strings"
	"testing"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Path-level helpers for tests about files rather than messages. Each
// uses fid 0, the attach root, and scratch fids it clunks again.

const scratch = 900

// errOf is a reply's error, "" for success.
func errOf(r *plan9.Fcall) string {
	if r.Type == plan9.Rerror {
		return r.Ename
	}
	return ""
}

func split(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// walkTo walks newfid from fid 0 to path, returning the error of the
// name where the walk stopped.
func (tc *testConn) walkTo(newfid uint32, path string) string {
	tc.t.Helper()
	names := split(path)
	r := tc.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: newfid, Wname: names})
	if r.Type != plan9.Rwalk || len(r.Wqid) == len(names) {
		return errOf(r)
	}
	// A partial walk (SPEC §8.3): walk on from where it stopped for
	// the error.
	n := len(r.Wqid)
	tc.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: scratch + 1, Wname: names[:n]})
	r = tc.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: scratch + 1, Newfid: scratch + 2, Wname: names[n : n+1]})
	tc.clunk(scratch + 1)
	if r.Type != plan9.Rerror {
		tc.t.Fatalf("walk %s stopped after %d names, but the next walks: %v", path, n, r)
	}
	return r.Ename
}

func (tc *testConn) clunk(fid uint32) {
	tc.t.Helper()
	tc.rpc(&plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: fid})
}

// openAt walks fid to path and opens it with mode.
func (tc *testConn) openAt(fid uint32, path string, mode uint8) string {
	tc.t.Helper()
	if e := tc.walkTo(fid, path); e != "" {
		return e
	}
	r := tc.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: fid, Mode: mode})
	if r.Type == plan9.Rerror {
		tc.clunk(fid)
	}
	return errOf(r)
}

// create makes path with perm, as mkdir or touch would.
func (tc *testConn) create(path string, perm plan9.Perm) string {
	tc.t.Helper()
	dir, name := "", path
	if i := strings.LastIndex(path, "/"); i >= 0 {
		dir, name = path[:i], path[i+1:]
	}
	if e := tc.walkTo(scratch, dir); e != "" {
		return e
	}
	defer tc.clunk(scratch)
	return errOf(tc.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: scratch, Name: name, Perm: perm, Mode: plan9.OREAD}))
}

// put writes data to path in one Twrite, as echo does.
func (tc *testConn) put(path, data string) string {
	tc.t.Helper()
	if e := tc.openAt(scratch, path, plan9.OWRITE); e != "" {
		return e
	}
	defer tc.clunk(scratch)
	return errOf(tc.rpc(&plan9.Fcall{Type: plan9.Twrite, Tag: 1, Fid: scratch, Data: []byte(data)}))
}

// get reads path to its end, as cat does; only for files whose reads
// never block (ctl, static streams).
func (tc *testConn) get(path string) string {
	tc.t.Helper()
	if e := tc.openAt(scratch, path, plan9.OREAD); e != "" {
		tc.t.Fatalf("open %s: %s", path, e)
	}
	defer tc.clunk(scratch)
	var b []byte
	for {
		r := tc.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: scratch, Offset: uint64(len(b)), Count: 8192})
		if r.Type != plan9.Rread {
			tc.t.Fatalf("read %s: %v", path, r)
		}
		if len(r.Data) == 0 {
			return string(b)
		}
		b = append(b, r.Data...)
	}
}

// remove removes path.
func (tc *testConn) remove(path string) string {
	tc.t.Helper()
	if e := tc.walkTo(scratch, path); e != "" {
		return e
	}
	return errOf(tc.rpc(&plan9.Fcall{Type: plan9.Tremove, Tag: 1, Fid: scratch}))
}

// statAt is path's directory entry.
func (tc *testConn) statAt(path string) *plan9.Dir {
	tc.t.Helper()
	if e := tc.walkTo(scratch, path); e != "" {
		tc.t.Fatalf("walk %s: %s", path, e)
	}
	defer tc.clunk(scratch)
	return tc.stat(scratch)
}

// wstatAt applies d to path.
func (tc *testConn) wstatAt(path string, d plan9.Dir) string {
	tc.t.Helper()
	if e := tc.walkTo(scratch, path); e != "" {
		return e
	}
	defer tc.clunk(scratch)
	b, _ := d.Bytes()
	return errOf(tc.rpc(&plan9.Fcall{Type: plan9.Twstat, Tag: 1, Fid: scratch, Stat: b}))
}

// nulldir is a wstat that changes nothing, to set fields on.
func nulldir() plan9.Dir {
	var d plan9.Dir
	d.Null()
	return d
}

func mustOK(t *testing.T, what, e string) {
	t.Helper()
	if e != "" {
		t.Fatalf("%s: %s", what, e)
	}
}

func usersTree(t *testing.T, text string) *tree {
	t.Helper()
	u, err := parseUsers(text)
	if err != nil {
		t.Fatal(err)
	}
	return newTree("glenda", u, 1<<20)
}

var ignoreTimes = cmpopts.IgnoreFields(plan9.Dir{}, "Atime", "Mtime")

// TestRoot checks the root group (SPEC §3.1).
func TestRoot(t *testing.T) {
	tc := session(t, newTestTree(t), "glenda")
	want := &plan9.Dir{Name: "/", Uid: "glenda", Gid: "glenda", Muid: "glenda",
		Mode: plan9.DMDIR | 0775, Qid: plan9.Qid{Path: 0xA000000000000000, Type: plan9.QTDIR}}
	if diff := cmp.Diff(want, tc.stat(0), ignoreTimes); diff != "" {
		t.Errorf("root stat (-want +got):\n%s", diff)
	}
	// The root is the same whoever attaches.
	other := session(t, newTestTree(t), "bob")
	if diff := cmp.Diff(want, other.stat(0), ignoreTimes); diff != "" {
		t.Errorf("root stat attached as bob (-want +got):\n%s", diff)
	}
}

// TestGroupFiles checks that a new group has ctl and order at once,
// owned by the group's owner with its gid (SPEC §3.2, §3.3).
func TestGroupFiles(t *testing.T) {
	tr := newTestTree(t)
	glenda := session(t, tr, "glenda")
	mustOK(t, "mkdir g", glenda.create("g", plan9.DMDIR|0775))
	chmod := nulldir()
	chmod.Mode = plan9.DMDIR | 0777
	mustOK(t, "chmod g", glenda.wstatAt("g", chmod))
	bob := session(t, tr, "bob")
	mustOK(t, "bob: mkdir g/h", bob.create("g/h", plan9.DMDIR|0777))

	mustOK(t, "open g/h", bob.openAt(10, "g/h", plan9.OREAD))
	r := bob.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 10, Count: 8192})
	if diff := cmp.Diff([]string{"ctl", "order"}, dirEntries(t, r.Data)); diff != "" {
		t.Errorf("g/h lists (-want +got):\n%s", diff)
	}
	h := bob.statAt("g/h")
	for _, tt := range []struct {
		path string
		want *plan9.Dir
	}{
		{"g/h", &plan9.Dir{Name: "h", Uid: "bob", Gid: "glenda", Muid: "bob", Mode: plan9.DMDIR | 0777,
			Qid: plan9.Qid{Path: h.Qid.Path, Type: plan9.QTDIR}}},
		{"g/h/ctl", &plan9.Dir{Name: "ctl", Uid: "bob", Gid: "glenda", Muid: "bob", Mode: 0664}},
		{"g/h/order", &plan9.Dir{Name: "order", Uid: "bob", Gid: "glenda", Muid: "bob", Mode: 0444}},
	} {
		got := bob.statAt(tt.path)
		tt.want.Qid.Path = got.Qid.Path // checked for uniqueness in TestQidPaths
		if diff := cmp.Diff(tt.want, got, ignoreTimes); diff != "" {
			t.Errorf("stat %s (-want +got):\n%s", tt.path, diff)
		}
	}
}

// TestCreateInFile checks that nothing can be made inside ctl, order
// or a stream (SPEC §3.2).
func TestCreateInFile(t *testing.T) {
	tc := session(t, newTestTree(t), "glenda")
	mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
	mustOK(t, "touch g/s", tc.create("g/s", 0664))
	for _, dir := range []string{"ctl", "order", "g/ctl", "g/order", "g/s"} {
		for _, perm := range []plan9.Perm{0664, plan9.DMDIR | 0775} {
			if got := tc.create(dir+"/x", perm); got != "not a directory" {
				t.Errorf("create %s/x perm %v: %q, want %q", dir, perm, got, "not a directory")
			}
		}
	}
}

// TestNames checks 9P's name rules and the names every group takes
// (SPEC §3.2).
func TestNames(t *testing.T) {
	tc := session(t, newTestTree(t), "glenda")
	mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
	mustOK(t, "touch g/s", tc.create("g/s", 0664))
	mustOK(t, "walk", tc.walkTo(1, "g"))
	for _, name := range []string{"", ".", "..", "a/b", "nul\x00"} {
		for _, perm := range []plan9.Perm{0664, plan9.DMDIR | 0775} {
			r := tc.rpc(&plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: name, Perm: perm})
			if r.Type != plan9.Rerror {
				t.Errorf("create %q perm %v: %v, want Rerror", name, perm, r)
			}
		}
	}
	for _, name := range []string{"ctl", "order", "s"} {
		for _, perm := range []plan9.Perm{0664, plan9.DMDIR | 0775} {
			if got := tc.create("g/"+name, perm); got != "file already exists" {
				t.Errorf("create g/%s perm %v: %q, want file already exists", name, perm, got)
			}
		}
	}
	mustOK(t, "mkdir g/h", tc.create("g/h", plan9.DMDIR|0775))
	if got := tc.create("g/h", 0664); got != "file already exists" {
		t.Errorf("create g/h over a group: %q, want file already exists", got)
	}
	// Names with spaces and dots are names like any other.
	for _, name := range []string{"a b", ".hidden", "...", "fd0"} {
		mustOK(t, "touch "+name, tc.create("g/"+name, 0664))
	}
}

// TestCreateMode checks the masking of a created file's mode by its
// parent's, and its owner and group (SPEC §3.3).
func TestCreateMode(t *testing.T) {
	tests := []struct {
		parent, perm, want plan9.Perm
	}{
		{0775, 0666, plan9.DMAPPEND | 0664},
		{0775, 0777, plan9.DMAPPEND | 0775}, // exec bits kept, as Plan 9 does
		{0750, 0666, plan9.DMAPPEND | 0640},
		{0700, 0644, plan9.DMAPPEND | 0600},
		{0775, plan9.DMAPPEND | 0644, plan9.DMAPPEND | 0644},
		{0775, plan9.DMEXCL | 0600, plan9.DMAPPEND | plan9.DMEXCL | 0600},
		{0775, plan9.DMDIR | 0777, plan9.DMDIR | 0775},
		{0750, plan9.DMDIR | 0777, plan9.DMDIR | 0750},
		{0775, plan9.DMDIR | 0700, plan9.DMDIR | 0700},
		{0705, plan9.DMDIR | 0777, plan9.DMDIR | 0705},
	}
	for _, tt := range tests {
		tr := usersTree(t, "1:staff:ann:glenda")
		tc := session(t, tr, "glenda")
		mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|tt.parent))
		d := nulldir()
		d.Gid = "staff"
		mustOK(t, "chgrp g", tc.wstatAt("g", d))
		mustOK(t, "create", tc.create("g/x", tt.perm))
		got := tc.statAt("g/x")
		if got.Mode != tt.want || got.Uid != "glenda" || got.Gid != "staff" {
			t.Errorf("in a %v group, create perm %v: mode %v uid %s gid %s; want mode %v uid glenda gid staff",
				plan9.DMDIR|tt.parent, tt.perm, got.Mode, got.Uid, got.Gid, tt.want)
		}
	}
}

// TestPermissions checks Plan 9's permission rules for walk, open,
// create and remove (SPEC §3.3, §4.3).
func TestPermissions(t *testing.T) {
	// glenda owns everything; ann is in glenda's group; bob is other.
	const users = "1:glenda:glenda:ann\n2:ann::\n3:bob::\n"
	build := func(t *testing.T) *tree {
		tr := usersTree(t, users)
		tc := session(t, tr, "glenda")
		for _, c := range []struct {
			path string
			perm plan9.Perm
		}{
			{"open", plan9.DMDIR | 0775},
			{"open/s", 0664},
			{"closed", plan9.DMDIR | 0770},
			{"closed/t", 0660},
			{"walk", plan9.DMDIR | 0771},
			{"walk/u", 0666},
			{"private", plan9.DMDIR | 0700},
		} {
			mustOK(t, "create "+c.path, tc.create(c.path, c.perm))
		}
		// Other may write in walk, but not list it.
		for _, c := range []struct {
			path string
			mode plan9.Perm
		}{
			{"walk", plan9.DMDIR | 0773},
			{"walk/u", 0666},
		} {
			d := nulldir()
			d.Mode = c.mode
			mustOK(t, "chmod "+c.path, tc.wstatAt(c.path, d))
		}
		return tr
	}
	const denied = "permission denied"
	tests := []struct {
		user, op, path string
		mode           plan9.Perm // open's mode or create's perm
		want           string
	}{
		{"bob", "walk", "open/s", 0, ""},
		{"bob", "walk", "closed", 0, ""}, // walking into it needs its parent's search permission only
		{"bob", "walk", "closed/t", 0, denied},
		{"bob", "walk", "closed/ctl", 0, denied},
		{"ann", "walk", "closed/t", 0, ""},
		{"bob", "walk", "walk/u", 0, ""},
		{"ann", "walk", "private/ctl", 0, denied},
		{"glenda", "walk", "private/ctl", 0, ""},

		{"bob", "open", "walk", plan9.OREAD, denied},
		{"bob", "open", "walk/u", plan9.ORDWR, ""},
		{"bob", "open", "open", plan9.OREAD, ""},
		{"bob", "open", "open/s", plan9.OREAD, ""},
		{"bob", "open", "open/s", plan9.OWRITE, denied},
		{"bob", "open", "open/s", plan9.ORDWR, denied},
		{"bob", "open", "open/s", plan9.OREAD | plan9.OTRUNC, denied},
		{"ann", "open", "open/s", plan9.ORDWR, ""},
		{"ann", "open", "closed/t", plan9.ORDWR, ""},
		{"bob", "open", "open/ctl", plan9.OREAD, ""},
		{"bob", "open", "open/ctl", plan9.OWRITE, denied},
		{"ann", "open", "open/ctl", plan9.OWRITE, ""},
		{"glenda", "open", "open/ctl", plan9.ORDWR, ""},
		{"bob", "open", "open/order", plan9.OREAD, ""},
		{"glenda", "open", "open/order", plan9.OWRITE, denied},
		{"glenda", "open", "order", plan9.ORDWR, denied},
		{"bob", "open", "ctl", plan9.OWRITE, denied},

		{"bob", "create", "open/x", 0664, denied},
		{"bob", "create", "open/x", plan9.DMDIR | 0775, denied},
		{"ann", "create", "open/x", 0664, ""},
		{"bob", "create", "walk/x", 0664, ""},
		{"bob", "create", "x", 0664, denied},
		{"ann", "create", "x", plan9.DMDIR | 0775, ""},

		{"bob", "remove", "open/s", 0, denied},
		{"bob", "remove", "walk/u", 0, ""},
		{"ann", "remove", "open/s", 0, ""},
		{"bob", "remove", "open", 0, denied},
		{"glenda", "remove", "private", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.op+" "+tt.path, func(t *testing.T) {
			tc := session(t, build(t), tt.user)
			var got string
			switch tt.op {
			case "walk":
				got = tc.walkTo(10, tt.path)
			case "open":
				got = tc.openAt(10, tt.path, uint8(tt.mode))
			case "create":
				got = tc.create(tt.path, tt.mode)
			case "remove":
				got = tc.remove(tt.path)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestQidPaths checks that qid.path is unique and never reused, and
// the qid types of groups and streams (SPEC §3.4).
func TestQidPaths(t *testing.T) {
	tc := session(t, newTestTree(t), "glenda")
	seen := map[uint64]string{}
	check := func(path string, typ uint8, mode plan9.Perm) {
		t.Helper()
		d := tc.statAt(path)
		if p, dup := seen[d.Qid.Path]; dup {
			t.Errorf("%s has qid.path %#x, as %s had", path, d.Qid.Path, p)
		}
		seen[d.Qid.Path] = path
		if d.Qid.Type != typ || d.Mode&(plan9.DMDIR|plan9.DMAPPEND) != mode {
			t.Errorf("%s: qid type %#x mode %v, want type %#x and mode bits %v", path, d.Qid.Type, d.Mode, typ, mode)
		}
	}
	check("", plan9.QTDIR, plan9.DMDIR)
	check("ctl", 0, 0)
	check("order", 0, 0)
	for i := range 3 {
		mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
		mustOK(t, "touch g/s", tc.create("g/s", 0664))
		check("g", plan9.QTDIR, plan9.DMDIR)
		check("g/ctl", 0, 0)
		check("g/order", 0, 0)
		check("g/s", plan9.QTAPPEND, plan9.DMAPPEND)
		// Renaming keeps the path; removing and making again does not.
		d := nulldir()
		d.Name = "t"
		mustOK(t, "rename", tc.wstatAt("g/s", d))
		if p := tc.statAt("g/t").Qid.Path; seen[p] != "g/s" {
			t.Errorf("round %d: rename changed qid.path", i)
		}
		mustOK(t, "rm g/t", tc.remove("g/t"))
		mustOK(t, "rm g", tc.remove("g"))
	}
}

// TestStat checks length, qid.vers, muid and mtime as messages are
// written (SPEC §3.4), and lengths changed by ctl at once (§4.3).
func TestStat(t *testing.T) {
	tr := newTestTree(t)
	glenda := session(t, tr, "glenda")
	mustOK(t, "mkdir g", glenda.create("g", plan9.DMDIR|0775))
	mustOK(t, "replay all", glenda.put("g/ctl", "replay all"))
	mustOK(t, "touch g/s", glenda.create("g/s", 0666))
	mustOK(t, "touch g/t", glenda.create("g/t", 0666))
	d := nulldir()
	d.Mode, d.Mtime = 0666, 1
	mustOK(t, "chmod g/t", glenda.wstatAt("g/t", d))
	bob := session(t, tr, "bob")
	type st struct {
		Length uint64
		Vers   uint32
		Muid   string
	}
	stats := func() map[string]st {
		m := map[string]st{}
		for _, p := range []string{"g", "g/ctl", "g/order", "g/s", "g/t"} {
			d := glenda.statAt(p)
			vers := d.Qid.Vers
			if p == "g" {
				vers = 0 // a group's version is its own affair
			}
			m[p] = st{d.Length, vers, d.Muid}
		}
		return m
	}
	mustOK(t, "write", glenda.put("g/s", "hello"))
	mustOK(t, "write", glenda.put("g/s", "world!"))
	mustOK(t, "write", bob.put("g/t", "abc"))
	want := map[string]st{
		"g":       {0, 0, "glenda"},
		"g/ctl":   {0, 0, "glenda"},
		"g/order": {0, 3, "bob"},
		"g/s":     {11, 2, "glenda"},
		"g/t":     {3, 1, "bob"},
	}
	if diff := cmp.Diff(want, stats()); diff != "" {
		t.Errorf("after 3 writes (-want +got):\n%s", diff)
	}
	if d := glenda.statAt("g/t"); d.Mtime == 1 {
		t.Errorf("g/t mtime is still 1 after a write")
	}
	// A zero-length write adds nothing (SPEC §5.2).
	mustOK(t, "empty write", glenda.put("g/t", ""))
	if diff := cmp.Diff(want, stats()); diff != "" {
		t.Errorf("after an empty write (-want +got):\n%s", diff)
	}

	// A lower depth trims at once; so does a replay mode that keeps
	// less, and clear (SPEC §4.3). Versions count messages written.
	for _, step := range []struct {
		ctl    string
		s, t   uint64
		reason string
	}{
		{"depth 2", 6, 3, "depth 2 keeps world! and abc"},
		{"depth 0", 6, 3, "a higher depth brings nothing back"},
		{"replay last", 6, 3, "last keeps each stream's newest"},
		{"replay off", 0, 0, "off with no readers keeps nothing"},
	} {
		mustOK(t, step.ctl, glenda.put("g/ctl", step.ctl))
		got := stats()
		if got["g/s"].Length != step.s || got["g/t"].Length != step.t || got["g/s"].Vers != 2 || got["g/order"].Vers != 3 {
			t.Errorf("after %q: %v; want g/s length %d, g/t length %d (%s), versions unchanged", step.ctl, got, step.s, step.t, step.reason)
		}
	}
	mustOK(t, "replay all", glenda.put("g/ctl", "replay all"))
	mustOK(t, "write", glenda.put("g/s", "again"))
	mustOK(t, "clear", glenda.put("g/ctl", "clear"))
	if got := stats(); got["g/s"].Length != 0 || got["g/s"].Vers != 3 || got["g/order"].Vers != 4 {
		t.Errorf("after clear: %v; want g/s length 0, version 3, order version 4", got)
	}
}

// TestAtime checks that reads set atime (SPEC §3.4).
func TestAtime(t *testing.T) {
	tc := session(t, newTestTree(t), "glenda")
	mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
	mustOK(t, "data static", tc.put("g/ctl", "data static"))
	mustOK(t, "touch g/s", tc.create("g/s", 0664))
	for _, p := range []string{"g/s", "g/ctl"} {
		d := nulldir()
		d.Atime = 1
		mustOK(t, "set atime", tc.wstatAt(p, d))
		if got := tc.statAt(p).Atime; got != 1 {
			t.Fatalf("%s atime = %d after wstat, want 1", p, got)
		}
		tc.get(p)
		if got := tc.statAt(p).Atime; got == 1 {
			t.Errorf("%s atime unchanged by a read", p)
		}
	}
}

// TestRemoveStreamReaders checks what the fids open on a removed stream
// see, and that its messages leave history and order (SPEC §3.5).
func TestRemoveStreamReaders(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Twrite tag 1 fid 3 data 'replay all'
Rwrite tag 1 count 10
Twalk fid 0 newfid 4 wname g
Rwalk ...
Tcreate fid 4 name t perm --rw-rw-rw- mode OWRITE
Rcreate ...
Twrite tag 1 fid 2 data one
Rwrite tag 1 count 3
Twrite tag 1 fid 4 data two
Rwrite tag 1 count 3
Twrite tag 1 fid 2 data three
Rwrite tag 1 count 5
# A reader that has read all, parked; one that has not read yet; order.
Twalk fid 0 newfid 5 wname [g s]
Rwalk ...
Topen fid 5 mode OREAD
Ropen ...
Tread tag 1 fid 5 count 100
Rread tag 1 data one
Tread tag 1 fid 5 count 100
Rread tag 1 data three
Twalk fid 0 newfid 6 wname [g s]
Rwalk ...
Topen fid 6 mode ORDWR
Ropen ...
Twalk fid 0 newfid 7 wname [g order]
Rwalk ...
Topen fid 7 mode OREAD
Ropen ...
Tread tag 2 fid 5 count 100
Twalk fid 0 newfid 8 wname [g s]
Rwalk ...
Tremove tag 3 fid 8
Rremove tag 3
Rread tag 2
# Every later read is end of file; writes fail.
Tread tag 1 fid 5 count 100
Rread tag 1
Tread tag 1 fid 6 count 100
Rread tag 1
Tread tag 1 fid 6 count 100
Rread tag 1
Twrite tag 1 fid 2 data four
Rerror tag 1 ename 'file has been removed'
Twrite tag 1 fid 6 data four
Rerror tag 1 ename 'file has been removed'
# Its messages have left order and the history.
Tread tag 1 fid 7 count 100
Rread tag 1 data 740a
Twalk tag 1 fid 0 newfid 9 wname [g s]
Rwalk tag 1 wqid 0x4.3.d
Tclunk tag 1 fid 5
Rclunk tag 1
Tclunk tag 1 fid 2
Rclunk tag 1
`)
}

// TestRemoveGroup checks that only an empty group goes, that ctl,
// order and the root never do, and that order's readers see the end
// (SPEC §3.5).
func TestRemoveGroup(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname g
Rwalk ...
Tcreate fid 3 name h perm d-rwxrwxr-x mode OREAD
Rcreate ...
Twalk fid 0 newfid 4 wname [g order]
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
Tread tag 2 fid 4 count 100
Twalk fid 0 newfid 6 wname g
Rwalk ...
# Not empty: a stream, then a group.
Twalk fid 0 newfid 5 wname g
Rwalk ...
Tremove tag 1 fid 5
Rerror tag 1 ename 'directory not empty'
Twalk fid 0 newfid 5 wname [g s]
Rwalk ...
Tremove tag 1 fid 5
Rremove tag 1
Twalk fid 0 newfid 5 wname g
Rwalk ...
Tremove tag 1 fid 5
Rerror tag 1 ename 'directory not empty'
# rm -rf: ctl and order refuse, and do not count.
Twalk fid 0 newfid 5 wname [g h ctl]
Rwalk ...
Tremove tag 1 fid 5
Rerror tag 1 ename 'permission denied'
Twalk fid 0 newfid 5 wname [g h order]
Rwalk ...
Tremove tag 1 fid 5
Rerror tag 1 ename 'permission denied'
Twalk fid 0 newfid 5 wname [g h]
Rwalk ...
Tremove tag 1 fid 5
Rremove tag 1
Twalk fid 0 newfid 5 wname [g ctl]
Rwalk ...
Tremove tag 1 fid 5
Rerror tag 1 ename 'permission denied'
Twalk fid 0 newfid 5 wname [g order]
Rwalk ...
Tremove tag 1 fid 5
Rerror tag 1 ename 'permission denied'
Twalk fid 0 newfid 5 wname g
Rwalk ...
Tremove tag 1 fid 5
Rremove tag 1
Rread tag 2
Tread tag 2 fid 4 count 100
Rread tag 2
Twalk tag 1 fid 0 newfid 5 wname g
Rerror tag 1 ename 'file does not exist'
Tcreate tag 1 fid 6 name x perm --rw-rw-rw- mode OREAD
Rerror tag 1 ename 'file does not exist'
Twalk tag 1 fid 6 newfid 7 wname ctl
Rerror tag 1 ename 'file does not exist'
# The root, its ctl and order.
Twalk fid 0 newfid 5
Rwalk
Tremove tag 1 fid 5
Rerror tag 1 ename 'permission denied'
Twalk fid 0 newfid 5 wname ctl
Rwalk ...
Tremove tag 1 fid 5
Rerror tag 1 ename 'permission denied'
Twalk fid 0 newfid 5 wname order
Rwalk ...
Tremove tag 1 fid 5
Rerror tag 1 ename 'permission denied'
Tstat tag 1 fid 0
Rstat tag 1 ...
`)
}

// TestWstat checks who may change what, and that a wstat is all or
// nothing (SPEC §3.6).
func TestWstat(t *testing.T) {
	// g and its files have group adm, led by alice; bob is a member;
	// carol is other.
	const users = "1:glenda:glenda:\n2:adm:alice:glenda,bob\n3:alice::\n4:bob::\n5:carol::\n6:ops:alice:\n"
	build := func(t *testing.T) (*tree, *testConn) {
		tr := usersTree(t, users)
		tc := session(t, tr, "glenda")
		mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
		d := nulldir()
		d.Gid = "adm"
		mustOK(t, "chgrp g", tc.wstatAt("g", d))
		mustOK(t, "touch g/s", tc.create("g/s", 0664))
		mustOK(t, "touch g/u", tc.create("g/u", 0664))
		mustOK(t, "replay all", tc.put("g/ctl", "replay all"))
		mustOK(t, "write", tc.put("g/s", "hello"))
		return tr, tc
	}
	type change func(d *plan9.Dir)
	name := func(s string) change { return func(d *plan9.Dir) { d.Name = s } }
	mode := func(m plan9.Perm) change { return func(d *plan9.Dir) { d.Mode = m } }
	mtime := func(m uint32) change { return func(d *plan9.Dir) { d.Mtime = m } }
	gid := func(g string) change { return func(d *plan9.Dir) { d.Gid = g } }
	length := func(n uint64) change { return func(d *plan9.Dir) { d.Length = n } }
	const (
		denied   = "permission denied"
		notOwner = "not owner"
	)
	// want describes g/s (or the path given) after the wstat.
	type want struct {
		path, name string
		mode       plan9.Perm
		gid        string
	}
	s := want{"g/s", "s", plan9.DMAPPEND | 0664, "adm"}
	tests := []struct {
		user, path string
		changes    []change
		err        string
		after      want
	}{
		{"glenda", "g/s", []change{name("t")}, "", want{"g/t", "t", s.mode, "adm"}},
		{"bob", "g/s", []change{name("t")}, "", want{"g/t", "t", s.mode, "adm"}},
		{"carol", "g/s", []change{name("t")}, denied, s},
		{"glenda", "g/s", []change{name("s")}, "", s},
		{"glenda", "g/s", []change{name("u")}, "file already exists", s},
		{"glenda", "g/s", []change{name("ctl")}, denied, s},
		{"glenda", "g/s", []change{name("order")}, denied, s},
		{"glenda", "g/ctl", []change{name("x")}, denied, want{"g/ctl", "ctl", 0664, "adm"}},
		{"glenda", "g/order", []change{name("x")}, denied, want{"g/order", "order", 0444, "adm"}},
		{"glenda", "g", []change{name("h")}, "", want{"h", "h", plan9.DMDIR | 0775, "adm"}},
		{"glenda", "", []change{name("x")}, denied, want{"", "/", plan9.DMDIR | 0775, "glenda"}},

		{"glenda", "g/s", []change{mode(0600)}, "", want{"g/s", "s", plan9.DMAPPEND | 0600, "adm"}},
		{"glenda", "g/s", []change{mode(plan9.DMEXCL | 0600)}, "", want{"g/s", "s", plan9.DMAPPEND | plan9.DMEXCL | 0600, "adm"}},
		{"alice", "g/s", []change{mode(0600)}, "", want{"g/s", "s", plan9.DMAPPEND | 0600, "adm"}},
		{"bob", "g/s", []change{mode(0600)}, notOwner, s},
		{"carol", "g/s", []change{mode(0600)}, notOwner, s},
		{"glenda", "g/s", []change{mode(plan9.DMDIR | 0775)}, "cannot change a file's mode to a directory's", s},
		{"glenda", "g", []change{mode(0775)}, "cannot change a directory's mode to a file's", want{"g", "g", plan9.DMDIR | 0775, "adm"}},
		{"glenda", "g", []change{mode(plan9.DMDIR | 0700)}, "", want{"g", "g", plan9.DMDIR | 0700, "adm"}},

		{"glenda", "g/s", []change{mtime(12345)}, "", s},
		{"alice", "g/s", []change{mtime(12345)}, "", s},
		{"bob", "g/s", []change{mtime(12345)}, notOwner, s},
		{"carol", "g/s", []change{gid("carol")}, notOwner, s},
		{"bob", "g/s", []change{gid("bob")}, notOwner, s},
		{"glenda", "g", []change{gid("glenda")}, "", want{"g/ctl", "ctl", 0664, "glenda"}},
		// Plan 9: the owner may pick a group it is in; a leader, a
		// group it also leads.
		{"glenda", "g/s", []change{gid("carol")}, notOwner, s},
		{"glenda", "g/s", []change{gid("ops")}, notOwner, s},
		{"alice", "g/s", []change{gid("glenda")}, notOwner, s},
		{"alice", "g/s", []change{gid("ops")}, "", want{"g/s", "s", s.mode, "ops"}},
		{"glenda", "g/s", []change{gid("adm")}, "", s},

		{"glenda", "g/s", []change{length(0)}, "", s},
		{"glenda", "g/s", []change{length(4)}, "cannot change length", s},
		{"glenda", "g/s", []change{length(6)}, "cannot change length", s},
		{"glenda", "g/s", []change{length(5)}, "", s},
		{"glenda", "g/s", []change{name("t"), length(0)}, "", want{"g/t", "t", s.mode, "adm"}},
		{"glenda", "g", []change{length(1)}, "cannot change length", want{"g", "g", plan9.DMDIR | 0775, "adm"}},
		{"glenda", "g/u", []change{length(0)}, "", want{"g/u", "u", plan9.DMAPPEND | 0664, "adm"}},
		{"glenda", "g/ctl", []change{length(1)}, "cannot change length", want{"g/ctl", "ctl", 0664, "adm"}},

		// A sync always succeeds.
		{"carol", "g/s", nil, "", s},
		{"carol", "g/ctl", nil, "", want{"g/ctl", "ctl", 0664, "adm"}},
		{"carol", "", nil, "", want{"", "/", plan9.DMDIR | 0775, "glenda"}},

		// All or nothing.
		{"bob", "g/s", []change{name("t"), mode(0600)}, notOwner, s},
		{"bob", "g/s", []change{name("t"), mtime(1)}, notOwner, s},
		{"glenda", "g/s", []change{name("t"), length(9)}, "cannot change length", s},
		{"glenda", "g/s", []change{name("u"), mode(0600)}, "file already exists", s},
		{"glenda", "g/s", []change{name("ctl"), gid("glenda")}, denied, s},
		{"glenda", "g/s", []change{mode(0600), mode(plan9.DMDIR | 0600)}, "cannot change a file's mode to a directory's", s},
	}
	for _, tt := range tests {
		d := nulldir()
		for _, c := range tt.changes {
			c(&d)
		}
		t.Run(tt.user+" "+tt.path+" "+wstatString(d), func(t *testing.T) {
			tr, tc := build(t)
			user := session(t, tr, tt.user)
			got := user.wstatAt(tt.path, d)
			if got != tt.err {
				t.Errorf("wstat: %q, want %q", got, tt.err)
			}
			a := tc.statAt(tt.after.path)
			if a.Name != tt.after.name || a.Mode != tt.after.mode || a.Gid != tt.after.gid {
				t.Errorf("%s after: name %q mode %v gid %s; want name %q mode %v gid %s",
					tt.after.path, a.Name, a.Mode, a.Gid, tt.after.name, tt.after.mode, tt.after.gid)
			}
			if d.Mtime != ^uint32(0) && tt.err == "" && a.Mtime != d.Mtime {
				t.Errorf("mtime = %d, want %d", a.Mtime, d.Mtime)
			}
		})
	}
}

// TestWstatLengthZero checks that a wstat of length 0 on a stream, as
// Unix clients send for >, is accepted and changes nothing: the
// history stays whole, as with OTRUNC (SPEC §3.6, §8.4).
func TestWstatLengthZero(t *testing.T) {
	tc := session(t, newTestTree(t), "glenda")
	mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
	mustOK(t, "touch g/s", tc.create("g/s", 0664))
	mustOK(t, "data static", tc.put("g/ctl", "data static\nreplay all"))
	mustOK(t, "write", tc.put("g/s", "hello"))
	d := nulldir()
	d.Length = 0
	mustOK(t, "wstat length 0", tc.wstatAt("g/s", d))
	if got := tc.statAt("g/s").Length; got != 5 {
		t.Errorf("length after wstat length 0 = %d, want 5", got)
	}
	mustOK(t, "write", tc.put("g/s", " world"))
	if got, want := tc.get("g/s"), "hello world"; got != want {
		t.Errorf("g/s reads %q, want %q", got, want)
	}
}

// TestStaticOffRetainsNothing checks, through stat, that a static
// group under replay off keeps nothing for its open readers
// (SPEC §6.2, §3.4).
func TestStaticOffRetainsNothing(t *testing.T) {
	tc := session(t, newTestTree(t), "glenda")
	mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
	mustOK(t, "touch g/s", tc.create("g/s", 0664))
	mustOK(t, "data static", tc.put("g/ctl", "data static"))
	mustOK(t, "open g/s", tc.openAt(10, "g/s", plan9.OREAD))
	mustOK(t, "open g/order", tc.openAt(11, "g/order", plan9.OREAD))
	mustOK(t, "write", tc.put("g/s", "hello"))
	if got := tc.statAt("g/s").Length; got != 0 {
		t.Errorf("g/s length = %d, want 0", got)
	}
	if got := tc.get("g/s"); got != "" {
		t.Errorf("g/s reads %q, want nothing", got)
	}
}

// TestWstatNoUsers checks that without a users file each user leads
// the group of its own name only (SPEC §2 -u, §3.6).
func TestWstatNoUsers(t *testing.T) {
	tr := newTestTree(t)
	glenda := session(t, tr, "glenda")
	mustOK(t, "mkdir g", glenda.create("g", plan9.DMDIR|0775))
	d := nulldir()
	d.Mode = plan9.DMDIR | 0777
	mustOK(t, "chmod g", glenda.wstatAt("g", d))
	bob := session(t, tr, "bob")
	mustOK(t, "bob: touch g/s", bob.create("g/s", 0666))
	// g/s is bob's, of group glenda: glenda leads glenda.
	d = nulldir()
	d.Mode = 0600
	mustOK(t, "glenda: chmod g/s", glenda.wstatAt("g/s", d))
	d.Mode = 0644
	mustOK(t, "bob: chmod g/s", bob.wstatAt("g/s", d))
	carol := session(t, tr, "carol")
	d.Mode = 0666
	if got := carol.wstatAt("g/s", d); got != "not owner" {
		t.Errorf("carol: chmod g/s: %q, want not owner", got)
	}
	if got := glenda.statAt("g/s").Mode; got != plan9.DMAPPEND|0644 {
		t.Errorf("mode = %v, want %v", got, plan9.DMAPPEND|0644)
	}
}

// TestRenameKeepsOrderNames checks that order keeps the name a stream
// had when each message was written (SPEC §3.6).
func TestRenameKeepsOrderNames(t *testing.T) {
	dialTest(t, newTestTree(t)).run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Twrite tag 1 fid 3 data 'replay all'
Rwrite tag 1 count 10
Twrite tag 1 fid 2 data one
Rwrite tag 1 count 3
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Twstat tag 1 fid 4 stat (name renamed)
Rwstat tag 1
Twrite tag 1 fid 2 data two
Rwrite tag 1 count 3
Twalk fid 0 newfid 5 wname [g order]
Rwalk ...
Topen fid 5 mode OREAD
Ropen ...
Tread tag 1 fid 5 count 100
Rread tag 1 data 730a
Tread tag 1 fid 5 count 100
Rread tag 1 data 72656e616d65640a
Twalk tag 1 fid 0 newfid 6 wname [g s]
Rwalk tag 1 wqid 0x4.2.d
Twalk tag 1 fid 0 newfid 6 wname [g renamed]
Rwalk tag 1 wqid [0x4.2.d 0x7.2.a]
`)
}

// wstatString names the fields a wstat changes.
func wstatString(d plan9.Dir) string {
	n := nulldir()
	var f []string
	if d.Name != n.Name {
		f = append(f, "name "+d.Name)
	}
	if d.Mode != n.Mode {
		f = append(f, "mode "+d.Mode.String())
	}
	if d.Mtime != n.Mtime {
		f = append(f, fmt.Sprint("mtime ", d.Mtime))
	}
	if d.Gid != n.Gid {
		f = append(f, "gid "+d.Gid)
	}
	if d.Length != n.Length {
		f = append(f, fmt.Sprint("length ", d.Length))
	}
	if len(f) == 0 {
		return "sync"
	}
	return strings.Join(f, " ")
}

// TestWstatSameValues checks that a wstat setting fields to the values
// they have changes nothing and so needs no permission, as on Plan 9's
// file servers: anyone may write back the stat it read, while a value
// that differs still needs the owner (SPEC §3.6).
func TestWstatSameValues(t *testing.T) {
	tr := newTestTree(t)
	glenda := session(t, tr, "glenda")
	mustOK(t, "mkdir g", glenda.create("g", plan9.DMDIR|0777))
	mustOK(t, "touch g/s", glenda.create("g/s", plan9.DMEXCL|0664))
	bob := session(t, tr, "bob")
	for _, path := range []string{"", "ctl", "order", "g", "g/ctl", "g/order", "g/s"} {
		before := glenda.statAt(path)
		type change struct {
			what string
			set  func(d *plan9.Dir)
			want string
		}
		for _, c := range []change{
			{"its stat", func(d *plan9.Dir) {}, ""},
			{"its mode", func(d *plan9.Dir) { d.Null(); d.Mode = before.Mode }, ""},
			{"its permission bits", func(d *plan9.Dir) { d.Null(); d.Mode = before.Mode &^ plan9.DMAPPEND }, ""},
			{"its mtime", func(d *plan9.Dir) { d.Null(); d.Mtime = before.Mtime }, ""},
			{"its atime", func(d *plan9.Dir) { d.Null(); d.Atime = before.Atime }, ""},
			{"another mode", func(d *plan9.Dir) { d.Null(); d.Mode = before.Mode ^ 0001 }, "not owner"},
			{"another mtime", func(d *plan9.Dir) { d.Null(); d.Mtime = before.Mtime - 1 }, "not owner"},
			{"DMDIR flipped", func(d *plan9.Dir) { d.Null(); d.Mode = before.Mode ^ plan9.DMDIR }, "not owner"},
		} {
			d := *before
			c.set(&d)
			if got := bob.wstatAt(path, d); got != c.want {
				t.Errorf("bob: wstat /%s with %s: %q, want %q", path, c.what, got, c.want)
			}
		}
		if diff := cmp.Diff(before, glenda.statAt(path)); diff != "" {
			t.Errorf("/%s changed (-before +after):\n%s", path, diff)
		}
	}
}

// TestRemoveMuid checks that whoever removes a file from a group, by
// Tremove or ORCLOSE, is its last writer, as the group's mtime says
// it was changed then, as on Plan 9's file servers (SPEC §3.4, §3.5).
func TestRemoveMuid(t *testing.T) {
	tr := newTestTree(t)
	glenda := session(t, tr, "glenda")
	mustOK(t, "mkdir g", glenda.create("g", plan9.DMDIR|0777))
	d := nulldir()
	d.Mode = plan9.DMDIR | 0777
	mustOK(t, "chmod g", glenda.wstatAt("g", d))
	bob := session(t, tr, "bob")
	mustOK(t, "bob: touch g/s", bob.create("g/s", 0666))
	mustOK(t, "bob: touch g/t", bob.create("g/t", 0666))
	mustOK(t, "bob: mkdir g/h", bob.create("g/h", plan9.DMDIR|0777))
	if got := glenda.statAt("g").Muid; got != "bob" {
		t.Fatalf("g's muid after bob's creates: %q, want bob", got)
	}
	carol := session(t, tr, "carol")
	mustOK(t, "carol: rm g/s", carol.remove("g/s"))
	if got := glenda.statAt("g").Muid; got != "carol" {
		t.Errorf("g's muid after carol's remove: %q, want carol", got)
	}
	mustOK(t, "carol: rm g/h", carol.remove("g/h"))
	dave := session(t, tr, "dave")
	mustOK(t, "dave: open g/t ORCLOSE", dave.openAt(10, "g/t", plan9.OREAD|plan9.ORCLOSE))
	dave.clunk(10)
	if got := glenda.statAt("g").Muid; got != "dave" {
		t.Errorf("g's muid after dave's ORCLOSE: %q, want dave", got)
	}
	// A remove that fails changes nothing.
	mustOK(t, "bob: touch g/u", bob.create("g/u", 0666))
	if got := carol.remove(""); got != "permission denied" {
		t.Errorf("carol: rm /: %q, want permission denied", got)
	}
	if got := glenda.statAt("").Muid; got != "glenda" {
		t.Errorf("/'s muid after a failed remove: %q, want glenda", got)
	}
}
