package mqclient

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"testing"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// A scripted tree: each file answers its reads from a list, as the
// server would have; a read past the script would have blocked.
type fakeFS struct {
	files map[string]*fakeFile
	gone  map[string]bool
}

type reply struct {
	data string
	err  error
}

type fakeFile struct {
	name    string
	replies []reply
}

var errBlocked = errors.New("read would block")

func (f *fakeFile) Read(b []byte) (int, error) {
	if len(f.replies) == 0 {
		return 0, errBlocked
	}
	r := f.replies[0]
	f.replies = f.replies[1:]
	return copy(b, r.data), r.err
}

func (f *fakeFile) Write(b []byte) (int, error) { return 0, errors.New("read only") }
func (f *fakeFile) Close() error                { return nil }

func (fs *fakeFS) Open(name string, mode uint8) (File, error) {
	f, ok := fs.files[name]
	if !ok {
		return nil, errors.New("file does not exist")
	}
	return f, nil
}

func (fs *fakeFS) Create(string, plan9.Perm) error { return errors.New("no") }
func (fs *fakeFS) Remove(string) error             { return errors.New("no") }
func (fs *fakeFS) Stat(string) (*Dir, error)       { return nil, errors.New("no") }
func (fs *fakeFS) ReadDir(string) ([]Dir, error)   { return nil, errors.New("no") }
func (fs *fakeFS) Gone(f File, name string) bool   { return fs.gone[name] }
func (fs *fakeFS) MsgSize() int                    { return 8192 }
func (fs *fakeFS) Close() error                    { return nil }

var fellBehind = errors.New("reader fell behind: 2 messages lost")

func msgs(s ...string) []reply {
	var rs []reply
	for _, m := range s {
		rs = append(rs, reply{m, nil})
	}
	return rs
}

// Follower matches order's entries with the streams' messages,
// through eof marks, removals and lost messages (SPEC §4.2, §3.5, §6.3,
// §7.3).
func TestFollower(t *testing.T) {
	eof := reply{"", io.EOF}
	tests := []struct {
		name    string
		follow  []string
		order   []reply
		streams map[string][]reply
		gone    []string
		live    bool // as FollowLive makes it
		want    []string
		lost    int
	}{
		{
			name:    "interleaved",
			follow:  []string{"a", "b"},
			order:   msgs("a\n", "b\n", "b\n", "a\n"),
			streams: map[string][]reply{"a": msgs("1", "4"), "b": msgs("2", "3")},
			want:    []string{"a:1", "b:2", "b:3", "a:4"},
		},
		{
			name:    "entries of other streams skipped",
			follow:  []string{"b"},
			order:   msgs("a\n", "b\n", "c\n", "b\n"),
			streams: map[string][]reply{"a": nil, "b": msgs("2", "4")},
			want:    []string{"b:2", "b:4"},
		},
		{
			name:    "entries joined in one read",
			follow:  []string{"a", "b"},
			order:   msgs("a\nb\n", "a\n"),
			streams: map[string][]reply{"a": msgs("1", "3"), "b": msgs("2")},
			want:    []string{"a:1", "b:2", "a:3"},
		},
		{
			name:    "an eof from ctl is read past",
			follow:  []string{"a"},
			order:   msgs("a\n", "a\n"),
			streams: map[string][]reply{"a": {{"1", nil}, eof, eof, {"2", nil}}},
			want:    []string{"a:1", "a:2"},
		},
		{
			name:    "a removed stream is dropped",
			follow:  []string{"a", "b"},
			order:   msgs("a\n", "b\n", "a\n"),
			streams: map[string][]reply{"a": {eof}, "b": msgs("2")},
			gone:    []string{"g/a"},
			want:    []string{"b:2"},
		},
		{
			name:    "the entry of a dropped message is skipped",
			follow:  []string{"a"},
			order:   msgs("a\n", "a\n"),
			streams: map[string][]reply{"a": {{"", fellBehind}, {"5", nil}}},
			want:    []string{"a:5"},
			lost:    1,
		},
		{
			name:    "after order lost entries a live stream catches up to it",
			follow:  []string{"a"},
			order:   []reply{{"", fellBehind}, {"a\n", nil}},
			streams: map[string][]reply{"a": {{"", fellBehind}, {"7", nil}}},
			live:    true,
			want:    []string{"a:7"},
			lost:    2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fakeFS{files: map[string]*fakeFile{"g/order": {"g/order", append(tt.order, eof)}}, gone: map[string]bool{}}
			for name, rs := range tt.streams {
				fs.files["g/"+name] = &fakeFile{"g/" + name, rs}
			}
			for _, g := range tt.gone {
				fs.gone[g] = true
			}
			f, err := Follow(fs, "g", tt.follow)
			if err != nil {
				t.Fatal(err)
			}
			f.live = tt.live
			lost := 0
			f.Lost = func(error) { lost++ }
			var got []string
			for {
				name, data, err := f.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %q: %v", got, err)
				}
				got = append(got, fmt.Sprintf("%s:%s", name, data))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if lost != tt.lost {
				t.Errorf("Lost told %d times, want %d", lost, tt.lost)
			}
		})
	}
}

