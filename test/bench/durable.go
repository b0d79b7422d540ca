//go:build !plan9

package main

// R: mq -r dir (SPEC §11): the cost of the log against the same mq
// without it, group commit with -S against one fsync per message,
// start-up reading back a retained history against cat, and the
// dir's size under a firehose.

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"9fans.net/go/plan9"
)

var (
	flagRSize = flag.Int64("rsize", 1<<30, "retained history read back at start-up (R)")
	flagRDir  = flag.String("rdir", "", "directory for mq -r's logs (R); default: in the temporary directory")
	flagROnly = flag.String("ronly", "", "run only the R workloads whose first row names this")
	flagRProf = flag.String("rprof", "", "write the CPU profile of each mq -r run of R to `prefix`.N.pprof")
	flagRBoth = flag.Bool("rprofboth", false, "with -rprof, profile the run without -r before each too, to `prefix`.N.none.pprof")
	flagRV    = flag.Bool("rv", false, "print each run of R A–D: rate, server CPU and system calls per message, without -r and with")
)

// sysCalls is how many reads and writes (read, pread, write, pwrite:
// syscr and syscw of /proc/PID/io) the child has made so far.
func (ch *child) sysCalls() (r, w int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", ch.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "syscr:":
				r = n
			case "syscw:":
				w = n
			}
		}
	}
	return r, w
}

// spawnWith starts mq with extra arguments.
func (b *bench) spawnWith(args ...string) (*child, net.Conn, error) {
	return b.spawnKind("mq", args...)
}

// spawnKind starts mq, or with -mq0 the earlier mq (kind mq0), with
// extra arguments.
func (b *bench) spawnKind(kind string, args ...string) (*child, net.Conn, error) {
	b.extra = args
	defer func() { b.extra = nil }()
	return b.spawn(kind, false)
}

// logDir is a fresh directory for mq -r.
func (b *bench) logDir() (string, error) {
	base := *flagRDir
	if base == "" {
		base = b.tmp
	}
	return os.MkdirTemp(base, "log")
}

// rootCtl writes cmd to the root's ctl: groups made later copy it.
func (s *session) rootCtl(cmd string) error {
	fid, err := s.open(plan9.OWRITE, "ctl")
	if err != nil {
		return err
	}
	if _, err := s.rpc(&plan9.Fcall{Type: plan9.Twrite, Fid: fid, Data: []byte(cmd), Count: uint32(len(cmd))}); err != nil {
		return err
	}
	return s.clunk(fid)
}

// rRatio measures fn on mq (kind mq or mq0) without -r and with it,
// cfg written to the root's ctl first in both, and returns the ratio
// of rates, with -r over without, and of the server's CPU time per
// operation.
func (b *bench) rRatio(kind, cfg string, fn func(s *session) (float64, error)) (float64, float64, error) {
	var rates, cpus [2]float64
	for i := range rates {
		var args []string
		if i == 1 {
			dir, err := b.logDir()
			if err != nil {
				return 0, 0, err
			}
			defer os.RemoveAll(dir)
			args = []string{"-r", dir}
		}
		ch, c, err := b.spawnKind(kind, args...)
		if err != nil {
			return 0, 0, err
		}
		s, err := session9p(c)
		if err == nil && cfg != "" {
			err = s.rootCtl(cfg)
		}
		prof := *flagRProf != "" && (i == 1 || *flagRBoth)
		if prof {
			name := fmt.Sprintf("%s.%d.none.pprof", *flagRProf, b.nprof+1)
			if i == 1 {
				b.nprof++
				name = fmt.Sprintf("%s.%d.pprof", *flagRProf, b.nprof)
			}
			ch.ask("cpu start " + name)
		}
		timed.cpu, timed.ops = ch.cpu, 0
		var calls [2][2]int64 // at the start of the timed part and at its end
		if *flagRV {
			k := 0
			timed.cpu = func() time.Duration {
				calls[k][0], calls[k][1] = ch.sysCalls()
				k = 1
				return ch.cpu()
			}
		}
		if err == nil {
			rates[i], err = fn(s)
		}
		timed.cpu = nil
		cpus[i] = float64(timed.c1-timed.c0) / float64(max(timed.ops, 1))
		if *flagRV && err == nil {
			ops := float64(max(timed.ops, 1))
			fmt.Fprintf(os.Stderr, "bench: R %s %q %v: %.0f msgs/s, server %.0f ns/msg, %.3f reads/msg, %.3f writes/msg\n",
				kind, strings.ReplaceAll(cfg, "\n", "; "), args, rates[i], cpus[i], float64(calls[1][0]-calls[0][0])/ops, float64(calls[1][1]-calls[0][1])/ops)
		}
		if prof {
			ch.ask("cpu stop")
		}
		c.Close()
		ch.stop()
		if err != nil {
			return 0, 0, fmt.Errorf("%v; server stderr: %s", err, ch.stderr)
		}
	}
	return rates[1] / rates[0], cpus[1] / cpus[0], nil
}

