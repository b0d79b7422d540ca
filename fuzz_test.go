package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
)

// Fuzz targets. Each runs its seeds (testdata/fuzz and f.Add) in an
// ordinary go test; go test -fuzz=FuzzName searches further.

// fuzzUsers is the users file the fuzzed servers run with: alice leads
// team, bob is in it (SPEC §2, -u).
const fuzzUsers = `
1:glenda:glenda:
2:alice::
3:bob:bob:
4:team:alice:alice,bob
`

// FuzzConn feeds arbitrary bytes to a connection: the server must not
// panic, must close only that connection on a malformed message, and
// must go on serving others (SPEC §8.9).
func FuzzConn(f *testing.F) {
	for _, s := range connSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := newTree("glenda", nil, 4096)
		srv := newServer(tr, nil)
		cli, end := net.Pipe()
		done := make(chan struct{})
		go func() {
			srv.serve(end, 3)
			close(done)
		}()
		go io.Copy(io.Discard, cli)
		cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		cli.Write(in) // fails once the server hangs up: that is fine
		cli.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("connection did not end after its client hung up")
		}
		checkIdle(t, tr)
		// Another client is still served.
		tc := dialTest(t, tr)
		tc.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
`)
	})
}

// FuzzTrace formats arbitrary messages as -D traces them (SPEC §2,
// §8.9): whatever a client sends, the trace is one line and formatting
// it never panics.
func FuzzTrace(f *testing.F) {
	for _, s := range connSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for len(in) >= 4 {
			n := int(binary.LittleEndian.Uint32(in))
			if n < 7 || n > len(in) {
				return
			}
			fc, err := plan9.UnmarshalFcall(in[:n])
			in = in[n:]
			if err != nil {
				continue
			}
			if line := fcallString(fc); strings.ContainsAny(line, "\n\r") {
				t.Fatalf("%v traced on more than one line: %q", fc, line)
			}
		}
	})
}

// checkIdle checks that nothing of a finished connection remains: no
// reader, parked read, waiting write or open file (SPEC §8.8).
func checkIdle(t *testing.T, tr *tree) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var walk func(n *node)
	walk = func(n *node) {
		for _, x := range append(n.entries(), n) {
			if x.opens != 0 {
				t.Fatalf("%s still open %d times after its client left", x.name, x.opens)
			}
		}
		if len(n.q.order) > 0 {
			t.Fatalf("group %s: order still has readers after their client left", n.name)
		}
		for _, s := range n.q.streams {
			if len(s.readers) > 0 {
				t.Fatalf("group %s: a stream still has readers after their client left", n.name)
			}
		}
		for m := n.q.head; m != nil; m = m.gnext {
			if m.waited || n.q.waits[m] != nil {
				t.Fatalf("group %s: a write still waits after its client left", n.name)
			}
		}
		for _, c := range n.children {
			if c.kind == kGroup {
				walk(c)
			}
		}
	}
	walk(tr.root)
	if tr.st.total > tr.st.cap {
		t.Fatalf("retained %d bytes over the cap %d", tr.st.total, tr.st.cap)
	}
}

// connSeeds are well-formed sessions, so that mutation starts from
// messages the server gets past.
func connSeeds() [][]byte {
	scripts := []string{
		`Tversion tag 65535 msize 8216 version 9P2000
Tattach tag 1 fid 0 afid NOFID uname glenda aname ''
Twalk tag 1 fid 0 newfid 1
Tcreate tag 1 fid 1 name g perm d-rwxrwxr-x mode OREAD
Twalk tag 1 fid 0 newfid 2 wname [g]
Tcreate tag 1 fid 2 name s perm --rw-rw-r-- mode ORDWR
Twalk tag 1 fid 0 newfid 3 wname [g s]
Topen tag 1 fid 3 mode OREAD
Tread tag 2 fid 3 count 100
Twrite tag 3 fid 2 data hello
Tread tag 4 fid 3 count 100
Tflush tag 5 oldtag 4
Tclunk tag 6 fid 3
Tremove tag 7 fid 2`,
		`Tversion tag 65535 msize 8216 version 9P2000
Tattach tag 1 fid 0 afid NOFID uname glenda aname ''
Twalk tag 1 fid 0 newfid 1 wname [ctl]
Topen tag 1 fid 1 mode OWRITE
Twrite tag 1 fid 1 data 'replay all'
Twalk tag 1 fid 0 newfid 2
Tcreate tag 1 fid 2 name s perm --rw-rw-r-- mode OWRITE
Twrite tag 1 fid 2 data abc
Twrite tag 1 fid 1 data 'data static'
Twalk tag 1 fid 0 newfid 3 wname [s]
Topen tag 1 fid 3 mode OREAD
Tread tag 1 fid 3 offset 2 count 10
Tstat tag 1 fid 3
Twalk tag 1 fid 0 newfid 4
Topen tag 1 fid 4 mode OREAD
Tread tag 1 fid 4 count 8192`,
		`Tversion tag 65535 msize 8216 version 9P2000
