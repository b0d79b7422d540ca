package main

import (
	"fmt"
	"strconv"
	"strings"

	"9fans.net/go/plan9"
)

// fcallString is a 9P message as Plan 9's %F verb prints it, the form of
// lib9p's -D trace (SPEC §2): qids as (path vers type), walks as
// nwname and numbered names, fids that %F prints signed as signed
// (NOFID is -1), perm in octal as 9front does, and up to 64 bytes of
// data quoted, or in hex when not printable. One change keeps each
// message one line: data holding a newline is shown in hex too, and a
// name or string holding a control character is Go-quoted.
func fcallString(f *plan9.Fcall) string {
	var b strings.Builder
	sfid := int32(f.Fid) // where %F prints the fid with %d
	switch f.Type {
	case plan9.Tversion, plan9.Rversion:
		fmt.Fprintf(&b, "%s tag %d msize %d version '%s'", typeName(f.Type), f.Tag, f.Msize, line(f.Version))
	case plan9.Tauth:
		fmt.Fprintf(&b, "Tauth tag %d afid %d uname %s aname %s", f.Tag, int32(f.Afid), line(f.Uname), line(f.Aname))
	case plan9.Rauth:
		fmt.Fprintf(&b, "Rauth tag %d qid %s", f.Tag, qidString(f.Aqid))
	case plan9.Tattach:
		fmt.Fprintf(&b, "Tattach tag %d fid %d afid %d uname %s aname %s", f.Tag, sfid, int32(f.Afid), line(f.Uname), line(f.Aname))
	case plan9.Rattach:
		fmt.Fprintf(&b, "Rattach tag %d qid %s", f.Tag, qidString(f.Qid))
	case plan9.Rerror:
		fmt.Fprintf(&b, "Rerror tag %d ename %s", f.Tag, line(f.Ename))
	case plan9.Tflush:
		fmt.Fprintf(&b, "Tflush tag %d oldtag %d", f.Tag, f.Oldtag)
	case plan9.Twalk:
		fmt.Fprintf(&b, "Twalk tag %d fid %d newfid %d nwname %d ", f.Tag, sfid, int32(f.Newfid), len(f.Wname))
		for i, name := range f.Wname {
			fmt.Fprintf(&b, "%d:%s ", i, line(name))
		}
	case plan9.Rwalk:
		fmt.Fprintf(&b, "Rwalk tag %d nwqid %d ", f.Tag, len(f.Wqid))
		for i, q := range f.Wqid {
			fmt.Fprintf(&b, "%d:%s ", i, qidString(q))
		}
	case plan9.Topen:
		fmt.Fprintf(&b, "Topen tag %d fid %d mode %d", f.Tag, f.Fid, f.Mode)
	case plan9.Ropen, plan9.Rcreate:
		fmt.Fprintf(&b, "%s tag %d qid %s iounit %d ", typeName(f.Type), f.Tag, qidString(f.Qid), f.Iounit)
	case plan9.Tcreate:
		fmt.Fprintf(&b, "Tcreate tag %d fid %d name %s perm 0%o mode %d", f.Tag, f.Fid, line(f.Name), uint32(f.Perm), f.Mode)
	case plan9.Tread:
		fmt.Fprintf(&b, "Tread tag %d fid %d offset %d count %d", f.Tag, sfid, int64(f.Offset), f.Count)
	case plan9.Rread:
		fmt.Fprintf(&b, "Rread tag %d count %d %s", f.Tag, len(f.Data), dataString(f.Data))
	case plan9.Twrite:
		fmt.Fprintf(&b, "Twrite tag %d fid %d offset %d count %d %s", f.Tag, sfid, int64(f.Offset), len(f.Data), dataString(f.Data))
	case plan9.Rwrite:
		fmt.Fprintf(&b, "Rwrite tag %d count %d", f.Tag, f.Count)
	case plan9.Tclunk, plan9.Tremove, plan9.Tstat:
		fmt.Fprintf(&b, "%s tag %d fid %d", typeName(f.Type), f.Tag, f.Fid)
	case plan9.Rstat:
		// %F leaves the space after the tag and puts another before stat.
		fmt.Fprintf(&b, "Rstat tag %d  %s", f.Tag, statString(f.Stat))
	case plan9.Twstat:
		fmt.Fprintf(&b, "Twstat tag %d fid %d %s", f.Tag, f.Fid, statString(f.Stat))
	case plan9.Rflush, plan9.Rclunk, plan9.Rremove, plan9.Rwstat:
		fmt.Fprintf(&b, "%s tag %d", typeName(f.Type), f.Tag)
	default:
		fmt.Fprintf(&b, "unknown type %d", f.Type)
	}
	return b.String()
}

// line is s as is, or Go-quoted if it holds a control character, which
// a client could send to break the trace's lines.
func line(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func typeName(t uint8) string {
	switch t {
	case plan9.Tversion:
		return "Tversion"
	case plan9.Rversion:
		return "Rversion"
	case plan9.Ropen:
		return "Ropen"
	case plan9.Rcreate:
		return "Rcreate"
	case plan9.Tclunk:
		return "Tclunk"
	case plan9.Tremove:
		return "Tremove"
	case plan9.Tstat:
		return "Tstat"
	case plan9.Rflush:
		return "Rflush"
	case plan9.Rclunk:
		return "Rclunk"
	case plan9.Rremove:
		return "Rremove"
	case plan9.Rwstat:
		return "Rwstat"
	}
	return fmt.Sprintf("type%d", t)
}

// qidString is a qid as %F prints it: (path vers type), the path in 16
// hex digits and the type as letters: d, a, l, A.
func qidString(q plan9.Qid) string {
	var t []byte
	for _, c := range []struct {
		bit    uint8
		letter byte
	}{{plan9.QTDIR, 'd'}, {plan9.QTAPPEND, 'a'}, {plan9.QTEXCL, 'l'}, {plan9.QTAUTH, 'A'}} {
		if q.Type&c.bit != 0 {
			t = append(t, c.letter)
		}
	}
	return fmt.Sprintf("(%.16x %d %s)", q.Path, q.Vers, t)
}

// statString is a stat as %F prints it in Rstat and Twstat: its fields,
// or only its size when it is over 200 bytes or cannot be read.
func statString(stat []byte) string {
	d, err := plan9.UnmarshalDir(stat)
	if len(stat) > 200 || err != nil {
		return fmt.Sprintf("stat(%d bytes)", len(stat))
	}
	return fmt.Sprintf("stat '%s' '%s' '%s' '%s' q %s m %#o at %d mt %d l %d t %d d %d",
		line(d.Name), line(d.Uid), line(d.Gid), line(d.Muid), qidString(d.Qid), uint32(d.Mode),
		int32(d.Atime), int32(d.Mtime), int64(d.Length), d.Type, int32(d.Dev))
}

// dataString is up to 64 bytes of a read's or write's data as %F
// prints them: quoted when printable, else in hex, four bytes a group.
// A newline, which %F prints as is, counts as unprintable here, so that
// a traced message stays one line.
func dataString(data []byte) string {
	if len(data) > 64 {
		data = data[:64]
	}
	printable := true
	for _, c := range data {
		if c < ' ' && c != '\t' || c > 127 {
			printable = false
			break
		}
	}
	if printable {
		return "'" + string(data) + "'"
	}
	var b strings.Builder
	b.WriteByte('\'')
	for i, c := range data {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%02x", c)
	}
	b.WriteByte('\'')
	return b.String()
}
