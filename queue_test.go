package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// qtest drives a queue directly: streams by name, reads that record
// their answers.
type qtest struct {
	t  *testing.T
	st *store
	q  *queue
	s  map[string]*streamq
}

func newQtest(t *testing.T, cfg string, cap int64, streams ...string) *qtest {
	x := &qtest{t: t, st: &store{cap: cap}, s: map[string]*streamq{}}
	x.q = newQueue(x.st, config{})
	x.ctl(cfg)
	for _, name := range streams {
		x.s[name] = x.q.newStream()
	}
	return x
}

func (x *qtest) ctl(text string) {
	x.t.Helper()
	steps, err := parseCtl(text, x.q.cfg)
	if err != nil {
		x.t.Fatalf("ctl %q: %v", text, err)
	}
	for _, st := range steps {
		x.q.apply(st, x.s[st.stream])
	}
}

// write writes each message to stream name, failing the test on error.
func (x *qtest) write(name string, msgs ...string) {
	x.t.Helper()
	for _, m := range msgs {
		if _, err := x.q.write(x.s[name], name, m, func(error) {}); err != nil {
			x.t.Fatalf("write %s %q: %v", name, m, err)
		}
	}
}

// open opens a reader of stream name, or of order for "order".
func (x *qtest) open(name string) *reader {
	if name == "order" {
		return x.q.open(nil)
	}
	return x.q.open(x.s[name])
}

// readFunc takes a read's answer.
type readFunc func(data string, err error)

func (f readFunc) readDone(data string, err error) { f(data, err) }

// readAt reads r at offset off and says whether the read parked.
func readAt(q *queue, r *reader, off int64, count int, f readFunc) bool {
	return q.read(&readReq{r: r, offset: off, count: count, done: f})
}

// answer is what one read got: data, "EOF", "error: ...", or "parked".
type answer string

func (x *qtest) read(r *reader, count int) answer {
	var a answer = "parked"
	readAt(x.q, r, 0, count, func(data string, err error) {
		switch {
		case err != nil:
			a = answer("error: " + err.Error())
		case len(data) == 0:
			a = "EOF"
		default:
			a = answer(data)
		}
	})
	return a
}

// readAll reads with count until a read parks, returning the answers.
func (x *qtest) readAll(r *reader, count int) []answer {
	var as []answer
	for {
		a := x.read(r, count)
		if a == "parked" {
			x.q.cancelRead(r.parked[len(r.parked)-1])
			return as
		}
		as = append(as, a)
		if len(as) > 1000 {
			x.t.Fatal("read does not stop")
		}
	}
}

// SPEC §6.2: data modes.
func TestDataModes(t *testing.T) {
	tests := []struct {
		cfg   string
		count int
		want  []answer
	}{
		{"data message", 100, []answer{"hello", "world!"}},
		{"data message", 4, []answer{"hell", "o", "worl", "d!"}},
		{"data coalesce", 100, []answer{"helloworld!"}},
		{"data coalesce", 4, []answer{"hell", "owor", "ld!"}},
	}
	for _, tt := range tests {
		x := newQtest(t, tt.cfg+"\nreplay all", 1<<20, "s")
		r := x.open("s")
		x.write("s", "hello", "world!")
		if diff := cmp.Diff(tt.want, x.readAll(r, tt.count)); diff != "" {
			t.Errorf("%s, count %d (-want +got):\n%s", tt.cfg, tt.count, diff)
		}
	}
}

// SPEC §6.2: a read of count 0 returns the smaller of 0 and the
// message, which stays to be read: with nothing to return it waits
// for a message as any read does, rather than reading as end of file;
// a static read never waits.
func TestReadCountZero(t *testing.T) {
	tests := []struct {
		data string
		want []answer // the 0-count read, answered when the write comes, then a read of 100
	}{
		{"message", []answer{"parked", "", "hello"}},
		{"coalesce", []answer{"parked", "", "hello"}},
		{"static", []answer{"", "hello"}},
	}
	for _, tt := range tests {
		x := newQtest(t, "replay all\ndata "+tt.data, 1<<20, "s")
		r := x.open("s")
		var got []answer
		if parked := readAt(x.q, r, 0, 0, func(data string, err error) {
			got = append(got, answer(data))
		}); parked {
			got = append(got, "parked")
		}
		x.write("s", "hello")
		got = append(got, x.read(r, 100))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("data %s (-want +got):\n%s", tt.data, diff)
		}
	}
}

