//go:build !plan9

package test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/google/go-cmp/cmp"
)

// durable is an `mq -r dir -s name` that can be killed and restarted
// on the same dir.
type durable struct {
	t      *testing.T
	ns     string
	dir    string
	flags  []string
	cmd    *exec.Cmd
	stderr *lockedBuf
	user   string
	env    []string
}

func newDurable(t *testing.T, flags ...string) *durable {
	d := &durable{t: t, ns: t.TempDir(), dir: filepath.Join(t.TempDir(), "log"), flags: flags, user: owner(t)}
	t.Cleanup(d.kill)
	return d
}

// start runs mq and waits until it serves; it returns what mq said
// when it exited at once instead.
func (d *durable) start() (string, bool) {
	d.t.Helper()
	d.stderr = new(lockedBuf)
	args := append([]string{"-r", d.dir}, d.flags...)
	d.cmd = exec.Command(bin("mq"), append(args, "-s", "mq")...)
	d.cmd.Env = append(env(d.ns), d.env...)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		d.cmd.Wait()
		close(exited)
	}()
	sock := filepath.Join(d.ns, "mq")
	for {
		select {
		case <-exited:
			d.cmd = nil
			return d.stderr.String(), false
		default:
		}
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			go func() { <-exited }()
			return "", true
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *durable) mustStart() {
	d.t.Helper()
	if msg, ok := d.start(); !ok {
		ents, _ := os.ReadDir(d.dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		d.t.Fatalf("mq -r did not start: %s\nin %s: %v", msg, d.dir, names)
	}
}

// lockedBuf is a buffer a child's standard error is copied into while
// the test reads it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// kill ends mq with SIGKILL.
func (d *durable) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGKILL)
		for i := 0; i < 1000; i++ {
			if d.cmd.Process.Signal(syscall.Signal(0)) != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		d.cmd = nil
	}
}

func (d *durable) dial() (*client.Conn, *client.Fsys, error) {
	c, err := client.Dial("unix", filepath.Join(d.ns, "mq"))
	if err != nil {
		return nil, nil, err
	}
	fs, err := c.Attach(nil, d.user, "")
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, fs, nil
}

// A worker's model: what its groups hold, as SPEC §11.2 says a restart
// brings back.
type kStream struct {
	name string
	mode plan9.Perm
}

type kMsg struct {
	line, data string
}

type kGroup struct {
	name    string
	replay  string // all, last, off
	depth   int    // 0: none
	streams map[int]*kStream
	hist    []kMsg // for replay all, and last (newest of each stream)
	newest  map[string]int
}

type kModel struct {
	groups []*kGroup
	subs   map[string]bool // empty groups made and removed
}

func (m *kModel) clone() *kModel {
	n := &kModel{subs: make(map[string]bool)}
	for k, v := range m.subs {
		n.subs[k] = v
	}
	for _, g := range m.groups {
		h := *g
		h.streams = make(map[int]*kStream)
		for id, s := range g.streams {
			c := *s
			h.streams[id] = &c
		}
		h.hist = append([]kMsg(nil), g.hist...)
		n.groups = append(n.groups, &h)
	}
	return n
}

// String is the model as the check reads the server: stream names and
// modes, configuration, retained history with its order lines.
func (m *kModel) String() string {
	var b strings.Builder
	var subs []string
	for s, ok := range m.subs {
		if ok {
			subs = append(subs, s)
		}
	}
	sort.Strings(subs)
	fmt.Fprintf(&b, "subs %v\n", subs)
	for _, g := range m.groups {
		fmt.Fprintf(&b, "group %s replay %s depth %d\n", g.name, g.replay, g.depth)
		var names []string
		for _, s := range g.streams {
			names = append(names, fmt.Sprintf("%s %v", s.name, s.mode))
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "  stream %s\n", n)
		}
		if g.replay == "off" {
			continue
		}
		for _, h := range g.retained() {
			fmt.Fprintf(&b, "  %s %s\n", h.line, h.data)
		}
	}
	return b.String()
}

// retained is what the group's history holds (SPEC §7.2).
func (g *kGroup) retained() []kMsg {
	h := g.hist
	if g.replay == "last" {
		var keep []kMsg
		last := map[string]int{}
		for i, m := range h {
			last[streamOf(m.data)] = i
		}
		for i, m := range h {
			if last[streamOf(m.data)] == i {
				keep = append(keep, m)
			}
		}
		h = keep
	}
	if g.depth > 0 && len(h) > g.depth {
		h = h[len(h)-g.depth:]
	}
	return h
}

// streamOf is the stream id a message's data names: "s<id>:...".
func streamOf(data string) string { return strings.SplitN(data, ":", 2)[0] }

// kOp is a change a worker asks for: apply makes it in a model.
type kOp struct {
	desc  string
	do    func(fs *client.Fsys) error
	apply func(m *kModel)
}

