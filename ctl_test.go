package main

// SPEC §4: ctl's read and write formats, all or nothing, and changes
// that apply at once.

import (
	"fmt"
	"strings"
	"testing"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

const defaultCtl = "data message\nreplay off\ndepth 0\nwait off\n"

// ctlSession is glenda's session on a fresh tree with group g holding
// streams s and t.
func ctlSession(t *testing.T) *testConn {
	t.Helper()
	tc := session(t, newTestTree(t), "glenda")
	mustOK(t, "mkdir g", tc.create("g", plan9.DMDIR|0775))
	mustOK(t, "touch g/s", tc.create("g/s", 0664))
	mustOK(t, "touch g/t", tc.create("g/t", 0664))
	return tc
}

// TestCtlRead checks the text ctl reads by default (SPEC §4.1).
func TestCtlRead(t *testing.T) {
	tc := ctlSession(t)
	for _, p := range []string{"ctl", "g/ctl"} {
		if got := tc.get(p); got != defaultCtl {
			t.Errorf("%s reads %q, want %q", p, got, defaultCtl)
		}
	}
	// Read at offsets, a byte at a time, as a file.
	mustOK(t, "open", tc.openAt(1, "g/ctl", plan9.OREAD))
	var b []byte
	for {
		r := tc.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 1, Offset: uint64(len(b)), Count: 1})
		if r.Type != plan9.Rread || len(r.Data) > 1 {
			t.Fatalf("read at %d: %v", len(b), r)
		}
		if len(r.Data) == 0 {
			break
		}
		b = append(b, r.Data...)
	}
	if string(b) != defaultCtl {
		t.Errorf("byte-wise read %q, want %q", b, defaultCtl)
	}
}

// TestCtlDepthForms checks that depth reads back in its shortest exact
// form (SPEC §4.1).
func TestCtlDepthForms(t *testing.T) {
	tests := []struct{ write, read string }{
		{"depth 100", "depth 100"},
		{"depth 1", "depth 1"},
		{"depth 64K", "depth 64K"},
		{"depth 100b", "depth 100b"},
		{"depth 0", "depth 0"},
		{"depth 0b", "depth 0"},
		{"depth 0K", "depth 0"},
		{"depth 0M", "depth 0"},
		{"depth 0G", "depth 0"},
		{"depth 1b", "depth 1b"},
		{"depth 1024b", "depth 1K"},
		{"depth 1536b", "depth 1536b"},
		{"depth 65536b", "depth 64K"},
		{"depth 1024K", "depth 1M"},
		{"depth 1536K", "depth 1536K"},
		{"depth 2048M", "depth 2G"},
		{"depth 3G", "depth 3G"},
		{"depth 1048576", "depth 1048576"},
	}
	tc := ctlSession(t)
	for _, tt := range tests {
		mustOK(t, tt.write, tc.put("g/ctl", tt.write))
		want := strings.Replace(defaultCtl, "depth 0", tt.read, 1)
		if got := tc.get("g/ctl"); got != want {
			t.Errorf("after %q ctl reads %q, want %q", tt.write, got, want)
		}
	}
}

// TestCtlRoundTrip checks that what ctl reads, written to another
// group's ctl, gives it the same configuration: cat a/ctl >b/ctl
// (SPEC §4.1). It also checks every setting reads back as written.
func TestCtlRoundTrip(t *testing.T) {
	tc := ctlSession(t)
	mustOK(t, "mkdir b", tc.create("b", plan9.DMDIR|0775))
	for _, data := range []string{"message", "coalesce", "static"} {
		for _, replay := range []string{"off", "last", "all"} {
			for _, wait := range []string{"off", "one", "all"} {
				for _, depth := range []string{"0", "7", "100b", "64K", "5M", "1G"} {
					text := fmt.Sprintf("data %s\nreplay %s\ndepth %s\nwait %s\n", data, replay, depth, wait)
					mustOK(t, "set g", tc.put("g/ctl", text))
					got := tc.get("g/ctl")
					if got != text {
						t.Errorf("after writing %q, ctl reads %q", text, got)
					}
					// cat g/ctl >b/ctl: a single write of what was read.
					mustOK(t, "cat g/ctl >b/ctl", tc.put("b/ctl", got))
					if b := tc.get("b/ctl"); b != text {
						t.Errorf("b/ctl reads %q after copying %q", b, text)
					}
				}
			}
		}
	}
}