// liveFS is a group under replay off: a stream or order opened reads
// only what is written after. race, when set, is written just before
// order is first opened, as by a writer racing the opens.
type liveFS struct {
	fakeFS
	written []msg // stream and data, in order
	race    *msg
	opens   int // of order
}

type msg struct{ stream, data string }

// liveFile reads fs.written from pos on: one stream's data, or for
// order the names; with nothing left, end of file (order) or a read
// that would block (a stream).
type liveFile struct {
	fs     *liveFS
	stream string // "" for order
	pos    int
}

func (f *liveFile) Read(b []byte) (int, error) {
	for ; f.pos < len(f.fs.written); f.pos++ {
		m := f.fs.written[f.pos]
		switch {
		case f.stream == "":
			f.pos++
			return copy(b, m.stream+"\n"), nil
		case m.stream == f.stream:
			f.pos++
			return copy(b, m.data), nil
		}
	}
	if f.stream == "" {
		return 0, io.EOF
	}
	return 0, errBlocked
}

func (f *liveFile) Write([]byte) (int, error) { return 0, errors.New("read only") }
func (f *liveFile) Close() error              { return nil }

func (fs *liveFS) Open(name string, mode uint8) (File, error) {
	stream := path.Base(name)
	if stream == "order" {
		if fs.opens++; fs.opens == 1 && fs.race != nil {
			fs.written = append(fs.written, *fs.race)
		}
		stream = ""
	}
	return &liveFile{fs: fs, stream: stream, pos: len(fs.written)}, nil
}

func (fs *liveFS) Stat(name string) (*Dir, error) {
	d := &Dir{Name: path.Base(name)}
	for _, m := range fs.written {
		if m.stream == d.Name {
			d.Vers++
		}
	}
	return d, nil
}

