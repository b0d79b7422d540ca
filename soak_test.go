//go:build !plan9

// The soak test drives the server with 9fans.net/go's client over pipes;
// that client's Plan 9 build has no NewConn.

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// TestSoak sends messages through four groups of different
// configurations, two writers each, while readers come and go (some
// clunking, some hanging up). Every reader sees each stream's messages
// in order, skipping only what it was told it lost (SPEC §7.3).
// Afterwards the server's goroutines and heap are back to where they
// started, but for what the groups retain. MQ_LONG=1 sends 10 million.
func TestSoak(t *testing.T) {
	total := sized(10_000_000, 20_000)
	tr := newTree("glenda", nil, 16<<20)
	srv := newServer(tr, nil)
	// dial returns a session whose Close hangs up.
	dial := func() soakSession {
		cli, end := net.Pipe()
		go srv.serve(end, 3)
		c, err := client.NewConn(cli)
		if err != nil {
			panic(err)
		}
		fs, err := c.Attach(nil, "glenda", "")
		if err != nil {
			panic(err)
		}
		return soakSession{fs, c}
	}
	baseG := runtime.NumGoroutine()
	baseHeap := heap()
	start := time.Now()

	configs := []string{"", "data coalesce", "replay last", "replay all\ndepth 1000"}
	admin := dial()
	for i, cfg := range configs {
		g := fmt.Sprintf("g%d", i)
		fid, err := admin.Create(g, plan9.OREAD, plan9.DMDIR|0775)
		if err != nil {
			t.Fatal(err)
		}
		fid.Close()
		if cfg != "" {
			ctl, err := admin.Open(g+"/ctl", plan9.OWRITE)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ctl.Write([]byte(cfg)); err != nil {
				t.Fatal(err)
			}
			ctl.Close()
		}
		for _, s := range []string{"a", "b"} {
			fid, err := admin.Create(g+"/"+s, plan9.OWRITE, 0664)
			if err != nil {
				t.Fatal(err)
			}
			fid.Close()
		}
	}

	var wg, rg sync.WaitGroup
	var stop atomic.Bool
	var sent, read, lost, sessions atomic.Int64
	var live sync.Map // reader sessions now open
	errc := make(chan error, 100)
	per := total / (2 * len(configs))
	for i := range configs {
		for _, s := range []string{"a", "b"} {
			path := fmt.Sprintf("g%d/%s", i, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				fs := dial()
				defer fs.Close()
				fid, err := fs.Open(path, plan9.OWRITE)
				if err != nil {
					errc <- err
					return
				}
				for n := range per {
					if _, err := fid.Write([]byte(path + " " + strconv.Itoa(n) + "\n")); err != nil {
						errc <- fmt.Errorf("write %s %d: %v", path, n, err)
						return
					}
					sent.Add(1)
				}
			}()
		}
		for r := range 2 {
			rg.Add(1)
			go func() {
				defer rg.Done()
				for k := 0; !stop.Load(); k++ {
					name := []string{"a", "b", "order"}[(r+k)%3]
					fs := dial()
					live.Store(fs, true)
					err := soakRead(fs, fmt.Sprintf("g%d/%s", i, name), k%2 == 0, 500+k%7*300, &read, &lost)
					live.Delete(fs)
					if err != nil && !stop.Load() {
						errc <- err
						return
					}
					sessions.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	stop.Store(true)
	// Readers blocked with nothing more to come leave by hanging up.
	for !soakDone(&rg) {
		live.Range(func(k, _ any) bool {
			k.(soakSession).Close()
			return true
		})
	}
	rg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	admin.Close()
	elapsed := time.Since(start)

	// Everything the clients held is released once their connections
	// have ended; wait for the server's goroutines to finish.
	waitFor(t, tr, func() bool { return runtime.NumGoroutine() <= baseG })
	tr.mu.Lock()
	retained := tr.st.total
	tr.mu.Unlock()
	endHeap := heap()
	t.Logf("%d messages (%d read, %d reported lost) in %v by %d reader sessions; goroutines %d -> %d; heap %d -> %d bytes, %d retained by the groups",
		sent.Load(), read.Load(), lost.Load(), elapsed.Round(time.Millisecond), sessions.Load(),
		baseG, runtime.NumGoroutine(), baseHeap, endHeap, retained)
	checkIdle(t, tr)
	if slack := int64(4 << 20); int64(endHeap) > int64(baseHeap)+retained+slack {
		t.Errorf("heap %d after the soak; started at %d with %d retained since", endHeap, baseHeap, retained)
	}
}

func soakDone(wg *sync.WaitGroup) bool {
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	select {
	case <-c:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

// soakRead is one reader session: it opens path, reads up to reads
// times checking the order, and leaves by clunking or hanging up.
type soakSession struct {
	*client.Fsys
	c *client.Conn
}

func (s soakSession) Close() error { return s.c.Close() }

func soakRead(fs soakSession, path string, clunk bool, reads int, read, lost *atomic.Int64) error {
	defer fs.Close()
	fid, err := fs.Open(path, plan9.OREAD)
	if err != nil {
		return err
	}
	if clunk {
		defer fid.Close()
	}
	next, missed := -1, 0
	var partial []byte
	buf := make([]byte, 8192)
	for range reads {
		n, err := fid.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			rest, ok := strings.CutPrefix(err.Error(), "reader fell behind: ")
			if !ok {
				return fmt.Errorf("%s: %v", path, err)
			}
			k, _ := strconv.Atoi(strings.TrimSuffix(rest, " messages lost"))
			missed += k
			lost.Add(int64(k))
			partial = nil
			continue
		}
		partial = append(partial, buf[:n]...)
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			line := string(partial[:i])
			partial = partial[i+1:]
			read.Add(1)
			if strings.HasSuffix(path, "/order") {
				if line != "a" && line != "b" {
					return fmt.Errorf("%s: entry %q", path, line)
				}
				continue
			}
			_, num, _ := strings.Cut(line, " ")
			got, err := strconv.Atoi(num)
			if err != nil {
				return fmt.Errorf("%s: message %q", path, line)
			}
			if next >= 0 && got != next+missed {
				return fmt.Errorf("%s: message %d after %d with %d reported lost", path, got, next-1, missed)
			}
			next, missed = got+1, 0
		}
	}
	return nil
}