// TestCtlWrite checks writes of one or more commands (SPEC §4.2).
func TestCtlWrite(t *testing.T) {
	tests := []struct{ write, read string }{
		{"data coalesce", "data coalesce\nreplay off\ndepth 0\nwait off\n"},
		{"data coalesce\n", "data coalesce\nreplay off\ndepth 0\nwait off\n"},
		{"replay all\nwait one", "data message\nreplay all\ndepth 0\nwait one\n"},
		{"depth 5\ndepth 7\n", "data message\nreplay off\ndepth 7\nwait off\n"},
		{"\n\n  data   static  \n\nreplay last\n", "data static\nreplay last\ndepth 0\nwait off\n"},
		{"wait all\nclear\neof\neof s\n", "data message\nreplay off\ndepth 0\nwait all\n"},
		{"", defaultCtl},
	}
	for _, tt := range tests {
		tc := ctlSession(t)
		mustOK(t, fmt.Sprintf("write %q", tt.write), tc.put("g/ctl", tt.write))
		if got := tc.get("g/ctl"); got != tt.read {
			t.Errorf("after %q ctl reads %q, want %q", tt.write, got, tt.read)
		}
		if got := tc.get("ctl"); got != defaultCtl {
			t.Errorf("after %q to g/ctl the root's reads %q", tt.write, got)
		}
	}
}

// TestCtlErrors checks that a bad write changes nothing and names the
// bad line (SPEC §4.2).
func TestCtlErrors(t *testing.T) {
	const (
		dataUsage   = "usage: data message|coalesce|static"
		replayUsage = "usage: replay off|last|all"
		depthUsage  = "usage: depth count|size"
		waitUsage   = "usage: wait off|one|all"
	)
	tests := []struct{ write, err string }{
		{"frob", `unknown control message "frob"`},
		{"data", dataUsage},
		{"data foo", dataUsage},
		{"data message coalesce", dataUsage},
		{"data Message", dataUsage},
		{"replay", replayUsage},
		{"replay some", replayUsage},
		{"replay all now", replayUsage},
		{"depth", depthUsage},
		{"depth -1", depthUsage},
		{"depth 1.5", depthUsage},
		{"depth 10k", depthUsage},
		{"depth 10T", depthUsage},
		{"depth K", depthUsage},
		{"depth b", depthUsage},
		{"depth -1K", depthUsage},
		{"depth 99999999999999999999", depthUsage},
		{"depth 99999999999G", depthUsage},
		{"depth 5 6", depthUsage},
		// A count or size has no sign.
		{"depth +5", depthUsage},
		{"depth -0", depthUsage},
		{"depth +5K", depthUsage},
		{"depth -0K", depthUsage},
		{"depth -0b", depthUsage},
		{"wait", waitUsage},
		{"wait some", waitUsage},
		{"clear now", "usage: clear"},
		{"eof s t", "usage: eof [stream]"},
		{"eof nosuch", "file does not exist"},
		{"eof order", "file does not exist"},
		{"eof ctl", "file does not exist"},
		{"eof h", "file does not exist"}, // a group, not a stream
		// All or nothing: the good lines before a bad one do not apply.
		{"data static\nfrob", `unknown control message "frob"`},
		{"data static\nreplay all\ndepth x\n", depthUsage},
		{"replay all\nclear\nwait sometimes", waitUsage},
		{"data coalesce\neof nosuch", "file does not exist"},
		{"depth 1\nfrob\ndepth 2", `unknown control message "frob"`},
		// The error names the first bad line.
		{"eof nosuch\nfrob", "file does not exist"},
		{"eof nosuch\ndepth x", "file does not exist"},
		{"frob\neof nosuch", `unknown control message "frob"`},
		{"depth x\neof nosuch", depthUsage},
	}
	tc := ctlSession(t)
	mustOK(t, "mkdir g/h", tc.create("g/h", plan9.DMDIR|0775))
	// A history, a reader behind it, and a parked reader, which a bad
	// write must not disturb.
	const before = "data message\nreplay all\ndepth 0\nwait off\n"
	mustOK(t, "replay all", tc.put("g/ctl", "replay all"))
	for _, m := range []string{"one", "two", "three"} {
		mustOK(t, "write", tc.put("g/s", m))
	}
	mustOK(t, "open reader", tc.openAt(1, "g/s", plan9.OREAD))
	mustOK(t, "open parked", tc.openAt(2, "g/t", plan9.OREAD))
	tc.send(&plan9.Fcall{Type: plan9.Tread, Tag: 50, Fid: 2, Count: 100})
	for _, tt := range tests {
		if got := tc.put("g/ctl", tt.write); got != tt.err {
			t.Errorf("write %q: %q, want %q", tt.write, got, tt.err)
		}
		if got := tc.get("g/ctl"); got != before {
			t.Errorf("after the bad write %q ctl reads %q, want %q", tt.write, got, before)
		}
		if got := tc.statAt("g/s").Length; got != 11 {
			t.Errorf("after the bad write %q g/s holds %d bytes, want 11", tt.write, got)
		}
	}
	tc.sync() // the parked read is still parked
	r := tc.rpc(&plan9.Fcall{Type: plan9.Tread, Tag: 1, Fid: 1, Count: 100})
	if r.Type != plan9.Rread || string(r.Data) != "one" {
		t.Errorf("reader after the bad writes: %v, want one", r)
	}
}

