// Package probe lets the benchmark harness look inside a server it
// runs: live heap after a collection, and CPU and heap profiles. A
// server gets it by importing it for its side effect; the harness
// adds that import to mq at build time, so mq's sources carry no
// profiling code.
//
// When $MQBENCH_PROBE names a Unix socket path, the process listens
// there and answers one-line commands, one reply line each:
//
//	mem                 gc, then "heap N stack N objects N goroutines N sys N"
//	cpu start FILE      start a CPU profile into FILE
//	cpu stop            stop it
//	heap FILE           gc, then write a heap profile into FILE
package probe

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
)

func init() {
	path := os.Getenv("MQBENCH_PROBE")
	if path == "" {
		return
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: %v\n", err)
		return
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
}

func serve(c net.Conn) {
	defer c.Close()
	var cpu *os.File
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		reply, err := command(strings.Fields(sc.Text()), &cpu)
		if err != nil {
			reply = "error " + err.Error()
		}
		fmt.Fprintln(c, reply)
	}
}

func command(f []string, cpu **os.File) (string, error) {
	switch {
	case len(f) == 1 && f[0] == "mem":
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return fmt.Sprintf("heap %d stack %d objects %d goroutines %d sys %d",
			m.HeapAlloc, m.StackInuse, m.HeapObjects, runtime.NumGoroutine(), m.Sys), nil
	case len(f) == 3 && f[0] == "cpu" && f[1] == "start":
		fd, err := os.Create(f[2])
		if err != nil {
			return "", err
		}
		if err := pprof.StartCPUProfile(fd); err != nil {
			fd.Close()
			return "", err
		}
		*cpu = fd
		return "ok", nil
	case len(f) == 2 && f[0] == "cpu" && f[1] == "stop":
		if *cpu == nil {
			return "", fmt.Errorf("no profile running")
		}
		pprof.StopCPUProfile()
		err := (*cpu).Close()
		*cpu = nil
		return "ok", err
	case len(f) == 2 && f[0] == "heap":
		fd, err := os.Create(f[1])
		if err != nil {
			return "", err
		}
		runtime.GC()
		err = pprof.WriteHeapProfile(fd)
		if cerr := fd.Close(); err == nil {
			err = cerr
		}
		return "ok", err
	}
	return "", fmt.Errorf("unknown command %q", strings.Join(f, " "))
}
