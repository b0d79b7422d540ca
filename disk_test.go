//go:build !plan9

package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/google/go-cmp/cmp"
)

// logged is a server with -r on dir, in this process.
type logged struct {
	t    *testing.T
	dir  string
	tree *tree
	srv  *server
	warn bytes.Buffer
}

func openLogged(t *testing.T, dir string, sync bool) *logged {
	t.Helper()
	x := &logged{t: t, dir: dir, tree: newTree("glenda", nil, 64<<20)}
	if _, err := openLog(dir, sync, x.tree, &x.warn); err != nil {
		t.Fatal(err)
	}
	x.srv = newServer(x.tree, nil)
	return x
}

// dial starts a session as glenda.
func (x *logged) dial() *client.Fsys {
	cli, end := net.Pipe()
	go x.srv.serve(end, 3)
	c, err := client.NewConn(cli)
	if err != nil {
		x.t.Fatal(err)
	}
	x.t.Cleanup(func() { c.Close() })
	fs, err := c.Attach(nil, "glenda", "")
	if err != nil {
		x.t.Fatal(err)
	}
	return fs
}

func (x *logged) close() { x.tree.log.close() }

// dump is everything SPEC §11.2 says comes back, as text: the tree,
// each group's configuration and its history with order.
func (x *logged) dump() string {
	x.tree.mu.Lock()
	defer x.tree.mu.Unlock()
	var b strings.Builder
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		d := n.stat()
		fmt.Fprintf(&b, "%s %#x vers %d %v %s %s mtime %d len %d\n", path, d.Qid.Path, d.Qid.Vers, d.Mode, d.Uid, d.Gid, d.Mtime, d.Length)
		if n.kind != kGroup {
			return
		}
		q := n.q
		fmt.Fprintf(&b, "%s/ctl %q order vers %d nextseq %d\n", path, q.cfg.String(), q.orderVers, q.nextSeq)
		for m := q.head; m != nil; m = m.gnext {
			fmt.Fprintf(&b, "  %d %q %q\n", m.seq, m.from.line, m.data)
		}
		for _, c := range n.children {
			walk(c, path+"/"+c.name)
		}
	}
	walk(x.tree.root, "")
	return b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, fs *client.Fsys, name string) {
	t.Helper()
	f, err := fs.Create(name, plan9.OREAD, plan9.DMDIR|0775)
	must(t, err)
	f.Close()
}

func ctlWrite(t *testing.T, fs *client.Fsys, group, text string) {
	t.Helper()
	f, err := fs.Open(group+"/ctl", plan9.OWRITE)
	must(t, err)
	defer f.Close()
	_, err = f.Write([]byte(text))
	must(t, err)
}

// writeAll writes each message to stream name, creating it if need be.
func writeAll(t *testing.T, fs *client.Fsys, name string, msgs ...string) {
	t.Helper()
	f, err := fs.Open(name, plan9.OWRITE)
	if err != nil {
		f, err = fs.Create(name, plan9.OWRITE, 0664)
	}
	must(t, err)
	defer f.Close()
	for _, m := range msgs {
		_, err := f.Write([]byte(m))
		must(t, err)
	}
}

// workload makes one of everything SPEC §11.2 keeps.
func workload(t *testing.T, fs *client.Fsys) {
	mkdir(t, fs, "all")
	ctlWrite(t, fs, "all", "replay all\ndata coalesce")
	writeAll(t, fs, "all/a", "a1", "a2")
	writeAll(t, fs, "all/b", "b1")
	writeAll(t, fs, "all/a", "a3")
	// A renamed stream: order keeps the old name for old messages.
	d := plan9.Dir{}
	d.Null()
	d.Name = "b2"
	must(t, fs.Wstat("all/b", &d))
	writeAll(t, fs, "all/b2", "after rename")
	d.Null()
	d.Mode = 0600
	d.Mtime = 1234567
	must(t, fs.Wstat("all/a", &d))
	// Nested groups, copying configuration from the parent.
	mkdir(t, fs, "all/sub")
	writeAll(t, fs, "all/sub/x", "x1", "x2", "x3")
	mkdir(t, fs, "all/sub/deeper")
	// depth trims, removed streams and groups.
	mkdir(t, fs, "deep")
	ctlWrite(t, fs, "deep", "replay all\ndepth 3")
	for i := range 10 {
		writeAll(t, fs, "deep/s", fmt.Sprintf("m%d", i))
	}
	writeAll(t, fs, "deep/gone", "g1", "g2")
	writeAll(t, fs, "deep/s", "last")
	must(t, fs.Remove("deep/gone"))
	mkdir(t, fs, "deep/empty")
	must(t, fs.Remove("deep/empty"))
	// clear, then more.
	mkdir(t, fs, "cleared")
	ctlWrite(t, fs, "cleared", "replay all")
	writeAll(t, fs, "cleared/s", "old1", "old2")
	ctlWrite(t, fs, "cleared", "clear")
	writeAll(t, fs, "cleared/s", "new")
	// replay last: a reader takes what is not the newest.
	mkdir(t, fs, "last")
	ctlWrite(t, fs, "last", "replay last\nwait off")
	r, err := fs.Open("last/s", plan9.OREAD)
	if err != nil {
		writeAll(t, fs, "last/s")
		r, err = fs.Open("last/s", plan9.OREAD)
	}
	must(t, err)
	writeAll(t, fs, "last/s", "l1", "l2", "l3")
	writeAll(t, fs, "last/t", "t1")
	buf := make([]byte, 100)
	for range 2 {
		_, err := r.Read(buf)
		must(t, err)
	}
	r.Close()
	// replay off: comes back empty, but its tree and ctl come back.
	mkdir(t, fs, "off")
	ctlWrite(t, fs, "off", "depth 5K\nwait one")
	ctlWrite(t, fs, "off", "wait off")
	rd, err := fs.Open("off", plan9.OREAD)
	must(t, err)
	rd.Close()
	offr, err := fs.Create("off/s", plan9.ORDWR, 0640)
	must(t, err)
	offr.Write([]byte("unread, kept while its reader is open"))
	offr.Close()
	// A group turning replay on keeps what it held.
	mkdir(t, fs, "late")
	lr, err := fs.Create("late/s", plan9.ORDWR, 0664)
	must(t, err)
	lr.Write([]byte("held for a reader"))
	ctlWrite(t, fs, "late", "replay all")
	lr.Write([]byte("kept"))
	lr.Close()
	// The root's configuration and stat.
	ctlWrite(t, fs, "", "replay last")
	d.Null()
	d.Mode = plan9.DMDIR | 0755
	must(t, fs.Wstat("/", &d))
}

