package main

// Permissions with several users and a users file (SPEC §2 -u, §3.3,
// §3.6): each client gets exactly what Plan 9's rules give it.

import (
	"strings"
	"testing"
)

// permUsers: alice leads team, bob is in it, carol is not.
const permUsers = `
1:glenda:glenda:
2:alice:alice:
3:bob:bob:
4:carol:carol:
5:team:alice:alice,bob
`

// permTree is glenda's root with pub (0777), alice's group pub/a
// (alice:team 0775) holding bob's stream b1 (0664) and alice's secret
// (0600), and alice's private group pub/priv (0700).
func permTree(t *testing.T) (tr *tree, glenda, alice, bob, carol *testConn) {
	u, err := parseUsers(permUsers)
	if err != nil {
		t.Fatal(err)
	}
	tr = newTree("glenda", u, 1<<20)
	glenda, alice, bob, carol = session(t, tr, "glenda"), session(t, tr, "alice"), session(t, tr, "bob"), session(t, tr, "carol")
	glenda.run(`
Twalk fid 0 newfid 1
Rwalk
Tcreate fid 1 name pub perm d-rwxrwxrwx mode OREAD
Rcreate ...
Twstat fid 1 stat (mode d-rwxrwxrwx)
Rwstat
Tclunk fid 1
Rclunk
`)
	alice.run(`
Twalk fid 0 newfid 1 wname [pub]
Rwalk ...
Tcreate fid 1 name a perm d-rwxrwxr-x mode OREAD
Rcreate ...
Twstat fid 1 stat (gid team)
Rwstat
Tclunk fid 1
Rclunk
Twalk fid 0 newfid 1 wname [pub]
Rwalk ...
Tcreate fid 1 name priv perm d-rwx------ mode OREAD
Rcreate ...
Tclunk fid 1
Rclunk
Twalk fid 0 newfid 1 wname [pub a]
Rwalk ...
Tcreate fid 1 name secret perm --rw------- mode OWRITE
Rcreate ...
Tclunk fid 1
Rclunk
`)
	bob.run(`
Twalk fid 0 newfid 1 wname [pub a]
Rwalk ...
Tcreate fid 1 name b1 perm --rw-rw-r-- mode OWRITE
Rcreate ...
Tclunk fid 1
Rclunk
`)
	return
}