func (b *bench) durableWorkloads() []*workload {
	t, warm := *flagT, *flagWarm
	var ws []*workload
	mq := []string{"mq"}
	mqs := []string{"mq", "mq0"} // A–D: -mq0 measures the earlier mq's ratios too
	const all = "replay all\ndepth 1000"
	ping := func(lanes, size int) func(s *session) (float64, error) {
		return func(s *session) (float64, error) {
			if err := s.mkgroup("g"); err != nil {
				return 0, err
			}
			ls, err := setupLanes(s, "g", lanes, size)
			if err != nil {
				return 0, err
			}
			return pingpong(s, ls, warm, t)
		}
	}
	fan := func(s *session) (float64, error) { return fanout(s, "f", 100, warm, t) }
	for _, w := range []struct {
		name string
		fn   func(s *session) (float64, error)
	}{
		{"A ping-pong 64 B", ping(1, 64)},
		{"B 8 lanes, 64 B", ping(8, 64)},
		{"C fan-out to 100", fan},
		{"D ping-pong 8 KiB", ping(1, 8192)},
	} {
		off := newRow("R "+w.name+": -r/none", "×", "≥0.8")
		on := newRow("R "+w.name+", replay all: -r/none", "×", "≥0.8")
		offc := newRow("R … server CPU/msg: -r/none", "×", "")
		onc := newRow("R … replay all, CPU/msg: -r/none", "×", "")
		off.verdict = func() bool { return off.get("mq") >= 0.8 }
		on.verdict = func() bool { return on.get("mq") >= 0.8 }
		ws = append(ws, &workload{id: "R", kinds: mqs, rows: []*row{off, offc, on, onc},
			fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
				x, xc, err := b.rRatio(kind, "", w.fn)
				if err != nil {
					return nil, err
				}
				y, yc, err := b.rRatio(kind, all, w.fn)
				return []float64{x, xc, y, yc}, err
			}})
	}

	// -S: 16 writers in flight against one fsync per message.
	fs := newRow("R -S, 16 writers in flight, 64 B", "msgs/s", "")
	one := newRow("R one write+fdatasync per msg", "msgs/s", "")
	gc := newRow("R -S 16 writers / fsync per msg", "×", "≥10")
	gc.verdict = func() bool { return gc.get("mq") >= 10 }
	ws = append(ws, &workload{id: "R", kinds: mq, rows: []*row{fs, one, gc},
		fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
			dir, err := b.logDir()
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
			f1, err := fsyncRate(dir, t)
			if err != nil {
				return nil, err
			}
			ch2, c2, err := b.spawnWith("-S", "-r", dir)
			if err != nil {
				return nil, err
			}
			defer ch2.stop()
			defer c2.Close()
			s, err := session9p(c2)
			if err != nil {
				return nil, err
			}
			if err := s.rootCtl(all); err != nil {
				return nil, err
			}
			x, err := ping(16, 64)(s)
			return []float64{x, f1, x / f1}, err
		}})

	// Start-up: read back -rsize of retained history.
	st := newRow(fmt.Sprintf("R start-up, %d MiB retained", *flagRSize>>20), "s", "")
	cat := newRow("R cat of the same files", "s", "")
	sr := newRow("R start-up / cat", "×", "≤2")
	sr.verdict = func() bool { return sr.get("mq") <= 2 }
	mr := newRow("R live heap after / before restart", "×", "≤1.2")
	mr.verdict = func() bool { return mr.get("mq") <= 1.2 }
	rr := newRow("R RSS after / before restart", "×", "≤1.2")
	rr.verdict = func() bool { return rr.get("mq") <= 1.2 }
	ws = append(ws, &workload{id: "R", kinds: mq, runs: 1, rows: []*row{st, cat, sr, mr, rr},
		fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
			return b.startup(*flagRSize)
		}})

	// Disk use under a firehose of a replay all group with depth, and
	// the same with a few older messages in another group, which keep
	// the first segment and make the log carry them forward.
	for _, pin := range []int{0, 100} {
		name := "R firehose 1 KiB, depth 10000"
		if pin > 0 {
			name = fmt.Sprintf("R firehose, %d older messages kept", pin)
		}
		du := newRow(name+": dir max", "MB", "")
		dr := newRow("R … dir max / (2×retained + 16 MiB)", "×", "≤1")
		dr.verdict = func() bool { return dr.get("mq") <= 1 }
		wa := newRow("R … bytes written to disk / payload", "×", "")
		ws = append(ws, &workload{id: "R", kinds: mq, runs: 1, rows: []*row{du, dr, wa},
			fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
				return b.diskUse(*flagFirehose, pin)
			}})
	}
	if *flagROnly != "" {
		var keep []*workload
		for _, w := range ws {
			if strings.Contains(w.rows[0].name, *flagROnly) {
				keep = append(keep, w)
			}
		}
		ws = keep
	}
	return ws
}