// A message written to a followed stream while the files are being
// opened, under replay off, is one the stream holds and order does not
// list: FollowLive opens them again, so that every message prints for
// its own entry (Follow would print each of that stream's messages for
// the entry of the next); one written to another stream needs no
// second try (SPEC §9, §6.1).
func TestFollowLive(t *testing.T) {
	tests := []struct {
		race  *msg
		want  []string
		opens int
	}{
		{nil, []string{"b:3", "a:4", "a:5"}, 1},
		{&msg{"a", "2"}, []string{"b:3", "a:4", "a:5"}, 2},
		{&msg{"c", "2"}, []string{"b:3", "a:4", "a:5"}, 1},
	}
	for _, tt := range tests {
		fs := &liveFS{race: tt.race}
		fs.written = []msg{{"a", "1"}}
		f, err := FollowLive(fs, "g", []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		fs.written = append(fs.written, msg{"b", "3"}, msg{"a", "4"}, msg{"a", "5"})
		var got []string
		for {
			name, data, err := f.Next()
			if err != nil {
				break
			}
			got = append(got, fmt.Sprintf("%s:%s", name, data))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" || fs.opens != tt.opens {
			t.Errorf("written while opening %v: order opened %d times, want %d; messages (-want +got):\n%s",
				tt.race, fs.opens, tt.opens, diff)
		}
	}
}

// simGroup is a group under replay all with a depth, as the server
// keeps it: a reader whose next message is dropped from the head is
// told once, at its next read, how many it lost, and goes on from the
// oldest message held (SPEC §7.3). race runs before each open and
// read, as writers racing the reader would.
type simGroup struct {
	msgs    []msg // held, oldest first; data is the message's seq
	streams []string
	seq     int // of the next message written
	depth   int
	readers []*simReader
	race    func()
}

func (g *simGroup) write(stream string) {
	g.msgs = append(g.msgs, msg{stream, fmt.Sprint(g.seq)})
	g.streams = append(g.streams, stream)
	g.seq++
	for len(g.msgs) > g.depth {
		head := g.msgs[0]
		for _, r := range g.readers {
			if m, seq, ok := r.view(); ok && m == head {
				r.lost++
				r.next = seq + 1
			}
		}
		g.msgs = g.msgs[1:]
	}
}

// simReader reads a stream of a simGroup, or order when stream is "".
type simReader struct {
	g      *simGroup
	stream string
	next   int // seq of the next message it may read
	lost   int
}

// view is r's next message, if the history holds one, and its seq.
func (r *simReader) view() (msg, int, bool) {
	for _, m := range r.g.msgs {
		var seq int
		fmt.Sscan(m.data, &seq)
		if seq >= r.next && (r.stream == "" || m.stream == r.stream) {
			return m, seq, true
		}
	}
	return msg{}, 0, false
}

func (r *simReader) Read(b []byte) (int, error) {
	r.g.race()
	if r.lost > 0 {
		n := r.lost
		r.lost = 0
		return 0, fmt.Errorf("reader fell behind: %d messages lost", n)
	}
	m, seq, ok := r.view()
	if !ok {
		return 0, errBlocked
	}
	r.next = seq + 1
	if r.stream == "" {
		return copy(b, m.stream+"\n"), nil
	}
	return copy(b, m.data), nil
}

func (r *simReader) Write([]byte) (int, error) { return 0, errors.New("read only") }

func (r *simReader) Close() error {
	r.g.readers = slices.DeleteFunc(r.g.readers, func(x *simReader) bool { return x == r })
	return nil
}

// simFS is the tree of one simGroup, g.
type simFS struct {
	fakeFS
	g *simGroup
}

func (fs *simFS) Open(name string, mode uint8) (File, error) {
	fs.g.race()
	r := &simReader{g: fs.g, stream: path.Base(name), next: fs.g.seq}
	if r.stream == "order" {
		r.stream = ""
	}
	if len(fs.g.msgs) > 0 {
		fmt.Sscan(fs.g.msgs[0].data, &r.next) // replay all
	}
	fs.g.readers = append(fs.g.readers, r)
	return r, nil
}

// With writers outrunning it in a group that replays all with a depth,
// a Follower loses
// messages, but never prints one out of the order written or for
// another's entry, and ends at the newest (SPEC §9, §7.3).
func TestFollowerFallsBehind(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		g := &simGroup{depth: 1 + rng.IntN(6)}
		writes := 0
		g.race = func() {
			for n := rng.IntN(4); n > 0 && writes < 200; n-- {
				g.write([]string{"a", "b", "c"}[rng.IntN(3)])
				writes++
			}
		}
		for range 5 {
			g.write("a")
		}
		f, err := Follow(&simFS{g: g}, "g", []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		last := -1
		for {
			name, data, err := f.Next()
			if err != nil {
				break
			}
			var seq int
			fmt.Sscan(string(data), &seq)
			got = append(got, name+":"+string(data))
			if seq <= last || g.streams[seq] != name {
				t.Fatalf("seed %d, depth %d: message %s of %s printed for an entry of %s after %d; printed %q",
					seed, g.depth, data, g.streams[seq], name, last, got)
			}
			last = seq
		}
		newest := len(g.streams) - 1
		for newest >= 0 && g.streams[newest] == "c" {
			newest--
		}
		if newest >= g.seq-g.depth && last != newest {
			t.Errorf("seed %d, depth %d: last printed %d, want the newest held, %d; printed %q", seed, g.depth, last, newest, got)
		}
	}
}

// alignFS is a group under replay last whose streams' lengths the test
// sets: order's next entry names the stream "b", and every stream read
// gives a message, counted.
type alignFS struct {
	fakeFS
	length map[string]int64
	reads  map[string]int
}

type alignFile struct {
	fs   *alignFS
	name string
}

func (f *alignFile) Read(b []byte) (int, error) {
	if f.name == "order" {
		return copy(b, "b\n"), nil
	}
	f.fs.reads[f.name]++
	return copy(b, "x"), nil
}

func (f *alignFile) Write([]byte) (int, error) { return 0, errors.New("read only") }
func (f *alignFile) Close() error              { return nil }

func (fs *alignFS) Open(name string, mode uint8) (File, error) {
	return &alignFile{fs, path.Base(name)}, nil
}

func (fs *alignFS) Stat(name string) (*Dir, error) {
	return &Dir{Name: path.Base(name), Length: fs.length[path.Base(name)]}, nil
}

// TestAlignLastFirstMessageLate checks SPEC §6.1 and §9 under replay
// last: a stream that held nothing when mq-cat opened it, and gets its
// first message before the streams are lined up with order, has
// nothing to drop; its first message is an entry order will list.
func TestAlignLastFirstMessageLate(t *testing.T) {
	fs := &alignFS{length: map[string]int64{"a": 0, "b": 1}, reads: map[string]int{}}
	f, err := FollowLive(fs, "g", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	fs.length["a"] = 1 // a's first message, written now
	if err := f.AlignLast(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{}, fs.reads); diff != "" {
		t.Errorf("messages dropped to line up (-want +got):\n%s", diff)
	}
}
