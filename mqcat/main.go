// Mq-cat prints the messages of an mq group's streams in the order
// they were written, following the group's order file (SPEC §9).
//
//	mq-cat [-p] [-s srv] group [stream ...]
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"mq/internal/arg"
	"mq/internal/exits"
	"mq/internal/mqclient"
)

const usageLine = "usage: mq-cat [-p] [-s srv] group [stream ...]"

func main() {
	flags, rest, err := arg.Parse(os.Args[1:], "ps:")
	if err != nil || len(rest) == 0 {
		fmt.Fprintln(os.Stderr, usageLine)
		exits.Exit("usage")
	}
	prefix, srv := false, ""
	for _, f := range flags {
		switch f.Letter {
		case 'p':
			prefix = true
		case 's':
			srv = f.Value
		}
	}
	if err := run(srv, rest[0], rest[1:], prefix, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "mq-cat: %v\n", err)
		exits.Exit(err.Error()) // as sysfatal(2) does on Plan 9; 1 on Unix
	}
}

// run prints group's streams (all it holds now if names is empty) on
// out until the group is removed.
func run(srv, group string, names []string, prefix bool, out io.Writer) error {
	fs := mqclient.NameSpace("")
	if srv != "" {
		var err error
		if fs, err = mqclient.Service(srv); err != nil {
			return mqclient.PathErr(srv, err)
		}
		defer fs.Close()
		group = strings.TrimPrefix(path.Clean("/"+group), "/")
	}
	cfg, err := config(fs, group)
	if err != nil {
		return err
	}
	// In coalesce mode a read joins messages, and static reads never
	// wait: neither can be matched with order's entries.
	if mode := cfg["data"]; mode != "message" && mode != "" {
		return fmt.Errorf("%s: data mode is %s, not message", group, mode)
	}
	if len(names) == 0 {
		if names, err = streams(fs, group); err != nil {
			return err
		}
	}
	follow := mqclient.Follow
	if cfg["replay"] != "all" {
		follow = mqclient.FollowLive
	}
	f, err := follow(fs, group, names)
	if err != nil {
		return err
	}
	defer f.Close()
	if cfg["replay"] == "last" {
		if err := f.AlignLast(); err != nil {
			return mqclient.PathErr(group, err)
		}
	}
	f.Lost = func(err error) { fmt.Fprintf(os.Stderr, "mq-cat: %s: %v\n", group, err) }
	var msg []byte
	for {
		name, data, err := f.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return mqclient.PathErr(group, err)
		}
		// One write per message, so a live session shows as it goes.
		msg = msg[:0]
		if prefix {
			msg = append(append(msg, name...), ": "...)
		}
		msg = append(msg, data...)
		if _, err := out.Write(msg); err != nil {
			return err
		}
	}
}

// config reads group's ctl: each command's word and its argument.
func config(fs mqclient.FS, group string) (map[string]string, error) {
	ctl, err := fs.Open(path.Join(group, "ctl"), 0)
	if err != nil {
		return nil, mqclient.PathErr(group, err)
	}
	defer ctl.Close()
	cfg := map[string]string{}
	sc := bufio.NewScanner(ctl)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		cfg[k] = v
	}
	return cfg, sc.Err()
}

// streams lists the streams group holds.
func streams(fs mqclient.FS, group string) ([]string, error) {
	dirs, err := fs.ReadDir(group)
	if err != nil {
		return nil, mqclient.PathErr(group, err)
	}
	var names []string
	for _, d := range dirs {
		if !d.IsDir && d.Name != "ctl" && d.Name != "order" {
			names = append(names, d.Name)
		}
	}
	return names, nil
}