// TestCtlPermission checks that only users with write permission on
// ctl may write it, and any reader may read it (SPEC §4.3).
func TestCtlPermission(t *testing.T) {
	tr := usersTree(t, "1:glenda:glenda:ann\n")
	glenda := session(t, tr, "glenda")
	mustOK(t, "mkdir g", glenda.create("g", plan9.DMDIR|0775))
	bob := session(t, tr, "bob")
	if got := bob.put("g/ctl", "replay all"); got != "permission denied" {
		t.Errorf("bob writing g/ctl: %q, want permission denied", got)
	}
	if got := bob.get("g/ctl"); got != defaultCtl {
		t.Errorf("bob reads g/ctl %q, want %q", got, defaultCtl)
	}
	d := nulldir()
	d.Mtime = 1
	mustOK(t, "touch g/ctl", glenda.wstatAt("g/ctl", d))
	ann := session(t, tr, "ann")
	mustOK(t, "ann writing g/ctl", ann.put("g/ctl", "replay all"))
	if got := bob.get("g/ctl"); !strings.Contains(got, "replay all") {
		t.Errorf("after ann's write g/ctl reads %q", got)
	}
	// A write to ctl is a write like any other (SPEC §3.4).
	if d := bob.statAt("g/ctl"); d.Muid != "ann" || d.Mtime == 1 {
		t.Errorf("after ann's write g/ctl has muid %q mtime %d; want muid ann and a new mtime", d.Muid, d.Mtime)
	}
}

// TestCtlInherit checks that a new group copies its parent's
// configuration when it is made, and only then (SPEC §3.2).
func TestCtlInherit(t *testing.T) {
	tc := session(t, newTestTree(t), "glenda")
	rootCfg := "data coalesce\nreplay all\ndepth 64K\nwait one\n"
	mustOK(t, "root ctl", tc.put("ctl", rootCfg))
	mustOK(t, "mkdir a", tc.create("a", plan9.DMDIR|0775))
	mustOK(t, "mkdir a/b", tc.create("a/b", plan9.DMDIR|0775))
	mustOK(t, "root ctl", tc.put("ctl", "replay off\ndepth 0"))
	mustOK(t, "a/ctl", tc.put("a/ctl", "data static"))
	mustOK(t, "mkdir a/c", tc.create("a/c", plan9.DMDIR|0775))
	mustOK(t, "mkdir d", tc.create("d", plan9.DMDIR|0775))
	want := map[string]string{
		"ctl":     "data coalesce\nreplay off\ndepth 0\nwait one\n",
		"a/ctl":   "data static\nreplay all\ndepth 64K\nwait one\n",
		"a/b/ctl": rootCfg,
		"a/c/ctl": "data static\nreplay all\ndepth 64K\nwait one\n",
		"d/ctl":   "data coalesce\nreplay off\ndepth 0\nwait one\n",
	}
	got := map[string]string{}
	for p := range want {
		got[p] = tc.get(p)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ctl texts (-want +got):\n%s", diff)
	}
}

