package main

import (
	"fmt"
	"os"
	"strings"
)

// users is group membership and leadership from a file in /adm/users
// format, id:name:leader:members (SPEC §2, -u). A nil *users means no
// file: each user is member and leader of the group of its own name.
type users struct {
	groups map[string]*ugroup
}

type ugroup struct {
	leader  string
	members map[string]bool
}

func loadUsers(file string) (*users, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseUsers(string(b))
}

func parseUsers(text string) (*users, error) {
	u := &users{groups: make(map[string]*ugroup)}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 4 || f[1] == "" {
			return nil, fmt.Errorf("users file line %d: want id:name:leader:members", i+1)
		}
		g := &ugroup{leader: f[2], members: map[string]bool{f[1]: true}}
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.members[m] = true
			}
		}
		u.groups[f[1]] = g
	}
	return u, nil
}

// member says whether user is in group.
func (u *users) member(user, group string) bool {
	if user == group {
		return true
	}
	if u == nil {
		return false
	}
	g := u.groups[group]
	return g != nil && g.members[user]
}

// leader says whether user leads group; a group with no leader named
// is led by all its members, as in Plan 9.
func (u *users) leader(user, group string) bool {
	if u == nil {
		return user == group
	}
	g := u.groups[group]
	if g == nil {
		return user == group
	}
	if g.leader == "" {
		return g.members[user]
	}
	return g.leader == user
}
