//go:build !plan9

package main

import (
	"context"
	"errors"
	"io"
	"sync"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/srv9p"
)

// The srv9p baseline is the null server's behaviour written the way a
// Go programmer would first write it: a srv9p.Tree for names, a
// goroutine per request (srv9p's own), a mutex and a wake-up channel
// per reader.

type sstream struct {
	mu      sync.Mutex // guards readers
	readers map[*sreader]bool
}

type sreader struct {
	mu   sync.Mutex // guards msgs
	msgs [][]byte
	wake chan struct{} // a token when msgs may have grown
}

type sctl struct{}

func newSrv9p() *srv9p.Server {
	tree := srv9p.NewTree("bench", "bench", plan9.DMDIR|0777, nil)
	tree.Root.Create("ctl", "bench", 0666, sctl{})
	return &srv9p.Server{
		Tree: tree,
		Create: func(ctx context.Context, fid *srv9p.Fid, name string, perm plan9.Perm, mode uint8) (plan9.Qid, error) {
			var aux any = &sstream{readers: map[*sreader]bool{}}
			if perm&plan9.DMDIR != 0 {
				aux = nil
			}
			f, err := fid.File().Create(name, "bench", perm, aux)
			if err != nil {
				return plan9.Qid{}, err
			}
			if perm&plan9.DMDIR != 0 {
				f.Create("ctl", "bench", 0666, sctl{})
			}
			fid.SetFile(f)
			return f.Stat.Qid, openStream(fid, mode)
		},
		Open: func(ctx context.Context, fid *srv9p.Fid, mode uint8) error {
			return openStream(fid, mode)
		},
		Read: func(ctx context.Context, fid *srv9p.Fid, data []byte, offset int64) (int, error) {
			r, ok := fid.Aux().(*sreader)
			if !ok {
				return 0, nil
			}
			return r.read(ctx, data)
		},
		Write: func(ctx context.Context, fid *srv9p.Fid, data []byte, offset int64) (int, error) {
			if st, ok := fid.File().Aux.(*sstream); ok {
				st.write(data)
			}
			return len(data), nil
		},
		Clunk: func(fid *srv9p.Fid) {
			r, ok := fid.Aux().(*sreader)
			if !ok {
				return
			}
			st := fid.File().Aux.(*sstream)
			st.mu.Lock()
			delete(st.readers, r)
			st.mu.Unlock()
		},
	}
}

// openStream makes fid a reader if it opens a stream for reading.
func openStream(fid *srv9p.Fid, mode uint8) error {
	st, ok := fid.File().Aux.(*sstream)
	if !ok || mode&3 == plan9.OWRITE {
		return nil
	}
	r := &sreader{wake: make(chan struct{}, 1)}
	fid.SetAux(r)
	st.mu.Lock()
	st.readers[r] = true
	st.mu.Unlock()
	return nil
}

func (st *sstream) write(data []byte) {
	// srv9p gives every request its own buffer, so data can be kept.
	st.mu.Lock()
	defer st.mu.Unlock()
	for r := range st.readers {
		r.mu.Lock()
		r.msgs = append(r.msgs, data)
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

var errFlushed = errors.New("interrupted")

func (r *sreader) read(ctx context.Context, data []byte) (int, error) {
	for {
		r.mu.Lock()
		if len(r.msgs) > 0 {
			m := r.msgs[0]
			n := copy(data, m)
			if n < len(m) {
				r.msgs[0] = m[n:]
			} else {
				r.msgs[0] = nil
				r.msgs = r.msgs[1:]
			}
			more := len(r.msgs) > 0
			r.mu.Unlock()
			if more { // pass the token on to a read queued behind this one
				select {
				case r.wake <- struct{}{}:
				default:
				}
			}
			return n, nil
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			return 0, errFlushed
		}
	}
}

// serveSrv9p serves one connection; srv9p owns the request loop.
func serveSrv9p(srv *srv9p.Server, rwc io.ReadWriteCloser) {
	srv.Serve(rwc, rwc)
	rwc.Close()
}
