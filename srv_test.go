package main

import "testing"

// setup is the start of most transcripts: a session, the root on fid 0
// and a group "g" with a stream "s".
const setup = `
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach qid 0xa000000000000000.0.d
Twalk fid 0 newfid 1
Rwalk
Tcreate fid 1 name g perm d-rwxrwxr-x mode OREAD
Rcreate ...
Twalk fid 0 newfid 2 wname g
Rwalk ...
Tcreate fid 2 name s perm --rw-rw-r-- mode OWRITE
Rcreate ...
`

func TestSmoke(t *testing.T) {
	tc := dialTest(t, newTestTree())
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Tread tag 1 fid 3 count 100
Twrite tag 2 fid 2 data hello
Rwrite tag 2 count 5
Rread tag 1 data hello
`)
}