type kWorker struct {
	id    int
	model *kModel
	next  int // for message and stream ids
	rng   *rand.Rand
}

func (w *kWorker) top() string { return fmt.Sprintf("w%d", w.id) }

// setup makes the worker's groups.
func (w *kWorker) setup(fs *client.Fsys) error {
	w.model = &kModel{subs: map[string]bool{}}
	if f, err := fs.Create(w.top(), plan9.OREAD, plan9.DMDIR|0775); err != nil {
		return err
	} else {
		f.Close()
	}
	for _, g := range []struct {
		name, replay string
		depth        int
	}{{"all", "all", 0}, {"deep", "all", 20}, {"last", "last", 0}, {"off", "off", 0}} {
		path := w.top() + "/" + g.name
		f, err := fs.Create(path, plan9.OREAD, plan9.DMDIR|0775)
		if err != nil {
			return err
		}
		f.Close()
		if err := ctl(fs, path, fmt.Sprintf("replay %s\ndepth %d", g.replay, g.depth)); err != nil {
			return err
		}
		w.model.groups = append(w.model.groups, &kGroup{name: g.name, replay: g.replay, depth: g.depth, streams: map[int]*kStream{}})
	}
	return nil
}

func ctl(fs *client.Fsys, group, text string) error {
	f, err := fs.Open(group+"/ctl", plan9.OWRITE)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(text))
	return err
}

