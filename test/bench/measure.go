//go:build !plan9

package main

import (
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"time"
)

// workload measures one or more rows on a fresh server of each kind.
type workload struct {
	id      string   // the letter, for -only
	kinds   []string // servers it applies to
	runs    int      // 0: -runs
	listen  bool     // the server serves a Unix socket, not a socketpair
	profile bool     // -cpuprofile covers it
	rows    []*row
	cpuRow  *row // server CPU per operation in the last timed part, if shown
	fn      func(ch *child, c net.Conn, kind string) ([]float64, error)
}

func newRow(name, unit, target string) *row {
	return &row{name: name, unit: unit, target: target, v: map[string]float64{}}
}

func (r *row) get(k string) float64 {
	if x, ok := r.v[k]; ok {
		return x
	}
	return math.NaN()
}

// atLeast is a verdict: mq is at least f times the baseline k.
func atLeast(r *row, k string, f float64) func() bool {
	return func() bool { return r.get("mq") >= f*r.get(k) }
}

func atMost(r *row, limit float64) func() bool {
	return func() bool { return r.get("mq") <= limit }
}

// session9p attaches to a socketpair server, or dials a listening one.
func session9p(c net.Conn) (*session, error) { return attach(c) }

func (b *bench) workloads() []*workload {
	t, warm := *flagT, *flagWarm
	all := kinds
	p9 := []string{"mq", "mq0", "null", "srv9p"}
	mqs := []string{"mq", "mq0"}
	var ws []*workload

	ping := func(id, name, unit, target string, lanes, size int, scale, need float64) {
		r := newRow(name, unit, target)
		r.verdict = atLeast(r, "null", need)
		if id == "A" {
			v := r.verdict
			r.verdict = func() bool { return v() && r.get("mq") >= r.get("srv9p") }
		}
		cr := newRow(id+" … server CPU", "µs/msg", "")
		ws = append(ws, &workload{id: id, kinds: all, rows: []*row{r, cr}, cpuRow: cr, profile: true,
			fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
				if kind == "raw" {
					x, err := rawPingpong(c, lanes, size, warm, t)
					return []float64{x * scale}, err
				}
				s, err := session9p(c)
				if err != nil {
					return nil, err
				}
				if err := s.mkgroup("g"); err != nil {
					return nil, err
				}
				ls, err := setupLanes(s, "g", lanes, size)
				if err != nil {
					return nil, err
				}
				x, err := pingpong(s, ls, warm, t)
				return []float64{x * scale}, err
			}})
	}
	ping("A", "A ping-pong 64 B", "msgs/s", "≥0.95×null, ≥srv9p", 1, 64, 1, 0.95)
	ping("B", "B 8 lanes, 16 in flight, 64 B", "msgs/s", "≥0.9×null", 8, 64, 1, 0.9)

	fan := func(id string, ns []int, target string) []*row {
		var rows []*row
		for _, n := range ns {
			r := newRow(fmt.Sprintf("%s fan-out to %d readers", id, n), "deliveries/s", target)
			rows = append(rows, r)
		}
		ws = append(ws, &workload{id: id, kinds: all, rows: rows, profile: id == "C",
			fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
				var out []float64
				var s *session
				if kind != "raw" {
					var err error
					if s, err = session9p(c); err != nil {
						return nil, err
					}
				}
				for _, n := range ns {
					var x float64
					var err error
					if kind == "raw" {
						x, err = rawFanout(c, n, warm, t)
					} else {
						// Each n gets its own group on the same server.
						x, err = fanout(s, fmt.Sprintf("f%d", n), n, warm, t)
					}
					if err != nil {
						return nil, err
					}
					out = append(out, x)
				}
				return out, nil
			}})
		return rows
	}
	c := fan("C", []int{100}, "≥0.9×null")
	c[0].verdict = atLeast(c[0], "null", 0.9)
	cc := newRow("C … server CPU", "µs/delivery", "")
	ws[len(ws)-1].rows = append(c, cc)
	ws[len(ws)-1].cpuRow = cc

	ping("D", "D ping-pong 8 KiB", "MB/s", "≥0.9×null", 1, 8192, 8192/1e6, 0.9)

	// E: memory.
	hg, rg := newRow("E firehose: live heap growth", "MB", "flat (<1)"), newRow("E firehose: RSS growth", "MB", "flat (<4)")
	fm := newRow("E firehose: messages carried", "msgs", "")
	hg.verdict, rg.verdict = atMost(hg, 1), atMost(rg, 4)
	ws = append(ws, &workload{id: "E", kinds: p9, runs: 1, rows: []*row{hg, rg, fm},
		fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
			s, err := session9p(c)
			if err != nil {
				return nil, err
			}
			h, r, n, err := firehose(b, ch, s, *flagFirehose)
			return []float64{h, r, n}, err
		}})
	rm := newRow(fmt.Sprintf("E retained msg (%d×64 B)", *flagRetain), "B/msg extra", "≤64")
	rm.verdict = atMost(rm, 64)
	ws = append(ws, &workload{id: "E", kinds: mqs, runs: 1, rows: []*row{rm},
		fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
			s, err := session9p(c)
			if err != nil {
				return nil, err
			}
			x, err := retained(ch, s, *flagRetain, *flagMemProf)
			return []float64{x}, err
		}})
	pr := newRow(fmt.Sprintf("E parked read (%d)", *flagParked), "B/read", "≤512")
	pr.verdict = atMost(pr, 512)
	ws = append(ws, &workload{id: "E", kinds: p9, runs: 1, rows: []*row{pr},
		fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
			s, err := session9p(c)
			if err != nil {
				return nil, err
			}
			x, err := parked(ch, s, *flagParked)
			return []float64{x}, err
		}})
	ch, cr := newRow(fmt.Sprintf("E %d conns, read each: heap", *flagConns), "B/conn", "all delivered"), newRow(fmt.Sprintf("E %d conns, read each: RSS", *flagConns), "B/conn", "")
	ch.verdict = func() bool { return !math.IsNaN(ch.get("mq")) }
	ws = append(ws, &workload{id: "E", kinds: p9, runs: 1, listen: true, rows: []*row{ch, cr},
		fn: func(child *child, c net.Conn, kind string) ([]float64, error) {
			h, r, err := conns(child, *flagConns)
			return []float64{h, r}, err
		}})
	w1, wn := newRow("E write, group of 1 stream", "msgs/s", ""), newRow(fmt.Sprintf("E write, group of %d streams", *flagStreams), "msgs/s", "flat: ≥0.9×1 stream")
	d100, dn := newRow("E dir read, 100 entries", "ns/entry", ""), newRow(fmt.Sprintf("E dir read, %d entries", *flagStreams), "ns/entry", "O(entries): ≤2×100")
	wn.verdict = func() bool { return wn.get("mq") >= 0.9*w1.get("mq") }
	dn.verdict = func() bool { return dn.get("mq") <= 2*d100.get("mq") }
	ws = append(ws, &workload{id: "E", kinds: p9, runs: 1, rows: []*row{w1, wn, d100, dn},
		fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
			s, err := session9p(c)
			if err != nil {
				return nil, err
			}
			a, b, x, y, err := manyStreams(s, *flagStreams, warm, t)
			return []float64{a, b, x, y}, err
		}})

	// G: fan-out across connections, as when many clients follow one
	// stream (not in the list; no target).
	g := newRow(fmt.Sprintf("G fan-out to %d connections", *flagFanConns), "deliveries/s", "")
	gc := newRow("G … server CPU", "µs/delivery", "")
	ws = append(ws, &workload{id: "G", kinds: p9, listen: true, rows: []*row{g, gc}, cpuRow: gc, profile: true,
		fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
			x, err := fanoutConns(ch, *flagFanConns, warm, t)
			return []float64{x}, err
		}})

	// F: growth.
	fr := fan("F", []int{1, 10, 100, 1000}, "")
	for _, r := range fr[2:] {
		r.target = "flat: ≥0.8×10 readers"
		r.verdict = func() bool { return r.get("mq") >= 0.8*fr[1].get("mq") }
	}
	var hs []int
	for h := 1; h <= *flagHist; h *= 100 {
		hs = append(hs, h)
	}
	var hrows []*row
	for i, h := range hs {
		r := newRow(fmt.Sprintf("F ping-pong, %d retained", h), "msgs/s", "")
		if i > 0 {
			r.target = "flat: ≥0.8×1"
			r.verdict = func() bool { return r.get("mq") >= 0.8*hrows[0].get("mq") }
		}
		hrows = append(hrows, r)
	}
	for i, h := range hs {
		r := newRow(fmt.Sprintf("F catch-up read, %d retained", h), "msgs/s", "")
		if h > 1000 {
			base := hrows[len(hs)+1]
			r.target = "flat: ≥0.8×100"
			r.verdict = func() bool { return r.get("mq") >= 0.8*base.get("mq") }
		}
		_ = i
		hrows = append(hrows, r)
	}
	ws = append(ws, &workload{id: "F", kinds: mqs, runs: 1, rows: hrows,
		fn: func(ch *child, c net.Conn, kind string) ([]float64, error) {
			s, err := session9p(c)
			if err != nil {
				return nil, err
			}
			pp, cu, err := history(s, hs, warm, t)
			return append(pp, cu...), err
		}})
	return append(ws, b.durableWorkloads()...)
}