// TestCtlAtOnce checks that depth and replay changes trim the history
// at once while readers keep their places, and that clear moves every
// reader to the end without error (SPEC §4.3).
func TestCtlAtOnce(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Twrite tag 1 fid 3 data 'replay all'
Rwrite tag 1 count 10
Twrite tag 1 fid 2 data m1
Rwrite tag 1 count 2
Twrite tag 1 fid 2 data m2
Rwrite tag 1 count 2
Twrite tag 1 fid 2 data m3
Rwrite tag 1 count 2
Twrite tag 1 fid 2 data m4
Rwrite tag 1 count 2
Twrite tag 1 fid 2 data m5
Rwrite tag 1 count 2
# A reader that has read three messages.
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
Tread tag 1 fid 4 count 100
Rread tag 1 data m1
Tread tag 1 fid 4 count 100
Rread tag 1 data m2
Tread tag 1 fid 4 count 100
Rread tag 1 data m3
Twrite tag 1 fid 3 data 'depth 2'
Rwrite tag 1 count 7
`)
	if got := tc.stat(2).Length; got != 4 {
		t.Errorf("after depth 2, s holds %d bytes, want 4", got)
	}
	tc.run(`
# It keeps its place; a new reader starts at the oldest kept.
Tread tag 1 fid 4 count 100
Rread tag 1 data m4
Twalk fid 0 newfid 5 wname [g s]
Rwalk ...
Topen fid 5 mode OREAD
Ropen ...
Tread tag 1 fid 5 count 100
Rread tag 1 data m4
Twrite tag 1 fid 3 data 'depth 3b'
Rwrite tag 1 count 8
`)
	if got := tc.stat(2).Length; got != 2 {
		t.Errorf("after depth 3b, s holds %d bytes, want 2", got)
	}
	tc.run(`
Tread tag 1 fid 4 count 100
Rread tag 1 data m5
Twrite tag 1 fid 3 data clear
Rwrite tag 1 count 5
`)
	if got := tc.stat(2).Length; got != 0 {
		t.Errorf("after clear, s holds %d bytes, want 0", got)
	}
	// Fid 5 had m5 still to read: clear moves it to the end, without
	// error; both readers wait for what comes next.
	tc.run(`
Tread tag 10 fid 5 count 100
Tread tag 11 fid 4 count 100
Twrite tag 1 fid 2 data m6
Rwrite tag 1 count 2
Rread tag 10 data m6
Rread tag 11 data m6
`)
}

// TestCtlEOF checks eof over 9P: readers open now get one 0-byte read
// after what was written before, then read on; order readers and later
// readers never see it (SPEC §4.2).
func TestCtlEOF(t *testing.T) {
	dialTest(t, newTestTree(t)).run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
Twalk fid 0 newfid 5 wname [g order]
Rwalk ...
Topen fid 5 mode OREAD
Ropen ...
Twalk fid 0 newfid 6 wname [g s]
Rwalk ...
Topen fid 6 mode OREAD
Ropen ...
Twrite tag 1 fid 2 data before
Rwrite tag 1 count 6
Twrite tag 1 fid 3 data eof
Rwrite tag 1 count 3
Tread tag 1 fid 4 count 100
Rread tag 1 data before
Tread tag 1 fid 4 count 100
Rread tag 1
Tread tag 2 fid 4 count 100
Tread tag 3 fid 5 count 100
Rread tag 3 data 730a
Tread tag 3 fid 5 count 100
# A reader that opens after the eof never sees it.
Twalk fid 0 newfid 7 wname [g s]
Rwalk ...
Topen fid 7 mode OREAD
Ropen ...
Tread tag 4 fid 7 count 100
Twrite tag 1 fid 2 data after
Rwrite tag 1 count 5
Rread tag 2 data after
Rread tag 3 data 730a
Rread tag 4 data after
# Fid 6 had not read before: it reads it, then its end of file.
Tread tag 1 fid 6 count 100
Rread tag 1 data before
Tread tag 1 fid 6 count 100
Rread tag 1
Tread tag 1 fid 6 count 100
Rread tag 1 data after
`)
}