// op picks a random change.
func (w *kWorker) op() kOp {
	gi := w.rng.IntN(len(w.model.groups))
	g := w.model.groups[gi]
	gpath := w.top() + "/" + g.name
	var ids []int
	for id := range g.streams {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	pick := func() (int, *kStream) {
		id := ids[w.rng.IntN(len(ids))]
		return id, g.streams[id]
	}
	w.next++
	n := w.next
	r := w.rng.IntN(100)
	switch {
	case len(ids) == 0 || r < 8 && len(ids) < 6:
		name := fmt.Sprintf("s%d", n)
		return kOp{"create " + gpath + "/" + name, func(fs *client.Fsys) error {
			f, err := fs.Create(gpath+"/"+name, plan9.OWRITE, 0664)
			if err == nil {
				f.Close()
			}
			return err
		}, func(m *kModel) { m.groups[gi].streams[n] = &kStream{name: name, mode: plan9.DMAPPEND | 0664} }}
	case r < 12:
		id, s := pick()
		return kOp{"remove " + s.name, func(fs *client.Fsys) error { return fs.Remove(gpath + "/" + s.name) },
			func(m *kModel) {
				g := m.groups[gi]
				delete(g.streams, id)
				var keep []kMsg
				for _, h := range g.hist {
					if streamOf(h.data) != fmt.Sprintf("s%d", id) {
						keep = append(keep, h)
					}
				}
				g.hist = keep
			}}
	case r < 16:
		_, s := pick()
		id := idOf(s, g)
		name := fmt.Sprintf("r%d", n)
		return kOp{"rename " + s.name + " " + name, func(fs *client.Fsys) error {
			var d plan9.Dir
			d.Null()
			d.Name = name
			return fs.Wstat(gpath+"/"+s.name, &d)
		}, func(m *kModel) { m.groups[gi].streams[id].name = name }}
	case r < 19:
		_, s := pick()
		id := idOf(s, g)
		mode := plan9.Perm(0600 + w.rng.IntN(0100))
		return kOp{"chmod " + s.name, func(fs *client.Fsys) error {
			var d plan9.Dir
			d.Null()
			d.Mode = mode
			return fs.Wstat(gpath+"/"+s.name, &d)
		}, func(m *kModel) { m.groups[gi].streams[id].mode = plan9.DMAPPEND | mode }}
	case r < 21 && g.name == "deep":
		depth := 10 + w.rng.IntN(30)
		return kOp{"depth", func(fs *client.Fsys) error { return ctl(fs, gpath, fmt.Sprintf("depth %d", depth)) },
			func(m *kModel) {
				g := m.groups[gi]
				g.depth = depth
				g.hist = g.retained()
			}}
	case r < 24:
		sub := fmt.Sprintf("%s/sub%d", w.top(), n)
		var live []string
		for s, ok := range w.model.subs {
			if ok {
				live = append(live, s)
			}
		}
		sort.Strings(live)
		if len(live) > 0 && w.rng.IntN(2) == 0 {
			sub = live[w.rng.IntN(len(live))]
			return kOp{"rmdir " + sub, func(fs *client.Fsys) error { return fs.Remove(sub) },
				func(m *kModel) { delete(m.subs, sub) }}
		}
		return kOp{"mkdir " + sub, func(fs *client.Fsys) error {
			f, err := fs.Create(sub, plan9.OREAD, plan9.DMDIR|0775)
			if err == nil {
				f.Close()
			}
			return err
		}, func(m *kModel) { m.subs[sub] = true }}
	}
	id, s := pick()
	data := fmt.Sprintf("s%d:w%d:%d", id, w.id, n)
	return kOp{"write " + s.name, func(fs *client.Fsys) error {
		f, err := fs.Open(gpath+"/"+s.name, plan9.OWRITE)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write([]byte(data))
		return err
	}, func(m *kModel) {
		g := m.groups[gi]
		line := g.streams[id].name
		g.hist = append(g.hist, kMsg{line, data})
		g.hist = g.retained()
	}}
}

func idOf(s *kStream, g *kGroup) int {
	for id, t := range g.streams {
		if t == s {
			return id
		}
	}
	return -1
}

// read reads what the server holds of the worker's groups, in the
// form of kModel.String. It switches each group to data static to read
// it without blocking, and back: those are changes of its own.
func (w *kWorker) read(fs *client.Fsys) (string, error) {
	var b strings.Builder
	ents, err := readDir(fs, w.top())
	if err != nil {
		return "", err
	}
	var subs []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name, "sub") {
			subs = append(subs, w.top()+"/"+e.Name)
		}
	}
	sort.Strings(subs)
	fmt.Fprintf(&b, "subs %v\n", subs)
	for _, g := range w.model.groups {
		gpath := w.top() + "/" + g.name
		cfg, err := readAll(fs, gpath+"/ctl")
		if err != nil {
			return "", err
		}
		replay, depth := "", 0
		for _, line := range strings.Split(cfg, "\n") {
			fmt.Sscanf(line, "replay %s", &replay)
			fmt.Sscanf(line, "depth %d", &depth)
		}
		fmt.Fprintf(&b, "group %s replay %s depth %d\n", g.name, replay, depth)
		ents, err := readDir(fs, gpath)
		if err != nil {
			return "", err
		}
		var names []string
		length := map[string]uint64{}
		for _, e := range ents {
			if e.Name == "ctl" || e.Name == "order" {
				continue
			}
			names = append(names, fmt.Sprintf("%s %v", e.Name, e.Mode))
			length[e.Name] = e.Length
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "  stream %s\n", n)
		}
		if replay == "off" {
			continue
		}
		if err := ctl(fs, gpath, "data static"); err != nil {
			return "", err
		}
		order, err := readAll(fs, gpath+"/order")
		if err != nil {
			return "", err
		}
		// Every stream's messages, by their number, which is the
		// order they were written in.
		type msg struct {
			n    int
			data string
		}
		var all []msg
		for name, size := range length {
			text, err := readAll(fs, gpath+"/"+name)
			if err != nil {
				return "", err
			}
			if uint64(len(text)) != size {
				fmt.Fprintf(&b, "  %s length %d, read %d\n", name, size, len(text))
			}
			// Messages are s<id>:w<w>:<n>, back to back.
			for _, m := range splitMsgs(text) {
				var id, ww, n int
				fmt.Sscanf(m, "s%d:w%d:%d", &id, &ww, &n)
				all = append(all, msg{n, m})
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].n < all[j].n })
		lines := strings.Split(strings.TrimSuffix(order, "\n"), "\n")
		if order == "" {
			lines = nil
		}
		if len(lines) != len(all) {
			fmt.Fprintf(&b, "  order has %d entries, streams %d messages\n", len(lines), len(all))
		}
		for i, m := range all {
			line := "?"
			if i < len(lines) {
				line = lines[i]
			}
			fmt.Fprintf(&b, "  %s %s\n", line, m.data)
		}
		if err := ctl(fs, gpath, "data message"); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// splitMsgs splits messages "s1:w0:5s1:w0:9" back to back.
