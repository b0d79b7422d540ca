//go:build !plan9

package test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/google/go-cmp/cmp"
)

// makeGroup makes group name with replay all and the given streams.
func makeGroup(t *testing.T, fs *client.Fsys, name string, streams ...string) map[string]*client.Fid {
	t.Helper()
	d, err := fs.Create(name, plan9.OREAD, plan9.DMDIR|0775)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	writeFile(t, fs, name+"/ctl", "replay all\n")
	fids := map[string]*client.Fid{}
	for _, s := range streams {
		f, err := fs.Create(name+"/"+s, plan9.OWRITE, 0664)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fids[s] = f
	}
	return fids
}

// removeGroup removes a group's streams, then the group (SPEC §3.5).
func removeGroup(t *testing.T, fs *client.Fsys, name string, streams ...string) {
	t.Helper()
	for _, s := range streams {
		if err := fs.Remove(name + "/" + s); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Remove(name); err != nil {
		t.Fatal(err)
	}
}

type msg struct{ stream, data string }

// render is what mq-cat prints for msgs, with or without -p.
func render(msgs []msg, prefix bool, only ...string) string {
	var b strings.Builder
	for _, m := range msgs {
		if len(only) > 0 && !contains(only, m.stream) {
			continue
		}
		if prefix {
			b.WriteString(m.stream + ": ")
		}
		b.WriteString(m.data)
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mq-cat prints two interleaved streams in exactly the order written,
// messages written before it started and while it runs, across an
// eof written to ctl, and exits 0 when the group is removed (SPEC §9,
// §6.3, §4.2, §3.5).
func TestMQCatOrder(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		prefix bool
		only   []string
	}{
		{"plain", nil, false, nil},
		{"prefixed", []string{"-p"}, true, nil},
		{"one stream named", []string{"-p"}, true, []string{"b"}},
		{"both named", nil, false, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startMQ(t)
			fs := s.attach(t, owner(t), "")
			fids := makeGroup(t, fs, "g", "a", "b")
			var msgs []msg
			send := func(stream, data string) {
				t.Helper()
				if _, err := fids[stream].Write([]byte(data)); err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, msg{stream, data})
			}
			// Before mq-cat starts: an irregular interleaving, with
			// messages that are not lines.
			for i := range 20 {
				send([]string{"a", "b", "b", "a", "a"}[i%5], fmt.Sprintf("m%d", i))
				if i%7 == 0 {
					send("b", fmt.Sprintf("line %d\n", i))
				}
			}
			args := append(append([]string{"-s", s.name}, tt.args...), "g")
			p := startProc(t, s.ns, bin("mq-cat"), append(args, tt.only...)...)
			p.waitFor(t, render(msgs, tt.prefix, tt.only...))

			// While it runs, with an eof on every stream between.
			writeFile(t, fs, "g/ctl", "eof\n")
			for i := range 10 {
				send([]string{"b", "a"}[i%2], fmt.Sprintf("live %d\n", i))
			}
			want := render(msgs, tt.prefix, tt.only...)
			p.waitFor(t, want)
			removeGroup(t, fs, "g", "a", "b")
			out, code := p.wait(t)
			if code != 0 {
				t.Errorf("mq-cat exit %d after the group was removed, want 0; output:\n%s", code, out)
			}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("mq-cat %s output (-want +got):\n%s", strings.Join(args, " "), diff)
			}
		})
	}
}