// TestPermissionsUsersFile checks what several users may do to each
// other's files with a users file (SPEC §2 -u, §3.3).
func TestPermissionsUsersFile(t *testing.T) {
	_, glenda, alice, bob, carol := permTree(t)
	for _, tt := range []struct {
		name   string
		tc     *testConn
		script string
	}{
		{"created group is alice's, in team", glenda, `
Twalk fid 0 newfid 9 wname [pub a]
Rwalk ...
Tstat fid 9
Rstat ...
Tclunk fid 9
Rclunk
`},
		{"a member of the group creates in it", bob, `
Twalk fid 0 newfid 9 wname [pub a]
Rwalk ...
Tcreate fid 9 name b2 perm --rw-rw-rw- mode OWRITE
Rcreate ...
Tremove fid 9
Rremove
`},
		{"others cannot create in another's group", carol, `
Twalk fid 0 newfid 9 wname [pub a]
Rwalk ...
Tcreate fid 9 name c perm --rw-rw-rw- mode OWRITE
Rerror ename 'permission denied'
Tcreate fid 9 name d perm d-rwxrwxrwx mode OREAD
Rerror ename 'permission denied'
Tclunk fid 9
Rclunk
`},
		{"others cannot remove from another's group", carol, `
Twalk fid 0 newfid 9 wname [pub a b1]
Rwalk ...
Tremove fid 9
Rerror ename 'permission denied'
`},
		{"others cannot write another's ctl", carol, `
Twalk fid 0 newfid 9 wname [pub a ctl]
Rwalk ...
Topen fid 9 mode OWRITE
Rerror ename 'permission denied'
Topen fid 9 mode OREAD
Ropen ...
Tclunk fid 9
Rclunk
`},
		{"nor with ORCLOSE on a stream they may read", carol, `
Twalk fid 0 newfid 9 wname [pub a b1]
Rwalk ...
Topen fid 9 mode 64
Rerror ename 'permission denied'
Tclunk fid 9
Rclunk
`},
		{"group members write the group's ctl", bob, `
Twalk fid 0 newfid 9 wname [pub a ctl]
Rwalk ...
Topen fid 9 mode OWRITE
Ropen ...
Twrite fid 9 data 'replay all'
Rwrite count 10
Tclunk fid 9
Rclunk
`},
		{"a 0600 stream is its owner's alone", bob, `
Twalk fid 0 newfid 9 wname [pub a secret]
Rwalk ...
Topen fid 9 mode OREAD
Rerror ename 'permission denied'
Topen fid 9 mode OWRITE
Rerror ename 'permission denied'
Tclunk fid 9
Rclunk
`},
		{"its owner reads it", alice, `
Twalk fid 0 newfid 9 wname [pub a secret]
Rwalk ...
Topen fid 9 mode ORDWR
Ropen ...
Tclunk fid 9
Rclunk
`},
		{"others cannot rename others' files", carol, `
Twalk fid 0 newfid 9 wname [pub a b1]
Rwalk ...
Twstat fid 9 stat (name mine)
Rerror ename 'permission denied'
Tclunk fid 9
Rclunk
`},
		{"a member renames in the group", bob, `
Twalk fid 0 newfid 9 wname [pub a secret]
Rwalk ...
Twstat fid 9 stat (name hidden)
Rwstat
Twstat fid 9 stat (name secret)
Rwstat
Tclunk fid 9
Rclunk
`},
		{"a member that is not owner or leader cannot chmod", bob, `
Twalk fid 0 newfid 9 wname [pub a secret]
Rwalk ...
Twstat fid 9 stat (mode --rw-rw-rw-)
Rerror ename 'not owner'
Twstat fid 9 stat (mtime 1)
Rerror ename 'not owner'
Tclunk fid 9
Rclunk
`},
		{"the group's leader chmods a member's file", alice, `
Twalk fid 0 newfid 9 wname [pub a b1]
Rwalk ...
Twstat fid 9 stat (mode --rw-rw-r--)
Rwstat
Tclunk fid 9
Rclunk
`},
		{"others cannot chmod or chgrp", carol, `
Twalk fid 0 newfid 9 wname [pub a b1]
Rwalk ...
Twstat fid 9 stat (mode --rw-rw-rw-)
Rerror ename 'not owner'
Twstat fid 9 stat (gid carol)
Rerror ename 'not owner'
Tclunk fid 9
Rclunk
`},
		{"an owner gives a file only to a group it is in", bob, `
Twalk fid 0 newfid 9 wname [pub a b1]
Rwalk ...
Twstat fid 9 stat (gid carol)
Rerror ename 'not owner'
Twstat fid 9 stat (gid bob)
Rwstat
Twstat fid 9 stat (gid team)
Rwstat
Tclunk fid 9
Rclunk
`},
		{"a leader moves files between groups it leads only", alice, `
Twalk fid 0 newfid 9 wname [pub a b1]
Rwalk ...
Twstat fid 9 stat (gid bob)
Rerror ename 'not owner'
Twstat fid 9 stat (gid alice)
Rwstat
Twstat fid 9 stat (gid team)
Rwstat
Tclunk fid 9
Rclunk
`},
		{"walk needs search permission", carol, `
Twalk fid 0 newfid 9 wname [pub priv]
Rwalk ...
Twalk fid 9 newfid 10 wname [ctl]
Rerror ename 'permission denied'
Topen fid 9 mode OREAD
Rerror ename 'permission denied'
Tclunk fid 9
Rclunk
`},
		{"the owner of a 0700 group walks in", alice, `
Twalk fid 0 newfid 9 wname [pub priv ctl]
Rwalk ...
Tclunk fid 9
Rclunk
`},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			tt.tc.t = t
			tt.tc.run(tt.script)
		})
	}
}