// SPEC §4.2, §6.2: a read of count 0 at an eof mark returns at once
// and leaves the mark: the next read still gets its end of file.
func TestReadCountZeroAtEOF(t *testing.T) {
	x := newQtest(t, "replay all", 1<<20, "s")
	r := x.open("s")
	x.write("s", "a")
	x.ctl("eof s")
	got := []answer{x.read(r, 100), x.read(r, 0), x.read(r, 100), x.read(r, 100)}
	want := []answer{"a", "EOF", "EOF", "parked"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reads of 100, 0, 100, 100 (-want +got):\n%s", diff)
	}
}

// SPEC §6.2: static reads the retained messages as a file, by offset,
// never blocking and moving no cursor.
func TestStatic(t *testing.T) {
	x := newQtest(t, "data static\nreplay all", 1<<20, "s", "t")
	x.write("s", "hello")
	x.write("t", "XX")
	x.write("s", "world")
	r := x.open("s")
	o := x.open("order")
	at := func(r *reader, off int64, n int) string {
		var got string
		readAt(x.q, r, off, n, func(d string, err error) { got = d })
		return got
	}
	got := []string{at(r, 0, 100), at(r, 3, 4), at(r, 10, 5), at(o, 0, 100), at(o, 3, 100)}
	want := []string{"helloworld", "lowo", "", "s\nt\ns\n", "\ns\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("static reads (-want +got):\n%s", diff)
	}
}

// SPEC §6.2, §7.2: static readers hold nothing back. Under replay off
// a static group retains nothing, however many readers are open; under
// replay last, the newest message of each stream; turning a group
// static trims what its readers were owed at once.
func TestStaticHoldsNothing(t *testing.T) {
	tests := []struct {
		cfg    string
		before bool // the group turns static after the writes, not before
		s, t   int64
		count  int
	}{
		{"replay off", false, 0, 0, 0},
		{"replay last", false, 2, 1, 2},
		{"replay all", false, 6, 1, 4},
		{"replay off", true, 0, 0, 0},
		{"replay last", true, 2, 1, 2},
	}
	for _, tt := range tests {
		cfg := "data static\n" + tt.cfg
		if tt.before {
			cfg = tt.cfg
		}
		x := newQtest(t, cfg, 1<<20, "s", "t")
		x.open("s")
		x.open("order")
		x.write("s", "aa", "bb")
		x.write("t", "c")
		x.write("s", "dd")
		if tt.before {
			x.ctl("data static")
		}
		got := []int64{x.s["s"].bytes, x.s["t"].bytes, int64(x.q.count), x.st.total}
		want := []int64{tt.s, tt.t, int64(tt.count), tt.s + tt.t}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q, static set after writes %v: s, t lengths, count, store total (-want +got):\n%s",
				tt.cfg, tt.before, diff)
		}
	}
}

// SPEC §6.1: where a new reader starts.
func TestReplay(t *testing.T) {
	tests := []struct {
		replay string
		stream []answer
		order  []answer
	}{
		{"off", nil, nil},
		{"last", []answer{"a2"}, []answer{"t\n"}},
		{"all", []answer{"a1", "a2"}, []answer{"s\n", "s\n", "t\n"}},
	}
	for _, tt := range tests {
		x := newQtest(t, "replay "+tt.replay, 1<<20, "s", "t")
		keep := x.open("order") // keeps history under replay off and last
		x.write("s", "a1", "a2")
		x.write("t", "b1")
		r, o := x.open("s"), x.open("order")
		if diff := cmp.Diff(tt.stream, x.readAll(r, 100)); diff != "" {
			t.Errorf("replay %s: stream (-want +got):\n%s", tt.replay, diff)
		}
		if diff := cmp.Diff(tt.order, x.readAll(o, 100)); diff != "" {
			t.Errorf("replay %s: order (-want +got):\n%s", tt.replay, diff)
		}
		x.write("s", "later")
		if got := x.read(r, 100); got != "later" {
			t.Errorf("replay %s: read after a write = %q, want later", tt.replay, got)
		}
		_ = keep
	}
}