// fsyncRate is how many 64-byte appends, each followed by fdatasync,
// a file in dir takes per second.
func fsyncRate(dir string, d time.Duration) (float64, error) {
	f, err := os.Create(filepath.Join(dir, "fsync.test"))
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 64)
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// startup writes size bytes of 4 KiB messages into a replay all group
// of mq -r, notes its live heap, stops it, and starts it again on the
// same dir: it returns the seconds until it answers, the seconds cat
// takes to read the dir's files, their ratio, and the ratio of live
// heaps after and before.
func (b *bench) startup(size int64) ([]float64, error) {
	dir, err := b.logDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cap := fmt.Sprint(2*size + 64<<20)
	ch, c, err := b.spawnWith("-M", cap, "-r", dir)
	if err != nil {
		return nil, err
	}
	s, err := session9p(c)
	if err != nil {
		ch.stop()
		return nil, err
	}
	const msg = 4096
	fail := func(err error) ([]float64, error) {
		c.Close()
		ch.stop()
		return nil, fmt.Errorf("%v; server stderr: %s", err, ch.stderr)
	}
	if err := s.rootCtl("replay all"); err != nil {
		return fail(err)
	}
	if err := s.mkgroup("g"); err != nil {
		return fail(err)
	}
	w, err := s.mkstream("g", "s")
	if err != nil {
		return fail(err)
	}
	buf := make([]byte, msg)
	n := int(size / msg)
	const window = 32
	for sent, got := 0, 0; got < n; {
		for sent < n && sent-got < window {
			s.sendWrite(uint16(sent%window), w, stamp(buf, 0, uint64(sent)))
			sent++
		}
		if err := s.flush(); err != nil {
			return fail(err)
		}
		r, err := s.recv()
		if err != nil {
			return fail(err)
		}
		if r.typ != plan9.Rwrite {
			return fail(fmt.Errorf("write: %s", r.ename))
		}
		got++
	}
	before, err := ch.heap()
	if err != nil {
		return fail(err)
	}
	rss0, err := ch.rss()
	if err != nil {
		return fail(err)
	}
	// A clean stop: standard input ends.
	c.Close()
	ch.cmd.Wait()
	ch.stop()

	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var catTime time.Duration
	for range 2 { // the first warms the page cache, as mq's first run left it
		t0 := time.Now()
		cmd := exec.Command("cat", files...)
		if err := cmd.Run(); err != nil {
			return nil, err
		}
		catTime = time.Since(t0)
	}
	t0 := time.Now()
	ch, c, err = b.spawnWith("-M", cap, "-r", dir)
	if err != nil {
		return nil, err
	}
	defer ch.stop()
	defer c.Close()
	if _, err := session9p(c); err != nil {
		return nil, fmt.Errorf("%v; server stderr: %s", err, ch.stderr)
	}
	up := time.Since(t0)
	after, err := ch.heap()
	if err != nil {
		return nil, err
	}
	rss1, err := ch.rss()
	if err != nil {
		return nil, err
	}
	return []float64{up.Seconds(), catTime.Seconds(), up.Seconds() / catTime.Seconds(),
		float64(after) / float64(before), float64(rss1) / float64(rss0)}, nil
}

// diskUse runs 8 ping-pong lanes of 1 KiB messages into a replay all
// group with depth 10000 for d and returns the largest size the dir
// reached, in MB, and its ratio to twice the retained bytes plus 16 MiB.
func (b *bench) diskUse(d time.Duration, pin int) ([]float64, error) {
	dir, err := b.logDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ch, c, err := b.spawnWith("-r", dir)
	if err != nil {
		return nil, err
	}
	defer ch.stop()
	defer c.Close()
	s, err := session9p(c)
	if err != nil {
		return nil, err
	}
	if err := s.rootCtl("replay all\ndepth 10000"); err != nil {
		return nil, err
	}
	const size = 1024
	if pin > 0 {
		if err := s.mkgroup("pin"); err != nil {
			return nil, err
		}
		if err := s.ctl("pin", "depth 0"); err != nil {
			return nil, err
		}
		w, err := s.mkstream("pin", "s")
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size)
		for i := range pin {
			if _, err := s.rpc(&plan9.Fcall{Type: plan9.Twrite, Fid: w, Data: stamp(buf, 0, uint64(i)), Count: size}); err != nil {
				return nil, err
			}
		}
	}
	if err := s.mkgroup("g"); err != nil {
		return nil, err
	}
	ls, err := setupLanes(s, "g", 8, size)
	if err != nil {
		return nil, err
	}
	w0 := writeBytes(ch)
	stop := make(chan struct{})
	maxSize := make(chan int64)
	go func() {
		var m int64
		for {
			select {
			case <-stop:
				maxSize <- m
				return
			case <-time.After(5 * time.Millisecond):
			}
			m = max(m, dirSize(dir))
		}
	}()
	start := time.Now()
	rate, err := pingpong(s, ls, 0, d)
	payload := rate * time.Since(start).Seconds() * size
	close(stop)
	m := <-maxSize
	if err != nil {
		return nil, err
	}
	written := writeBytes(ch) - w0
	retained := int64((10000 + pin) * size)
	return []float64{float64(m) / 1e6, float64(m) / float64(2*retained+16<<20), float64(written) / payload}, nil
}

// writeBytes is how many bytes the child has had written to storage
// (Linux: write_bytes in /proc/pid/io), or 0.
func writeBytes(ch *child) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", ch.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func dirSize(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}
