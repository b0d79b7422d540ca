package main

// Hostile and faulty clients: whatever they send, the server answers
// or hangs up on them alone, and keeps serving everyone else
// (SPEC §8.8, §8.9).

import "testing"

// staticSetup is setup with group g in replay all and static mode,
// holding one message "hello" in s; fid 3 reads s.
const staticSetup = setup + `
Twalk fid 0 newfid 5 wname [g ctl]
Rwalk ...
Topen fid 5 mode OWRITE
Ropen ...
Twrite tag 1 fid 5 data 'replay all'
Rwrite tag 1 count 10
Twrite tag 1 fid 2 data hello
Rwrite tag 1 count 5
Twrite tag 1 fid 5 data 'data static'
Rwrite tag 1 count 11
Twalk fid 0 newfid 3 wname [g s]
Rwalk ...
Topen fid 3 mode OREAD
Ropen ...
`

// A static read at an offset of 2⁶³ or more is past the end, not a
// negative index (SPEC §6.2, §8.9).
func TestStaticHugeOffset(t *testing.T) {
	tc := dialTest(t, newTestTree())
	tc.run(staticSetup + `
Tread tag 1 fid 3 offset 18446744073709551615 count 100
Rread tag 1
Tread tag 1 fid 3 offset 9223372036854775808 count 100
Rread tag 1
Tread tag 1 fid 3 offset 1 count 100
Rread tag 1 data ello
`)
}
