package main

// SPEC §2: the command line, parsed in process. test/cmdline_test.go
// runs the built mq for what only a process shows (usage, exit status).

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseOptions checks flags, combined or not, their arguments and
// -M's suffixes (SPEC §2).
func TestParseOptions(t *testing.T) {
	def := func(f func(o *options)) *options {
		o := &options{capBytes: 256 << 20}
		f(o)
		return o
	}
	tests := []struct {
		args []string
		want *options // nil: a usage error
	}{
		{nil, def(func(o *options) {})},
		{[]string{"-D"}, def(func(o *options) { o.debug = true })},
		{[]string{"-Ds", "detach"}, def(func(o *options) { o.debug, o.srvname = true, "detach" })},
		{[]string{"-Dsdetach"}, def(func(o *options) { o.debug, o.srvname = true, "detach" })},
		{[]string{"-D", "-s", "detach"}, def(func(o *options) { o.debug, o.srvname = true, "detach" })},
		{[]string{"-s", "a", "-s", "b"}, def(func(o *options) { o.srvname = "b" })},
		{[]string{"-a", "tcp!*!564"}, def(func(o *options) { o.addr = "tcp!*!564" })},
		{[]string{"-a", "unix!/tmp/mq.sock"}, def(func(o *options) { o.addr = "unix!/tmp/mq.sock" })},
		{[]string{"-m", "/n/mq"}, def(func(o *options) { o.mtpt = "/n/mq" })},
		{[]string{"-u", "/adm/users"}, def(func(o *options) { o.usersFile = "/adm/users" })},
		{[]string{"-DM", "64K", "-s", "x"}, def(func(o *options) { o.debug, o.capBytes, o.srvname = true, 64<<10, "x" })},
		{[]string{"-M", "1M"}, def(func(o *options) { o.capBytes = 1 << 20 })},
		{[]string{"-M", "2G"}, def(func(o *options) { o.capBytes = 2 << 30 })},
		{[]string{"-M", "100b"}, def(func(o *options) { o.capBytes = 100 })},
		{[]string{"-M", "4096"}, def(func(o *options) { o.capBytes = 4096 })},
		{[]string{"-M16M"}, def(func(o *options) { o.capBytes = 16 << 20 })},
		{[]string{"--"}, def(func(o *options) {})},
		{[]string{"-x"}, nil},
		{[]string{"-Dx"}, nil},
		{[]string{"-s"}, nil},
		{[]string{"-D", "-a"}, nil},
		{[]string{"extra"}, nil},
		{[]string{"-D", "extra"}, nil},
		{[]string{"--", "extra"}, nil},
		{[]string{"-M", "0"}, nil},
		{[]string{"-M", "-1"}, nil},
		{[]string{"-M", "1.5M"}, nil},
		{[]string{"-M", "K"}, nil},
		{[]string{"-M", "10T"}, nil},
		{[]string{"-M", "10k"}, nil},
		{[]string{"-M", "lots"}, nil},
		{[]string{"-M", "99999999999G"}, nil},
		// An empty argument is a bad one.
		{[]string{"-s", ""}, nil},
		{[]string{"-m", ""}, nil},
		{[]string{"-a", ""}, nil},
		{[]string{"-u", ""}, nil},
		{[]string{"-r", ""}, nil},
		{[]string{"-M", ""}, nil},
	}
	for _, tt := range tests {
		name := strings.Join(tt.args, " ")
		got, err := parseOptions(tt.args)
		if tt.want == nil {
			if err == nil {
				t.Errorf("parseOptions(%q) = %+v, want a usage error", name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseOptions(%q): %v", name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
			t.Errorf("parseOptions(%q) (-want +got):\n%s", name, diff)
		}
	}
}

// TestUsageLine checks the usage line against the synopsis (SPEC §2).
func TestUsageLine(t *testing.T) {
	const want = "usage: mq [-DS] [-a addr] [-m mtpt] [-M size] [-r dir] [-s name] [-u users]"
	if usageLine != want {
		t.Errorf("usage line %q, want %q", usageLine, want)
	}
}
