package main

import (
	"strings"
	"testing"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// TestFcallString checks each message type against the line Plan 9's
// %F prints for it, which lib9p's -D trace shows (SPEC §2), and that
// data with a newline keeps the message on one line.
func TestFcallString(t *testing.T) {
	root := plan9.Qid{Path: rootPath, Type: plan9.QTDIR}
	stream := plan9.Qid{Path: 7, Vers: 2, Type: plan9.QTAPPEND | plan9.QTEXCL}
	d := plan9.Dir{Name: "s", Uid: "glenda", Gid: "adm", Muid: "bob", Qid: stream,
		Mode: plan9.DMAPPEND | plan9.DMEXCL | 0664, Atime: 100, Mtime: 200, Length: 11}
	stat, _ := d.Bytes()
	var null plan9.Dir
	null.Null()
	null.Mtime = 5
	nullStat, _ := null.Bytes()
	long := d
	long.Name = strings.Repeat("n", 200)
	longStat, _ := long.Bytes()
	tests := []struct {
		f    plan9.Fcall
		want string
	}{
		{plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"},
			"Tversion tag 65535 msize 8216 version '9P2000'"},
		{plan9.Fcall{Type: plan9.Rversion, Tag: plan9.NOTAG, Msize: 8216, Version: "unknown"},
			"Rversion tag 65535 msize 8216 version 'unknown'"},
		{plan9.Fcall{Type: plan9.Tauth, Tag: 1, Afid: 3, Uname: "glenda", Aname: ""},
			"Tauth tag 1 afid 3 uname glenda aname "},
		{plan9.Fcall{Type: plan9.Rauth, Tag: 1, Aqid: plan9.Qid{Path: 1, Type: plan9.QTAUTH}},
			"Rauth tag 1 qid (0000000000000001 0 A)"},
		{plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda", Aname: "rc"},
			"Tattach tag 1 fid 0 afid -1 uname glenda aname rc"},
		{plan9.Fcall{Type: plan9.Rattach, Tag: 1, Qid: root},
			"Rattach tag 1 qid (a000000000000000 0 d)"},
		{plan9.Fcall{Type: plan9.Rerror, Tag: 2, Ename: "file does not exist"},
			"Rerror tag 2 ename file does not exist"},
		{plan9.Fcall{Type: plan9.Tflush, Tag: 3, Oldtag: 2},
			"Tflush tag 3 oldtag 2"},
		{plan9.Fcall{Type: plan9.Rflush, Tag: 3},
			"Rflush tag 3"},
		{plan9.Fcall{Type: plan9.Twalk, Tag: 4, Fid: 0, Newfid: 1, Wname: []string{"rc", "fd1"}},
			"Twalk tag 4 fid 0 newfid 1 nwname 2 0:rc 1:fd1 "},
		{plan9.Fcall{Type: plan9.Twalk, Tag: 4, Fid: 0, Newfid: 0},
			"Twalk tag 4 fid 0 newfid 0 nwname 0 "},
		{plan9.Fcall{Type: plan9.Rwalk, Tag: 4, Wqid: []plan9.Qid{root, stream}},
			"Rwalk tag 4 nwqid 2 0:(a000000000000000 0 d) 1:(0000000000000007 2 al) "},
		{plan9.Fcall{Type: plan9.Topen, Tag: 5, Fid: 1, Mode: plan9.ORDWR},
			"Topen tag 5 fid 1 mode 2"},
		{plan9.Fcall{Type: plan9.Ropen, Tag: 5, Qid: stream, Iounit: 8192},
			"Ropen tag 5 qid (0000000000000007 2 al) iounit 8192 "},
		{plan9.Fcall{Type: plan9.Tcreate, Tag: 6, Fid: 1, Name: "rc", Perm: plan9.DMDIR | 0775, Mode: plan9.OREAD},
			"Tcreate tag 6 fid 1 name rc perm 020000000775 mode 0"},
		{plan9.Fcall{Type: plan9.Rcreate, Tag: 6, Qid: root, Iounit: 8192},
			"Rcreate tag 6 qid (a000000000000000 0 d) iounit 8192 "},
		{plan9.Fcall{Type: plan9.Tread, Tag: 7, Fid: 1, Offset: 100, Count: 8192},
			"Tread tag 7 fid 1 offset 100 count 8192"},
		{plan9.Fcall{Type: plan9.Rread, Tag: 7, Data: []byte("hello\tworld")},
			"Rread tag 7 count 11 'hello\tworld'"},
		{plan9.Fcall{Type: plan9.Rread, Tag: 7},
			"Rread tag 7 count 0 ''"},
		{plan9.Fcall{Type: plan9.Rread, Tag: 7, Data: []byte("fd1\n")},
			"Rread tag 7 count 4 '6664310a'"},
		{plan9.Fcall{Type: plan9.Rread, Tag: 7, Data: []byte{0, 1, 2, 3, 4, 0xff}},
			"Rread tag 7 count 6 '00010203 04ff'"},
		{plan9.Fcall{Type: plan9.Rread, Tag: 7, Data: []byte(strings.Repeat("x", 100))},
			"Rread tag 7 count 100 '" + strings.Repeat("x", 64) + "'"},
		{plan9.Fcall{Type: plan9.Twrite, Tag: 8, Fid: 2, Offset: 0, Data: []byte("replay all")},
			"Twrite tag 8 fid 2 offset 0 count 10 'replay all'"},
		{plan9.Fcall{Type: plan9.Rwrite, Tag: 8, Count: 10},
			"Rwrite tag 8 count 10"},
		{plan9.Fcall{Type: plan9.Tclunk, Tag: 9, Fid: 2},
			"Tclunk tag 9 fid 2"},
		{plan9.Fcall{Type: plan9.Rclunk, Tag: 9},
			"Rclunk tag 9"},
		{plan9.Fcall{Type: plan9.Tremove, Tag: 10, Fid: 2},
			"Tremove tag 10 fid 2"},
		{plan9.Fcall{Type: plan9.Rremove, Tag: 10},
			"Rremove tag 10"},
		{plan9.Fcall{Type: plan9.Tstat, Tag: 11, Fid: 2},
			"Tstat tag 11 fid 2"},
		{plan9.Fcall{Type: plan9.Rstat, Tag: 11, Stat: stat},
			"Rstat tag 11  stat 's' 'glenda' 'adm' 'bob' q (0000000000000007 2 al) m 014000000664 at 100 mt 200 l 11 t 0 d 0"},
		{plan9.Fcall{Type: plan9.Rstat, Tag: 11, Stat: longStat},
			"Rstat tag 11  stat(261 bytes)"},
		{plan9.Fcall{Type: plan9.Twstat, Tag: 12, Fid: 2, Stat: nullStat},
			"Twstat tag 12 fid 2 stat '' '' '' '' q (ffffffffffffffff 4294967295 dalA) m 037777777777 at -1 mt 5 l -1 t 65535 d -1"},
		{plan9.Fcall{Type: plan9.Rwstat, Tag: 12},
			"Rwstat tag 12"},
		// Control characters a client sends cannot break a line.
		{plan9.Fcall{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "x\n<-3- Tfake", Aname: "a\tb"},
			`Tattach tag 1 fid 0 afid -1 uname "x\n<-3- Tfake" aname "a\tb"`},
		{plan9.Fcall{Type: plan9.Twalk, Tag: 4, Fid: 0, Newfid: 1, Wname: []string{"a\rb"}},
			`Twalk tag 4 fid 0 newfid 1 nwname 1 0:"a\rb" `},
		{plan9.Fcall{Type: plan9.Tcreate, Tag: 6, Fid: 1, Name: "n\x7f", Perm: 0664, Mode: plan9.OWRITE},
			`Tcreate tag 6 fid 1 name "n\x7f" perm 0664 mode 1`},
		{plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000\n"},
			`Tversion tag 65535 msize 8216 version '"9P2000\n"'`},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, fcallString(&tt.f)); diff != "" {
			t.Errorf("%v (-want +got):\n%s", &tt.f, diff)
		}
	}
}