// measure runs the chosen workloads, each server fresh per run, the
// order of servers rotating from run to run, and fills in medians.
func (b *bench) measure() ([]*row, error) {
	var rows []*row
	for _, w := range b.workloads() {
		if *flagOnly != "" && !strings.Contains(*flagOnly, w.id) {
			continue
		}
		rows = append(rows, w.rows...)
		runs := w.runs
		if runs == 0 {
			runs = *flagRuns
		}
		samples := make([]map[string][]float64, len(w.rows))
		for i := range samples {
			samples[i] = map[string][]float64{}
		}
		var ks []string
		for _, k := range w.kinds {
			if strings.Contains(","+*flagServers+",", ","+k+",") {
				ks = append(ks, k)
			}
		}
		for run := range runs {
			for j := range ks {
				kind := ks[(j+run)%len(ks)]
				vals, err := b.once(w, kind, run)
				if err != nil {
					return rows, fmt.Errorf("%s on %s: %v", w.rows[0].name, kind, err)
				}
				for i, v := range vals {
					samples[i][kind] = append(samples[i][kind], v)
				}
			}
		}
		for i, r := range w.rows {
			for k, xs := range samples[i] {
				r.v[k] = median(xs)
			}
		}
		fmt.Fprintf(os.Stderr, "bench: %s done\n", w.rows[0].name)
	}
	return rows, nil
}

func (b *bench) once(w *workload, kind string, run int) ([]float64, error) {
	ch, c, err := b.spawn(kind, w.listen)
	if err != nil {
		return nil, err
	}
	defer ch.stop()
	if c != nil {
		defer c.Close()
	}
	prof := *flagCPUProf != "" && w.profile && run == 0
	if prof {
		if _, err := ch.ask(fmt.Sprintf("cpu start %s.%s.%s.pprof", *flagCPUProf, w.id, kind)); err != nil {
			return nil, err
		}
	}
	timed.cpu, timed.ops = ch.cpu, 0
	vals, err := w.fn(ch, c, kind)
	timed.cpu = nil
	if w.cpuRow != nil && err == nil {
		vals = append(vals, float64(timed.c1-timed.c0)/float64(time.Microsecond)/float64(timed.ops))
	}
	if prof {
		if _, perr := ch.ask("cpu stop"); err == nil {
			err = perr
		}
	}
	if err != nil {
		err = fmt.Errorf("%v; server stderr: %s", err, ch.stderr)
	}
	return vals, err
}