// SPEC §7.2: what is retained under each replay mode, as stream
// lengths show it.
func TestRetention(t *testing.T) {
	tests := []struct {
		replay string
		before int64 // s's length after the writes, with one reader behind
		after  int64 // after that reader has read everything
	}{
		{"off", 6, 0},
		{"last", 6, 3},
		{"all", 6, 6},
	}
	for _, tt := range tests {
		x := newQtest(t, "replay "+tt.replay, 1<<20, "s")
		r := x.open("s")
		x.write("s", "aaa", "bbb")
		if got := x.s["s"].bytes; got != tt.before {
			t.Errorf("replay %s: length before reading = %d, want %d", tt.replay, got, tt.before)
		}
		x.readAll(r, 100)
		if got := x.s["s"].bytes; got != tt.after {
			t.Errorf("replay %s: length after reading = %d, want %d", tt.replay, got, tt.after)
		}
		if x.st.total != x.q.bytes {
			t.Errorf("replay %s: store total %d, queue %d", tt.replay, x.st.total, x.q.bytes)
		}
	}
}

// SPEC §7.2: with replay off, a message stays until every reader that
// could read it (its stream's and order's) has read past it.
func TestRetentionOffOrderReader(t *testing.T) {
	x := newQtest(t, "replay off", 1<<20, "s")
	r, o := x.open("s"), x.open("order")
	x.write("s", "aaa")
	x.readAll(r, 100)
	if x.q.count != 1 {
		t.Fatalf("message gone before order's reader read it")
	}
	x.readAll(o, 100)
	if x.q.count != 0 {
		t.Fatalf("message kept after every reader read it")
	}
	x.write("s", "bbb")
	x.q.close(o, nil)
	if x.q.count != 1 {
		t.Fatalf("closing order's reader dropped a message the stream's reader has not read")
	}
	x.q.close(r, nil)
	if x.q.count != 0 {
		t.Fatalf("message kept with no reader left")
	}
}

// SPEC §4.2, §7.2, §7.3: depth drops the oldest; a reader that lost
// messages is told how many, once, and goes on from the oldest kept.
func TestDepthFellBehind(t *testing.T) {
	tests := []struct {
		depth string
		want  []answer
	}{
		{"depth 2", []answer{"error: reader fell behind: 3 messages lost", "m4", "m5"}},
		{"depth 4b", []answer{"error: reader fell behind: 3 messages lost", "m4", "m5"}},
		{"depth 5b", []answer{"error: reader fell behind: 3 messages lost", "m4", "m5"}},
		{"depth 0", []answer{"m1", "m2", "m3", "m4", "m5"}},
	}
	for _, tt := range tests {
		x := newQtest(t, "replay all\n"+tt.depth, 1<<20, "s", "t")
		r := x.open("s")
		x.write("s", "m1", "m2", "m3", "m4", "m5")
		if diff := cmp.Diff(tt.want, x.readAll(r, 100)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.depth, diff)
		}
	}
}

// SPEC §7.3: N counts the messages this reader would have read: of its
// stream, or order entries.
func TestFellBehindCountsOwnStream(t *testing.T) {
	x := newQtest(t, "replay all", 1<<20, "s", "t")
	r, o := x.open("s"), x.open("order")
	x.write("s", "s1")
	x.write("t", "t1", "t2")
	x.write("s", "s2")
	x.ctl("depth 1")
	want := []answer{"error: reader fell behind: 1 messages lost", "s2"}
	if diff := cmp.Diff(want, x.readAll(r, 100)); diff != "" {
		t.Errorf("stream reader (-want +got):\n%s", diff)
	}
	want = []answer{"error: reader fell behind: 3 messages lost", "s\n"}
	if diff := cmp.Diff(want, x.readAll(o, 100)); diff != "" {
		t.Errorf("order reader (-want +got):\n%s", diff)
	}
}