// With replay last, order starts at the group's newest entry and each
// stream at its own newest message; mq-cat starts them together, at
// that entry, and follows in order from there (SPEC §6.1, §9).
func TestMQCatReplayLast(t *testing.T) {
	s := startMQ(t)
	fs := s.attach(t, owner(t), "")
	fids := makeGroup(t, fs, "g", "a", "b")
	writeFile(t, fs, "g/ctl", "replay last\n")
	for _, m := range []msg{{"a", "a1\n"}, {"b", "b1\n"}, {"a", "a2\n"}} {
		if _, err := fids[m.stream].Write([]byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	p := startProc(t, s.ns, bin("mq-cat"), "-p", "-s", s.name, "g")
	p.waitFor(t, "a: a2\n")
	for _, m := range []msg{{"b", "b2\n"}, {"a", "a3\n"}, {"b", "b3\n"}} {
		if _, err := fids[m.stream].Write([]byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	want := "a: a2\nb: b2\na: a3\nb: b3\n"
	p.waitFor(t, "b: b3\n")
	removeGroup(t, fs, "g", "a", "b")
	if out, code := p.wait(t); code != 0 || out != want {
		t.Errorf("mq-cat -p of a replay last group: exit %d, output %q; want 0, %q", code, out, want)
	}
}

// A stream named twice is printed once and read by one reader: under
// replay off what mq-cat has printed leaves the history, and no reader
// that never reads holds it back (SPEC §9, §7.2).
func TestMQCatStreamNamedTwice(t *testing.T) {
	s := startMQ(t)
	fs := s.attach(t, owner(t), "")
	fids := makeGroup(t, fs, "g", "a", "b")
	if _, err := fids["a"].Write([]byte("ready\n")); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, s.ns, bin("mq-cat"), "-s", s.name, "g", "a", "a")
	p.waitFor(t, "ready\n")
	writeFile(t, fs, "g/ctl", "replay off\n")
	var want string
	for _, m := range []string{"a1\n", "a2\n", "a3\n"} {
		if _, err := fids["a"].Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		want += m
	}
	p.waitFor(t, want)
	d, err := fs.Stat("g/a")
	if err != nil {
		t.Fatal(err)
	}
	if d.Length != 0 {
		t.Errorf("g/a holds %d bytes once mq-cat g a a printed them, want 0", d.Length)
	}
	removeGroup(t, fs, "g", "a", "b")
	out, code := p.wait(t)
	if want = "ready\n" + want; code != 0 || out != want {
		t.Errorf("mq-cat g a a: exit %d, output %q; want 0, %q", code, out, want)
	}
}

// A message longer than an 8K read (Plan 9 cat's buffer) prints whole,
// and so does one of exactly the connection's iounit followed at once
// by another on the same stream: one message is one read of the
// largest count the connection carries (SPEC §6.2, §9).
func TestMQCatLongMessages(t *testing.T) {
	s := startMQ(t)
	fs := s.attach(t, owner(t), "")
	fids := makeGroup(t, fs, "g", "a", "b")
	// The 9fans client asks msize 128K; mq grants it, so its
	// iounit is 128K-24 and no write of it is split.
	iounit := 128<<10 - plan9.IOHDRSZ
	msgs := []msg{
		{"a", "short\n"},
		{"b", strings.Repeat("0123456789", 10000)},
		{"a", strings.Repeat("x", iounit)},
		{"a", "after the full one\n"},
		{"b", "end\n"},
	}
	for _, m := range msgs {
		if n, err := fids[m.stream].Write([]byte(m.data)); err != nil || n != len(m.data) {
			t.Fatalf("write %d bytes to %s: %d, %v", len(m.data), m.stream, n, err)
		}
	}
	p := startProc(t, s.ns, bin("mq-cat"), "-p", "-s", s.name, "g")
	want := render(msgs, true)
	p.waitFor(t, want)
	removeGroup(t, fs, "g", "a", "b")
	out, code := p.wait(t)
	if code != 0 || out != want {
		t.Errorf("mq-cat -p exit %d, output %d bytes; want exit 0 and %d bytes:\n%s", code, len(out), len(want), firstDiff(want, out))
	}
}

// firstDiff shows where two long texts part.
func firstDiff(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	clip := func(s string) string {
		s = s[i:]
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("at byte %d: want %s, got %s", i, clip(want), clip(got))
}

// Errors are reported as mq-cat: ..., with a non-zero exit (SPEC §9).
func TestMQCatErrors(t *testing.T) {
	s := startMQ(t)
	fs := s.attach(t, owner(t), "")
	makeGroup(t, fs, "g", "a")
	makeGroup(t, fs, "st", "a")
	writeFile(t, fs, "st/ctl", "data static\n")
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage: mq-cat [-p] [-s srv] group [stream ...]\n"},
		{[]string{"-x", "g"}, "usage: mq-cat [-p] [-s srv] group [stream ...]\n"},
		{[]string{"-s", s.name, "nosuch"}, "mq-cat: nosuch: file does not exist\n"},
		{[]string{"-s", s.name, "g", "nosuch"}, "mq-cat: g/nosuch: file does not exist\n"},
		{[]string{"-s", s.name, "st"}, "mq-cat: st: data mode is static, not message\n"},
		{[]string{"-s", "nosrv", "g"}, "mq-cat: nosrv: dial unix " + s.ns + "/nosrv: connect: no such file or directory\n"},
		{[]string{s.ns + "/not-mounted"}, "mq-cat: " + s.ns + "/not-mounted: no such file or directory\n"},
	}
	for _, tt := range tests {
		out, code := runProc(t, s.ns, "", bin("mq-cat"), tt.args...)
		if code == 0 || out != tt.want {
			t.Errorf("mq-cat %q: exit %d, output %q; want non-zero and %q", tt.args, code, out, tt.want)
		}
	}
}

// When the service goes away under it, whether it exits or is killed,
// mq-cat says so and exits non-zero: only the group's removal is a
// normal end (SPEC §9).
func TestMQCatServiceGone(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startMQ(t)
			fs := s.attach(t, owner(t), "")
			fids := makeGroup(t, fs, "g", "a")
			if _, err := fids["a"].Write([]byte("first\n")); err != nil {
				t.Fatal(err)
			}
			p := startProc(t, s.ns, bin("mq-cat"), "-s", s.name, "g")
			p.waitFor(t, "first\n") // following the group
			s.cmd.Process.Signal(sig)
			out, code := p.wait(t)
			if want := "first\nmq-cat: g: i/o on hungup channel\n"; code == 0 || out != want {
				t.Errorf("mq-cat when mq gets %v: exit %d, output %q; want non-zero, %q", sig, code, out, want)
			}
		})
	}
}