// expectAfterRestart is what a dump should be after a restart: groups
// under replay off lose their history (SPEC §11.2).
func expectAfterRestart(dump string) string {
	var out []string
	skip := false
	for _, line := range strings.Split(dump, "\n") {
		if strings.Contains(line, "/ctl ") {
			skip = strings.Contains(line, `replay off`)
		} else if strings.HasPrefix(line, "  ") && skip {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// SPEC §11.2: after a restart on the same dir, the tree, every group's
// configuration and its retained history come back, byte for byte and
// in order; qid.vers goes on; qid.paths are never reused.
func TestRestartRoundTrip(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			x := openLogged(t, dir, sync)
			fs := x.dial()
			workload(t, fs)
			before := x.dump()
			paths := x.paths()
			x.close()

			y := openLogged(t, dir, sync)
			after := y.dump()
			if diff := cmp.Diff(expectAfterRestart(before), after); diff != "" {
				t.Fatalf("after restart (-want +got):\n%s", diff)
			}
			if y.warn.Len() > 0 {
				t.Errorf("warnings: %s", y.warn.String())
			}
			// New files get new qid.paths, above all ever used.
			fs = y.dial()
			writeAll(t, fs, "all/new", "n")
			mkdir(t, fs, "newgroup")
			for _, p := range y.paths() {
				if p.name == "/all/new" || strings.HasPrefix(p.name, "/newgroup") {
					if p.path <= x.tree.nextPath-1 {
						t.Errorf("%s has qid.path %#x, not above %#x", p.name, p.path, x.tree.nextPath-1)
					}
				}
			}
			_ = paths
			// And a second restart, after compaction.
			y.tree.mu.Lock()
			y.tree.log.startCompaction(y.tree)
			y.tree.mu.Unlock()
			y.waitCompaction(1)
			writeAll(t, fs, "all/a", "after compaction")
			again := y.dump()
			y.close()
			z := openLogged(t, dir, sync)
			if diff := cmp.Diff(expectAfterRestart(again), z.dump()); diff != "" {
				t.Fatalf("after compaction and restart (-want +got):\n%s", diff)
			}
			z.close()
		})
	}
}

type pathName struct {
	name string
	path uint64
}

func (x *logged) paths() []pathName {
	x.tree.mu.Lock()
	defer x.tree.mu.Unlock()
	var ps []pathName
	var walk func(n *node, name string)
	walk = func(n *node, name string) {
		ps = append(ps, pathName{name, n.path})
		if n.kind == kGroup {
			ps = append(ps, pathName{name + "/ctl", n.ctl.path}, pathName{name + "/order", n.order.path})
			for _, c := range n.children {
				walk(c, name+"/"+c.name)
			}
		}
	}
	walk(x.tree.root, "")
	return ps
}

func (x *logged) waitCompaction(n int) {
	for {
		l := x.tree.log
		l.mu.Lock()
		done := l.compactN >= n && !l.busy
		l.mu.Unlock()
		if done {
			return
		}
		l.poke()
		waitABit()
	}
}

func segFiles(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			names = append(names, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(names)
	return names
}

func waitABit() { time.Sleep(time.Millisecond) }
