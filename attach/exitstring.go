package main

import "strings"

// exitString is the status line of a Plan 9 program (SPEC §10): its exit
// string as wait(2) gives it, or ok when that is empty. msg is the last
// field of the kernel's wait message as Go's syscall.Waitmsg keeps it,
// still quoted the way the kernel's %q quotes (rc's quoting: a string
// with blanks or quotes goes in single quotes, a quote inside doubled);
// the C library's await unquotes it with tokenize, and so does this.
func exitString(msg string) string {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; {
		case c != '\'':
			b.WriteByte(c)
		case quoted && i+1 < len(msg) && msg[i+1] == '\'':
			b.WriteByte('\'')
			i++
		default:
			quoted = !quoted
		}
	}
	if b.Len() == 0 {
		return "ok"
	}
	return b.String()
}