// SPEC §7.2: the server cap drops the written group's oldest messages,
// or fails with nothing dropped.
func TestCap(t *testing.T) {
	st := &store{cap: 10}
	a := newQueue(st, config{replay: replayAll})
	b := newQueue(st, config{replay: replayAll})
	as, bs := a.newStream(), b.newStream()
	write := func(q *queue, s *streamq, data string) error {
		_, err := q.write(s, "s", data, func(error) {})
		return err
	}
	steps := []struct {
		q    *queue
		s    *streamq
		data string
		err  string
	}{
		{a, as, "aaaa", ""},
		{b, bs, "bbbb", ""},
		{a, as, "cccc", ""},                       // drops a's aaaa
		{a, as, "ddddddddddd", "no buffer space"}, // larger than the cap
		{a, as, "dddddddd", "no buffer space"},    // b's bytes are not a's to drop
		{b, bs, "eeee", ""},
	}
	for i, s := range steps {
		err := write(s.q, s.s, s.data)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != s.err {
			t.Errorf("step %d: write %q: error %q, want %q", i, s.data, got, s.err)
		}
		if st.total > st.cap {
			t.Errorf("step %d: total %d over cap %d", i, st.total, st.cap)
		}
	}
	if a.bytes != 4 || b.bytes != 4 || st.total != 8 {
		t.Errorf("held a=%d b=%d total=%d, want 4 4 8", a.bytes, b.bytes, st.total)
	}
}

// SPEC §5.3: wait modes.
func TestWait(t *testing.T) {
	type event string
	tests := []struct {
		wait    string
		readers int
		want    []event
	}{
		{"off", 1, []event{"write returns", "write answered", "reading 0"}},
		{"one", 0, []event{"write returns"}},
		{"one", 2, []event{"write returns", "reading 0", "write answered", "reading 1"}},
		{"all", 0, []event{"write returns", "write answered"}},
		{"all", 2, []event{"write returns", "reading 0", "reading 1", "write answered"}},
	}
	for _, tt := range tests {
		x := newQtest(t, "wait "+tt.wait, 1<<20, "s")
		var rs []*reader
		for i := 0; i < tt.readers; i++ {
			rs = append(rs, x.open("s"))
		}
		var got []event
		w, err := x.q.write(x.s["s"], "s", "m", func(err error) {
			got = append(got, "write answered")
		})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, "write returns")
		if w == nil {
			got = append(got, "write answered")
		}
		for i, r := range rs {
			got = append(got, event(fmt.Sprint("reading ", i)))
			if a := x.read(r, 100); a != "m" {
				t.Errorf("wait %s: reader %d got %q", tt.wait, i, a)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("wait %s with %d readers (-want +got):\n%s", tt.wait, tt.readers, diff)
		}
	}
}

// SPEC §5.3: a waiting write is answered once its readers have
// received the message: after the Rread that gives it, never before,
// whether the readers were waiting for it or read it later.
func TestWaitAnsweredAfterRead(t *testing.T) {
	tests := []struct {
		wait   string
		parked bool // the readers' reads wait for the write
		want   []string
	}{
		{"one", true, []string{"read 0: m", "write answered", "read 1: m", "write returns"}},
		{"all", true, []string{"read 0: m", "read 1: m", "write answered", "write returns"}},
		{"one", false, []string{"write returns", "read 0: m", "write answered", "read 1: m"}},
		{"all", false, []string{"write returns", "read 0: m", "read 1: m", "write answered"}},
	}
	for _, tt := range tests {
		x := newQtest(t, "wait "+tt.wait, 1<<20, "s")
		var got []string
		rs := []*reader{x.open("s"), x.open("s")}
		read := func(i int) {
			readAt(x.q, rs[i], 0, 100, func(data string, err error) {
				got = append(got, fmt.Sprintf("read %d: %s", i, data))
			})
		}
		if tt.parked {
			read(0)
			read(1)
		}
		_, err := x.q.write(x.s["s"], "s", "m", func(error) { got = append(got, "write answered") })
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, "write returns")
		if !tt.parked {
			read(0)
			read(1)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("wait %s, reads parked %v (-want +got):\n%s", tt.wait, tt.parked, diff)
		}
	}
}