func splitMsgs(text string) []string {
	var out []string
	for len(text) > 0 {
		i := strings.Index(text[1:], "s")
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}

func readDir(fs *client.Fsys, path string) ([]*plan9.Dir, error) {
	f, err := fs.Open(path, plan9.OREAD)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Dirreadall()
}

func readAll(fs *client.Fsys, path string) (string, error) {
	f, err := fs.Open(path, plan9.OREAD)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b []byte
	buf := make([]byte, 8192)
	for {
		n, err := f.Read(buf)
		b = append(b, buf[:n]...)
		if err == io.EOF || n == 0 {
			return string(b), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// SPEC §11.2, §11.3: mq killed with SIGKILL at random moments during a
// mixed workload loses nothing it acknowledged, and nothing appears
// but what was in flight; order matches the streams; no duplicates.
func TestKillRestart(t *testing.T) {
	rounds := 100
	if testing.Short() {
		rounds = 10
	}
	d := newDurable(t)
	// Segments of 2 KiB, and messages carried forward every few
	// kilobytes of dead records (about 50 times a round), so that
	// kills land in the middle of it too.
	d.env = []string{"MQ_TEST_COMPACT_SLACK=2048"}
	d.mustStart()
	const nw = 4
	workers := make([]*kWorker, nw)
	_, fs, err := d.dial()
	if err != nil {
		t.Fatal(err)
	}
	for i := range workers {
		workers[i] = &kWorker{id: i, rng: rand.New(rand.NewPCG(uint64(i), 1))}
		if err := workers[i].setup(fs); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	acked := 0
	for round := 0; round < rounds; round++ {
		if round%2 == 1 {
			d.flags = []string{"-S"}
		} else {
			d.flags = nil
		}
		// Half the rounds reserve room by writing zeros, as on Plan 9
		// (SPEC §11.3, §11.5): their zero tails are read back by both.
		d.env = []string{"MQ_TEST_COMPACT_SLACK=2048"}
		if round%4 >= 2 {
			d.env = append(d.env, "MQ_TEST_ZERO_RESERVE=1")
		}
		inflight := make([]*kOp, nw)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, fs, err := d.dial()
				if err != nil {
					return
				}
				defer c.Close()
				// A replay off reader on a connection of its own (the
				// client cannot have a read outstanding while the
				// connection breaks under another request).
				for _, s := range w.model.groups[3].streams {
					rc, rfs, err := d.dial()
					if err != nil {
						break
					}
					defer rc.Close()
					rd, err := rfs.Open(w.top()+"/off/"+s.name, plan9.OREAD)
					if err != nil {
						break
					}
					go func() {
						buf := make([]byte, 100)
						for {
							if _, err := rd.Read(buf); err != nil {
								return
							}
						}
					}()
					break
				}
				for {
					op := w.op()
					mu.Lock()
					inflight[w.id] = &op
					mu.Unlock()
					if err := op.do(fs); err != nil {
						return // killed: op is in flight
					}
					mu.Lock()
					inflight[w.id] = nil
					acked++
					mu.Unlock()
					op.apply(w.model)
				}
			}()
		}
		time.Sleep(time.Duration(5+rng.IntN(60)) * time.Millisecond)
		d.kill()
		wg.Wait()
		d.mustStart()
		if strings.Contains(d.stderr.String(), "mq:") && !strings.Contains(d.stderr.String(), "torn record") {
			t.Fatalf("round %d: mq said %s", round, d.stderr)
		}
		_, fs, err := d.dial()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range workers {
			got, err := w.read(fs)
			if err != nil {
				t.Fatalf("round %d: reading back: %v", round, err)
			}
			want := w.model.String()
			if got == want {
				continue
			}
			if op := inflight[w.id]; op != nil {
				m := w.model.clone()
				op.apply(m)
				if got == m.String() {
					w.model = m
					continue
				}
				t.Logf("in flight: %s", op.desc)
			}
			t.Fatalf("round %d, worker %d: after restart (-want +got):\n%s", round, w.id, cmp.Diff(want, got))
		}
	}
	t.Logf("%d rounds, %d changes acknowledged, 0 lost", rounds, acked)
	fmt.Fprintf(os.Stderr, "TestKillRestart: %d rounds, %d changes acknowledged, 0 lost\n", rounds, acked)
}

// TestStopRemovesOnClose checks SPEC §8.8 and §11.2 across a restart: a
// stream open ORCLOSE is removed when mq stops on a signal, which ends
// its connections, and comes back when mq is killed, which can remove
// nothing.
func TestStopRemovesOnClose(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		want []string
	}{
		{syscall.SIGTERM, []string{"ctl", "order", "kept"}},
		{syscall.SIGINT, []string{"ctl", "order", "kept"}},
		{syscall.SIGHUP, []string{"ctl", "order", "kept"}},
		{syscall.SIGKILL, []string{"ctl", "order", "kept", "tmp"}},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			d := newDurable(t)
			d.mustStart()
			c, fs, err := d.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			g, err := fs.Create("g", plan9.OREAD, plan9.DMDIR|0775)
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
			for _, mode := range []uint8{plan9.OWRITE, plan9.OWRITE | plan9.ORCLOSE} {
				name := "kept"
				if mode&plan9.ORCLOSE != 0 {
					name = "tmp"
				}
				f, err := fs.Create("g/"+name, mode, 0664)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
			}
			cmd := d.cmd
			cmd.Process.Signal(tc.sig)
			for cmd.Process.Signal(syscall.Signal(0)) == nil {
				time.Sleep(time.Millisecond)
			}
			d.cmd = nil
			d.mustStart()
			c2, fs2, err := d.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			ents, err := readDir(fs2, "g")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("g after a %v and a restart (-want +got):\n%s", tc.sig, diff)
			}
		})
	}
}
