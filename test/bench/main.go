//go:build !plan9

// Bench measures mq against baselines side by side: a null 9P server
// (the least work any message server can do over 9P), the same
// behaviour written with srv9p, and a raw socketpair (the transport's
// limit). Each server is started fresh for every measurement as a
// child speaking 9P on one end of a socketpair as its standard input
// and output, driven by the same client, and every reply is checked.
// See test/BENCH.md.
//
//	go run ./test/bench [-t 1s] [-runs 5] [-pin 0,-1] [-only A,B] [-firehose 5s]
package main

import (
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "mq/test/bench/probe" // the baseline servers answer the same probe as mq
)

var (
	flagT        = flag.Duration("t", time.Second, "timed part of each throughput run")
	flagWarm     = flag.Duration("warm", 300*time.Millisecond, "warm-up before each timed run")
	flagRuns     = flag.Int("runs", 5, "runs per throughput figure and server (the median is shown)")
	flagPin      = flag.String("pin", "0,-1", "comma-separated CPUs to pin client and servers to, one table each; -1 is unpinned")
	flagOnly     = flag.String("only", "", "comma-separated workloads to run (A B C D E F G R)")
	flagFirehose = flag.Duration("firehose", 5*time.Second, "duration of the memory firehose (E)")
	flagRetain   = flag.Int("retain", 200000, "messages retained to measure per-message memory (E)")
	flagParked   = flag.Int("parked", 10000, "reads parked to measure per-read memory (E)")
	flagConns    = flag.Int("conns", 1000, "connections, each with a parked read (E)")
	flagFanConns = flag.Int("fanconns", 100, "connections, each with a reader, for the fan-out across connections (G)")
	flagStreams  = flag.Int("streams", 10000, "streams in one group (E)")
	flagHist     = flag.Int("hist", 1000000, "largest retained history (F)")
	flagServers  = flag.String("servers", "mq,null,srv9p,raw", "comma-separated servers to measure")
	flagMQ0      = flag.String("mq0", "", "also measure the mq in this module directory (an earlier version) as mq0")
	flagMQ       = flag.String("mq", "", "use this mq binary instead of building one (no heap figures)")
	flagCPUProf  = flag.String("cpuprofile", "", "write each server's CPU profile for workloads A–D, first run, to `prefix`.ID.server.pprof")
	flagMemProf  = flag.String("memprofile", "", "write mq's heap profile after the retained-memory workload here")
	flagServe    = flag.String("serve", "", "internal: serve as baseline null, srv9p or raw")
	flagListen   = flag.String("listen", "", "internal: with -serve, listen on this Unix socket")
)

func main() {
	flag.Parse()
	if *flagServe != "" {
		serve(*flagServe, *flagListen)
		return
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// serve is a baseline server's main.
func serve(kind, listen string) {
	var handle func(net.Conn)
	switch kind {
	case "null":
		s := newNullServer()
		handle = func(c net.Conn) { s.serve(c) }
	case "srv9p":
		s := newSrv9p()
		handle = func(c net.Conn) { serveSrv9p(s, c) }
	case "raw":
		handle = func(c net.Conn) { serveRaw(c) }
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown server %q\n", kind)
		os.Exit(1)
	}
	if listen == "" {
		c, err := net.FileConn(os.Stdin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		os.Stdin.Close()
		os.Stdout.Close()
		handle(c)
		return
	}
	ln, err := net.Listen("unix", listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go handle(c)
	}
}

func run() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "mqbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bench{self: self, tmp: tmp, mq: *flagMQ}
	if b.mq == "" && strings.Contains(*flagServers, "mq") {
		if b.mq, err = buildMQ(tmp, "", "mq"); err != nil {
			return err
		}
	}
	if *flagMQ0 != "" {
		if b.mq0, err = buildMQ(tmp, *flagMQ0, "mq0"); err != nil {
			return err
		}
		kinds = slices.Insert(kinds, 1, "mq0")
		*flagServers += ",mq0"
	}
	host, _ := os.Hostname()
	fmt.Printf("mq bench %s on %s, %s %s/%s, %d CPUs, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		host, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	fmt.Printf("runs %d × %v after %v warm-up; medians; firehose %v\n", *flagRuns, *flagT, *flagWarm, *flagFirehose)
	for _, p := range strings.Split(*flagPin, ",") {
		cpu, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("bad -pin %q", p)
		}
		if err := pin(cpu); err != nil {
			return err
		}
		if cpu < 0 {
			fmt.Printf("\nunpinned\n")
		} else {
			fmt.Printf("\nclient and servers pinned to CPU %d\n", cpu)
		}
		rows, err := b.measure()
		printTable(rows)
		if err != nil {
			return err
		}
	}
	return nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

var kinds = []string{"mq", "null", "srv9p", "raw"}

// row is one figure of the table: a value per server kind.
type row struct {
	name, unit string
	v          map[string]float64
	target     string
	verdict    func() bool
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTable(rows []*row) {
	fmt.Printf("%-34s %-12s", "figure", "unit")
	for _, k := range kinds {
		fmt.Printf(" %12s", k)
	}
	for _, k := range kinds[1:] {
		fmt.Printf(" %8s", "mq/"+k)
	}
	fmt.Printf("  %-20s %s\n", "target", "ok")
	for _, r := range rows {
		fmt.Printf("%-34s %-12s", r.name, r.unit)
		for _, k := range kinds {
			fmt.Printf(" %12s", num(r.get(k)))
		}
		for _, k := range kinds[1:] {
			fmt.Printf(" %8s", ratio(r.get("mq"), r.get(k)))
		}
		ok := ""
		if r.verdict != nil {
			ok = "no"
			if r.verdict() {
				ok = "yes"
			}
		}
		fmt.Printf("  %-20s %s\n", r.target, ok)
	}
}

func num(x float64) string {
	switch {
	case math.IsNaN(x):
		return "—"
	case x == 0:
		return "0"
	case math.Abs(x) >= 1e4:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case math.Abs(x) >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 3, 64)
	}
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "—"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}