// SPEC §5.3: a waiting write whose message leaves the history first
// fails; a reader going away counts as having got it under wait all.
func TestWaitDroppedOrGone(t *testing.T) {
	x := newQtest(t, "wait all\nreplay all", 1<<20, "s")
	r1, r2 := x.open("s"), x.open("s")
	var got []string
	answer := func(err error) { got = append(got, fmt.Sprint(err)) }
	x.q.write(x.s["s"], "s", "one", answer)
	x.read(r1, 100)
	x.q.close(r2, nil)
	x.q.write(x.s["s"], "s", "two", answer)
	x.ctl("clear")
	want := []string{"<nil>", "message dropped unread"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

// SPEC §4.2: eof gives readers open now one end of file after what was
// written before it; later readers never see it.
func TestEOF(t *testing.T) {
	x := newQtest(t, "replay all", 1<<20, "s", "t")
	r, o, rt := x.open("s"), x.open("order"), x.open("t")
	x.write("s", "before")
	x.ctl("eof s")
	x.write("s", "after")
	late := x.open("s")
	want := []answer{"before", "EOF", "after"}
	if diff := cmp.Diff(want, x.readAll(r, 100)); diff != "" {
		t.Errorf("reader open at eof (-want +got):\n%s", diff)
	}
	want = []answer{"before", "after"}
	if diff := cmp.Diff(want, x.readAll(late, 100)); diff != "" {
		t.Errorf("later reader (-want +got):\n%s", diff)
	}
	if got := x.readAll(rt, 100); got != nil {
		t.Errorf("reader of another stream got %q", got)
	}
	if diff := cmp.Diff([]answer{"s\n", "s\n"}, x.readAll(o, 100)); diff != "" {
		t.Errorf("order reader (-want +got):\n%s", diff)
	}
	// A parked reader gets its end of file at once.
	if a := x.read(rt, 100); a != "parked" {
		t.Fatalf("read = %q, want parked", a)
	}
	x.ctl("eof")
	if len(rt.parked) != 0 {
		t.Errorf("eof left a parked reader waiting")
	}
}

// SPEC §6.2: a message longer than the read comes over several reads,
// and eof waits for its end; coalesce stops at an eof.
func TestEOFAfterPartialRead(t *testing.T) {
	x := newQtest(t, "data coalesce", 1<<20, "s")
	r := x.open("s")
	x.write("s", "abcdef")
	if a := x.read(r, 2); a != "ab" {
		t.Fatalf("read = %q", a)
	}
	x.ctl("eof s")
	x.write("s", "gh")
	want := []answer{"cdef", "EOF", "gh"}
	if diff := cmp.Diff(want, x.readAll(r, 100)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// SPEC §4.2, §4.3: clear drops the history and moves readers to its end.
func TestClear(t *testing.T) {
	x := newQtest(t, "replay all", 1<<20, "s")
	r := x.open("s")
	x.write("s", "a", "b")
	x.ctl("clear")
	if x.q.count != 0 || x.s["s"].bytes != 0 || x.st.total != 0 {
		t.Errorf("after clear: count %d bytes %d total %d", x.q.count, x.s["s"].bytes, x.st.total)
	}
	x.write("s", "c")
	if diff := cmp.Diff([]answer{"c"}, x.readAll(r, 100)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// SPEC §4.3: a replay mode that keeps less trims at once; readers keep
// their positions.
func TestReplayChangeTrims(t *testing.T) {
	x := newQtest(t, "replay all", 1<<20, "s")
	x.write("s", "a", "b")
	r := x.open("s")
	x.read(r, 100)
	x.write("s", "c")
	x.ctl("replay last")
	if got := x.s["s"].bytes; got != 2 {
		t.Errorf("replay last kept %d bytes, want 2 (b unread, c newest)", got)
	}
	x.ctl("replay off")
	if diff := cmp.Diff([]answer{"b", "c"}, x.readAll(r, 100)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if x.q.count != 0 {
		t.Errorf("replay off kept %d messages no one will read", x.q.count)
	}
}

// SPEC §3.5: removing a stream ends its readers' files and takes its
// messages out of order.
func TestRemoveStream(t *testing.T) {
	x := newQtest(t, "replay all", 1<<20, "s", "t")
	r, o := x.open("s"), x.open("order")
	x.write("s", "s1")
	x.write("t", "t1")
	if a := x.read(r, 100); a != "s1" {
		t.Fatal(a)
	}
	if a := x.read(r, 100); a != "parked" {
		t.Fatal(a)
	}
	x.q.removeStream(x.s["s"])
	if len(r.parked) != 0 {
		t.Errorf("parked reader not woken by remove")
	}
	want := []answer{"EOF", "EOF"}
	if diff := cmp.Diff(want, []answer{x.read(r, 100), x.read(r, 100)}); diff != "" {
		t.Errorf("reads after remove (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]answer{"t\n"}, x.readAll(o, 100)); diff != "" {
		t.Errorf("order after remove (-want +got):\n%s", diff)
	}
}

// SPEC §3.5: once its stream is removed, every read of a reader gets
// end of file, whatever it had not yet read: half a message, messages
// dropped before it read them, or messages still to come.
func TestRemoveStreamEndsReaders(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string
		setup func(x *qtest, r *reader)
	}{
		{"half a message read", "replay all", func(x *qtest, r *reader) {
			x.write("s", "hello")
			x.read(r, 2)
		}},
		{"messages unread", "replay all", func(x *qtest, r *reader) {
			x.write("s", "one", "two")
		}},
		{"fell behind", "replay all\ndepth 1", func(x *qtest, r *reader) {
			x.write("s", "one", "two")
		}},
		{"half read, then fell behind", "replay all\ndepth 1", func(x *qtest, r *reader) {
			x.write("s", "hello")
			x.read(r, 2)
			x.write("s", "two")
		}},
	}
	for _, tt := range tests {
		x := newQtest(t, tt.cfg, 1<<20, "s")
		r := x.open("s")
		tt.setup(x, r)
		x.q.removeStream(x.s["s"])
		want := []answer{"EOF", "EOF"}
		if diff := cmp.Diff(want, []answer{x.read(r, 100), x.read(r, 100)}); diff != "" {
			t.Errorf("%s: reads after remove (-want +got):\n%s", tt.name, diff)
		}
	}
}

// SPEC §5.1, §6.3, §7.1: order lists exactly the writes, in order, and
// every reader with replay all sees the same window.
func TestOrderMatchesWrites(t *testing.T) {
	x := newQtest(t, "replay all\ndepth 50", 1<<20, "fd0", "fd1", "fd2")
	var want []string
	for i := 0; i < 120; i++ {
		name := []string{"fd1", "fd2", "fd1", "fd0"}[i%4]
		x.write(name, fmt.Sprintf("%s-%d", name, i))
		want = append(want, fmt.Sprintf("%s-%d", name, i))
	}
	want = want[len(want)-50:]
	o := x.open("order")
	readers := map[string]*reader{}
	for name := range x.s {
		readers[name] = x.open(name)
	}
	var got []string
	for _, a := range x.readAll(o, 100) {
		name := strings.TrimSuffix(string(a), "\n")
		got = append(got, string(x.read(readers[name], 100)))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history via order (-want +got):\n%s", diff)
	}
}

// SPEC §6.2: static never blocks, so reads parked before the group
// turned static are answered as static reads.
func TestStaticWakesParked(t *testing.T) {
	x := newQtest(t, "replay all", 1<<20, "s")
	x.write("s", "abc")
	r := x.open("s")
	x.readAll(r, 100)
	var got []string
	readAt(x.q, r, 1, 100, func(d string, err error) { got = append(got, fmt.Sprintf("%q %v", d, err)) })
	x.ctl("data static")
	if diff := cmp.Diff([]string{`"bc" <nil>`}, got); diff != "" || len(r.parked) != 0 {
		t.Errorf("parked read after data static (-want +got):\n%s", diff)
	}
}

// SPEC §5.3: with replay last too, a reader that comes while wait one
// writes wait starts at the oldest of them, so each is answered.
func TestWaitOneReplayLast(t *testing.T) {
	x := newQtest(t, "replay last\nwait one", 1<<20, "s")
	answered := 0
	for _, m := range []string{"one", "two"} {
		if _, err := x.q.write(x.s["s"], "s", m, func(error) { answered++ }); err != nil {
			t.Fatal(err)
		}
	}
	r := x.open("s")
	if diff := cmp.Diff([]answer{"one", "two"}, x.readAll(r, 100)); diff != "" || answered != 2 {
		t.Errorf("answered %d of 2; reads (-want +got):\n%s", answered, diff)
	}
}

// SPEC §11.2, §11.5: restore puts a message read back in the same place
// whatever hint it is given: a message still before it, or one that is
// gone, after it, of another stream or of another group, which it must
// pass over. Messages come in runs of ascending seq, as carried forward,
// with duplicates, and some are dropped between runs.
func TestRestoreHint(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 200 {
		st := &store{cap: 1 << 30}
		plain, hinted, other := newQueue(st, config{}), newQueue(st, config{}), newQueue(st, config{})
		ps := []*streamq{plain.newStream(), plain.newStream()}
		hs := []*streamq{hinted.newStream(), hinted.newStream()}
		ost := other.newStream()
		var seen []*message // every message of hinted, other's too, gone or not
		for i := range 20 {
			seen = append(seen, other.restore(ost, uint64(i+1), "o", "o", nil))
		}
		pick := func() *message {
			if rng.IntN(4) == 0 {
				return nil
			}
			return seen[rng.IntN(len(seen))]
		}
		var h restoreHint
		for range 1 + rng.IntN(8) {
			seq := uint64(1 + rng.IntN(60))
			for range 1 + rng.IntN(10) {
				i := rng.IntN(2)
				name := fmt.Sprint("s", i)
				data := fmt.Sprint(seq)
				a := plain.restore(ps[i], seq, name, data, nil)
				h.g, h.s = pick(), pick()
				b := hinted.restore(hs[i], seq, name, data, &h)
				if (a == nil) != (b == nil) {
					t.Fatalf("round %d: restore of seq %d: %v without a hint, %v with one", round, seq, a != nil, b != nil)
				}
				if b != nil {
					seen = append(seen, b)
				}
				seq += uint64(1 + rng.IntN(3))
			}
			if rng.IntN(2) == 0 && plain.head != nil {
				// Drop the same message from both.
				k := rng.IntN(plain.count)
				a, b := plain.head, hinted.head
				for range k {
					a, b = a.gnext, b.gnext
				}
				plain.drop(a, false)
				hinted.drop(b, false)
			}
		}
		if diff := cmp.Diff(restoredOrder(plain), restoredOrder(hinted)); diff != "" {
			t.Fatalf("round %d: with hints (-without +with):\n%s", round, diff)
		}
	}
}

// restoredOrder is q's history and each stream's, as seqs and data,
// checked for links that disagree.
func restoredOrder(q *queue) []string {
	var out []string
	var prev *message
	for m := q.head; m != nil; m = m.gnext {
		if m.gprev != prev {
			out = append(out, "bad gprev")
		}
		out = append(out, fmt.Sprintf("%d %s %q", m.seq, m.from.line, m.data))
		prev = m
	}
	if q.tail != prev {
		out = append(out, "bad tail")
	}
	for i, s := range q.streams {
		var last *message
		for m := s.head; m != nil; m = m.snext {
			out = append(out, fmt.Sprintf("stream %d: %d", i, m.seq))
			last = m
		}
		if s.tail != last {
			out = append(out, "bad stream tail")
		}
	}
	out = append(out, fmt.Sprintf("count %d bytes %d", q.count, q.bytes))
	return out
}