Tauth tag 1 afid 1 uname glenda aname ''
Tattach tag 1 fid 0 afid NOFID uname glenda aname ''
Twalk tag 1 fid 0 newfid 1 wname [order]
Topen tag 1 fid 1 mode OREAD
Tread tag 9 fid 1 count 10
Tread tag 9 fid 1 count 10
Tversion tag 65535 msize 300 version 9P2000.L`,
	}
	var seeds [][]byte
	for _, s := range scripts {
		var b []byte
		for _, line := range strings.Split(s, "\n") {
			f, err := plan9.ParseFcall(line)
			if err != nil {
				panic(fmt.Sprintf("%q: %v", line, err))
			}
			m, err := f.Bytes()
			if err != nil {
				panic(err)
			}
			b = append(b, m...)
		}
		seeds = append(seeds, b)
	}
	// A session followed by a truncated message and by a bad size.
	seeds = append(seeds, append(append([]byte(nil), seeds[0][:60]...), 0xff, 0xff, 0xff, 0xff))
	seeds = append(seeds, []byte{3, 0, 0, 0})
	return seeds
}

// FuzzOps plays random sequences of well-formed requests from three
// clients (glenda, alice and bob, with a users file) against one server,
// and checks after each step everything sim checks.
func FuzzOps(f *testing.F) {
	f.Add([]byte("\x00"))
	f.Add([]byte{3, 0, 1, 4, 0, 2, 4, 5, 1, 0, 5, 2, 2, 9, 1, 0, 13, 1})
	f.Add([]byte{6, 0, 3, 1, 3, 0, 1, 4, 1, 0, 1, 4, 2, 5, 0, 0, 1, 3, 6, 0, 5, 2, 7, 0, 0})
	// replay all, data static, a stream s0 in the root, a write, and a
	// read at offset 2⁶³.
	f.Add([]byte{0, 6, 0, 0, 1, 5, 2, 1, 1, 1, 1, 0, 1, 0, 3, 0, 1, 0, 2, 3, 2, 0, 2, 1, 0, 5, 3, 2, 1, 0, 4, 3, 4, 2, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		playOps(t, in)
	})
}

// playOps runs one FuzzOps input.
func playOps(t testing.TB, in []byte) {
	u, err := parseUsers(fuzzUsers)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTree("glenda", u, 600)
	sm := newSim(t, tr, 3)
	p := &opPlayer{sm: sm, b: in}
	p.prelude()
	for len(p.b) > 0 {
		p.op()
	}
	sm.finish()
}

// opPlayer turns fuzz bytes into requests.
type opPlayer struct {
	sm *sim
	b  []byte
}

var (
	opUsers  = []string{"glenda", "alice", "bob"}
	opNames  = []string{"g0", "g1", "s0", "s1", "s2", "ctl", "order", "..", "x"}
	opAnames = []string{"", "g0", "g0/g1", "nope"}
	opPerms  = []plan9.Perm{0666, 0600, 0644, 0777, plan9.DMEXCL | 0666,
		plan9.DMDIR | 0777, plan9.DMDIR | 0775, plan9.DMDIR | 0700}
	opModes = []uint8{plan9.OREAD, plan9.OWRITE, plan9.ORDWR, plan9.OEXEC,
		plan9.OREAD | plan9.ORCLOSE, plan9.OWRITE | plan9.OTRUNC, plan9.ORDWR | plan9.ORCLOSE}
	opCounts  = []uint32{0, 1, 2, 5, 64, 8192}
	opOffsets = []uint64{0, 3, 1 << 63, ^uint64(0)}
	opCtl     = []string{"data message", "data coalesce", "data static",
		"replay off", "replay last", "replay all", "depth 0", "depth 1", "depth 3",
		"depth 10b", "depth 1K", "wait off", "wait one", "wait all", "clear",
		"eof", "eof s0", "eof nope", "frob", "depth -1"}
	opGids = []string{"glenda", "alice", "bob", "team", "nobody"}
)

func (p *opPlayer) byte() byte {
	if len(p.b) == 0 {
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *opPlayer) pick(n int) int { return int(p.byte()) % n }

func (p *opPlayer) fid() uint32 { return uint32(p.pick(8)) }

// tag is a free tag of connection ci: never NOTAG, nor those finish uses.
func (p *opPlayer) tag(ci int) uint16 {
	sc := p.sm.conns[ci]
	t := uint16(p.pick(32))
	for {
		if _, busy := sc.outstanding[t]; !busy {
			return t
		}
		t++
	}
}

// prelude gives every connection a session and makes group g0 with
// streams s0 (0666) and s1 (0600, glenda's only).
func (p *opPlayer) prelude() {
	sm := p.sm
	for ci, u := range opUsers {
		sm.step(ci, &plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"})
		sm.step(ci, &plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: u})
	}
	sm.step(0, &plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1})
	sm.step(0, &plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: "g0", Perm: plan9.DMDIR | 0777})
	sm.step(0, &plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 1})
	for _, s := range []struct {
		name string
		perm plan9.Perm
	}{{"s0", 0666}, {"s1", 0600}} {
		sm.step(0, &plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"g0"}})
		sm.step(0, &plan9.Fcall{Type: plan9.Tcreate, Tag: 1, Fid: 1, Name: s.name, Perm: s.perm})
		sm.step(0, &plan9.Fcall{Type: plan9.Tclunk, Tag: 1, Fid: 1})
	}
}

// op plays one operation chosen by the next bytes.
func (p *opPlayer) op() {
	sm := p.sm
	ci := p.pick(len(sm.conns))
	sc := sm.conns[ci]
	step := func(f *plan9.Fcall) {
		if f.Type != plan9.Tversion && f.Tag == 0 {
			f.Tag = p.tag(ci)
		}
		sm.step(ci, f)
	}
	switch p.pick(16) {
	case 0:
		step(&plan9.Fcall{Type: plan9.Tattach, Fid: p.fid(), Afid: plan9.NOFID,
			Uname: opUsers[p.pick(len(opUsers))], Aname: opAnames[p.pick(len(opAnames))]})
	case 1:
		f := &plan9.Fcall{Type: plan9.Twalk, Fid: p.fid(), Newfid: p.fid()}
		for range p.pick(4) {
			f.Wname = append(f.Wname, opNames[p.pick(len(opNames))])
		}
		step(f)
	case 2:
		step(&plan9.Fcall{Type: plan9.Tcreate, Fid: p.fid(), Name: opNames[p.pick(len(opNames))],
			Perm: opPerms[p.pick(len(opPerms))], Mode: opModes[p.pick(len(opModes))]})
	case 3:
		step(&plan9.Fcall{Type: plan9.Topen, Fid: p.fid(), Mode: opModes[p.pick(len(opModes))]})
	case 4:
		step(&plan9.Fcall{Type: plan9.Tread, Fid: p.fid(), Count: opCounts[p.pick(len(opCounts))],
			Offset: opOffsets[p.pick(len(opOffsets))]})
	case 5:
		step(&plan9.Fcall{Type: plan9.Twrite, Fid: p.fid(), Data: p.payload()})
	case 6:
		// A ctl write on the group fid is in, through a fresh fid.
		from, tmp := p.fid(), uint32(8+p.pick(2))
		var lines []string
		for range 1 + p.pick(3) {
			lines = append(lines, opCtl[p.pick(len(opCtl))])
		}
		step(&plan9.Fcall{Type: plan9.Twalk, Fid: from, Newfid: tmp, Wname: []string{"ctl"}})
		step(&plan9.Fcall{Type: plan9.Topen, Fid: tmp, Mode: plan9.OWRITE})
		step(&plan9.Fcall{Type: plan9.Twrite, Fid: tmp, Data: []byte(strings.Join(lines, "\n"))})
		step(&plan9.Fcall{Type: plan9.Tclunk, Fid: tmp})
	case 7:
		var tags []int
		for t := range sc.outstanding {
			tags = append(tags, int(t))
		}
		sort.Ints(tags)
		old := uint16(p.pick(32))
		if len(tags) > 0 && p.pick(4) != 0 {
			old = uint16(tags[p.pick(len(tags))])
		}
		tag := p.tag(ci)
		if tag == old {
			return
		}
		if len(tags) > 0 && p.pick(8) == 0 {
			tag = uint16(tags[p.pick(len(tags))]) // a tag in use: refused (SPEC §8.7)
		}
		step(&plan9.Fcall{Type: plan9.Tflush, Tag: tag, Oldtag: old})
	case 8:
		step(&plan9.Fcall{Type: plan9.Tclunk, Fid: p.fid()})
	case 9:
		step(&plan9.Fcall{Type: plan9.Tremove, Fid: p.fid()})
	case 10:
		step(&plan9.Fcall{Type: plan9.Twstat, Fid: p.fid(), Stat: p.wstat()})
	case 11:
		step(&plan9.Fcall{Type: plan9.Tstat, Fid: p.fid()})
	case 12:
		msize := uint32(8216)
		if p.pick(4) == 0 {
			msize = uint32(p.pick(2)) * 300
		}
		step(&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: msize, Version: "9P2000"})
	case 13:
		sm.vanish(ci)
	case 14:
		// A request reusing a pending tag (SPEC §8.7).
		for t := range sc.outstanding {
			sm.step(ci, &plan9.Fcall{Type: plan9.Tstat, Tag: t, Fid: 0})
			break
		}
	case 15:
		// A reader on a stream of g0, or its order.
		from, fid := p.fid(), p.fid()
		name := []string{"s0", "s1", "s2", "order"}[p.pick(4)]
		step(&plan9.Fcall{Type: plan9.Twalk, Fid: from, Newfid: fid, Wname: []string{"g0", name}})
		step(&plan9.Fcall{Type: plan9.Topen, Fid: fid, Mode: opModes[p.pick(3)]})
	}
}

// payload is a unique message of a fuzzed size.
func (p *opPlayer) payload() []byte {
	p.sm.written++
	b := []byte(fmt.Sprintf("<%d>", p.sm.written))
	n := []int{0, 1, 10, 100, 300, 700}[p.pick(6)]
	if n == 0 {
		return nil
	}
	for len(b) < n {
		b = append(b, byte('a'+len(b)%26))
	}
	return b[:n]
}

// wstat is a fuzzed change: one field, or none (a sync).
func (p *opPlayer) wstat() []byte {
	var d plan9.Dir
	d.Null()
	switch p.pick(6) {
	case 0:
		d.Name = opNames[p.pick(len(opNames))]
	case 1:
		d.Mode = opPerms[p.pick(len(opPerms))]
	case 2:
		d.Gid = opGids[p.pick(len(opGids))]
	case 3:
		d.Length = uint64(p.pick(2) * 5)
	case 4:
		d.Mtime = 12345
	}
	b, _ := d.Bytes()
	return b
}

// FuzzCtl checks the ctl parser: no input panics; what it accepts
// reads back, through config.String, as text it accepts again with the
// same result (SPEC §4.1, §4.2).
func FuzzCtl(f *testing.F) {
	for _, s := range []string{"data message\nreplay all\ndepth 64K\nwait one\n",
		"depth 100b", "depth 3", "clear\neof fd1", "eof", "frob", "depth 1G\ndata static",
		"depth -1", "depth 9223372036854775807", "depth 0b", "replay  last  \n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		steps, err := parseCtl(text, config{})
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "usage: ") && !strings.HasPrefix(msg, "unknown control message ") {
				t.Fatalf("parseCtl(%q): error %q is neither a usage line nor unknown control message", text, msg)
			}
			return
		}
		cfg := config{}
		if len(steps) > 0 {
			cfg = steps[len(steps)-1].cfg
		}
		back, err := parseCtl(cfg.String(), config{})
		if err != nil {
			t.Fatalf("ctl reads %q, which does not parse: %v", cfg.String(), err)
		}
		if got := back[len(back)-1].cfg; got != cfg {
			t.Fatalf("%q parsed to %+v; it reads back as %q, which parses to %+v", text, cfg, cfg.String(), got)
		}
		if d := cfg.depth; d.n < 0 || d.inBytes && d.n == 0 {
			t.Fatalf("%q gave depth %+v", text, d)
		}
	})
}

// FuzzUsers checks the users-file parser: no input panics, and what it
// accepts follows the users(6) rules it implements.
func FuzzUsers(f *testing.F) {
	for _, s := range []string{fuzzUsers, "", "# comment\n1:a:a:b,c\n", "x", "1::a:b", "1:a::\n2:b:a:a,b,,c\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		u, err := parseUsers(text)
		if err != nil {
			return
		}
		sc := bufio.NewScanner(strings.NewReader(text))
		sc.Buffer(nil, len(text)+1)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			f := strings.Split(line, ":")
			if len(f) != 4 {
				t.Fatalf("accepted line %q", line)
			}
			if !u.member(f[1], f[1]) {
				t.Fatalf("%q is not a member of its own group", f[1])
			}
		}
		for name, g := range u.groups {
			if g.leader != "" && !u.leader(g.leader, name) {
				t.Fatalf("%q leads %q but leader says no", g.leader, name)
			}
			for m := range g.members {
				if !u.member(m, name) {
					t.Fatalf("%q listed in %q but member says no", m, name)
				}
				if g.leader != "" && m != g.leader && u.leader(m, name) {
					t.Fatalf("%q is not %q's leader but leader says so", m, name)
				}
			}
		}
	})
}

// TestOpsRandom plays FuzzOps on pseudo-random inputs, the same every
// run: a cheap sweep for go test, a long one with MQ_LONG=1.
func TestOpsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range sized(20_000, 300) {
		b := make([]byte, r.IntN(400))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		playOps(t, b)
	}
}
