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
	tc := dialTest(t, newTestTree(t))
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

// SPEC §5.3, §8.6: a flushed waiting write has still been written: its
// Rwrite comes before the Rflush; a flushed read gets no reply.
func TestFlushWaitingWrite(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Twrite tag 1 fid 3 data 'wait one'
Rwrite tag 1 count 8
Twrite tag 2 fid 2 data waiting
Tflush tag 3 oldtag 2
Rwrite tag 2 count 7
Rflush tag 3
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
# the message stays in history only while its writer waits
Tstat tag 5 fid 4
Rstat tag 5 ...
Tread tag 6 fid 4 count 100
Tflush tag 7 oldtag 6
Rflush tag 7
`)
}

// SPEC §5.3: wait one answers the write once a reader has the whole
// message, even a reader that comes after the write.
func TestWaitOneReaderComesLater(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Twrite tag 1 fid 3 data 'wait one'
Rwrite tag 1 count 8
Twrite tag 2 fid 2 data hello
Twalk tag 3 fid 0 newfid 4 wname [g s]
Rwalk tag 3 ...
Topen tag 3 fid 4 mode OREAD
Ropen tag 3 ...
Tread tag 3 fid 4 count 3
Rread tag 3 data hel
Tread tag 3 fid 4 count 3
Rread tag 3 data lo
Rwrite tag 2 count 5
`)
}

// SPEC §8.8: a blocked read delays nothing else; replies leave in the
// order requests are settled, not sent.
func TestBlockedReadDelaysNothing(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(setup + `
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
Twalk fid 0 newfid 4 wname [g s]
Rwalk ...
Topen fid 4 mode OREAD
Ropen ...
Tread tag 10 fid 3 count 100
Tread tag 11 fid 3 count 100
Tread tag 12 fid 4 count 100
Tstat tag 13 fid 0
Rstat tag 13 ...
Twrite tag 14 fid 2 data one
Rread tag 10 data one
Rread tag 12 data one
Rwrite tag 14 count 3
Twrite tag 15 fid 2 data two
Rread tag 11 data two
Rwrite tag 15 count 3
Tclunk tag 16 fid 4
Rclunk tag 16
`)
}

// SPEC §3.5: a removed group's ctl and order go with it.
func TestRemovedGroupCtl(t *testing.T) {
	tc := dialTest(t, newTestTree(t))
	tc.run(`
Tversion tag 65535 msize 8216 version 9P2000
Rversion tag 65535 msize 8216 version 9P2000
Tattach fid 0 afid NOFID uname glenda aname ''
Rattach ...
Twalk fid 0 newfid 1
Rwalk
Tcreate fid 1 name g perm d-rwxrwxr-x mode OREAD
Rcreate ...
Twalk fid 0 newfid 2 wname [g ctl]
Rwalk ...
Twalk fid 0 newfid 3 wname [g ctl]
Rwalk ...
Topen fid 3 mode OWRITE
Ropen ...
Tremove fid 1
Rremove
Topen fid 2 mode OWRITE
Rerror ename 'file does not exist'
Twrite fid 3 data 'replay all'
Rerror ename 'file has been removed'
`)
}
