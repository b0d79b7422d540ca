//go:build linux

package test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/google/go-cmp/cmp"
)

// smallDisk mounts a tmpfs of size bytes for the test, or skips it.
func smallDisk(t *testing.T, size int) string {
	mnt := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", mnt).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs (%v): %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// listing is the files in dir and their sizes.
func listing(dir string) string {
	ents, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d\n", e.Name(), fi.Size())
		}
	}
	return b.String()
}

// snapshot is what a group shows: each stream's name, length and
// qid.vers, and what a reader of it gets.
func snapshot(t *testing.T, fs *client.Fsys, group string) string {
	t.Helper()
	ents, err := readDir(fs, group)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, d := range ents {
		fmt.Fprintf(&b, "%s len %d vers %d\n", d.Name, d.Length, d.Qid.Vers)
		if d.Name == "ctl" || d.Name == "order" {
			continue
		}
		data, err := readAll(fs, group+"/"+d.Name)
		if err != nil {
			t.Fatalf("reading %s/%s: %v", group, d.Name, err)
		}
		fmt.Fprintf(&b, "  %d bytes, %d messages\n", len(data), strings.Count(data, "\n"))
	}
	return b.String()
}

// SPEC §11.3, §11.4: a real mq -r on a small file system, reserving
// room with fallocate or, as on Plan 9 or a Linux file system without
// it, by writing zeros. Filled up, its writes and creates fail with the
// system's error and change nothing, and reads still work; removing a
// stream still works, on the room kept for changes that free history,
// and once its segments go, writes go on; killed with SIGKILL and
// restarted, it has lost nothing it acknowledged.
func TestDiskFullTmpfs(t *testing.T) {
	for _, zeros := range []bool{true, false} {
		t.Run(fmt.Sprintf("zeros %v", zeros), func(t *testing.T) {
			diskFullTmpfs(t, zeros)
		})
	}
}

func diskFullTmpfs(t *testing.T, zeros bool) {
	mnt := smallDisk(t, 4<<20)
	d := newDurable(t)
	d.dir = filepath.Join(mnt, "log")
	d.env = []string{"MQ_TEST_COMPACT_SLACK=65536"}
	if zeros {
		d.env = append(d.env, "MQ_TEST_ZERO_RESERVE=1")
	}
	d.mustStart()
	_, fs, err := d.dial()
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create("g", plan9.OREAD, plan9.DMDIR|0775)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// data static: readers get what is there without waiting for more.
	if err := ctl(fs, "g", "replay all\ndata static"); err != nil {
		t.Fatal(err)
	}
	open := func(name string) *client.Fid {
		f, err := fs.Create(name, plan9.OWRITE, 0664)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	keep, big, more := open("g/keep"), open("g/big"), open("g/more")
	pad := strings.Repeat("x", 4000)
	var kept []string // acknowledged writes to g/keep
	write := func(f *client.Fid, msg string) error {
		_, err := f.Write([]byte(msg + "\n"))
		return err
	}
	for i := range 10 {
		msg := fmt.Sprintf("keep %d", i)
		if err := write(keep, msg); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, msg)
	}

	// Fill the disk: with big writes, then small ones, until not even
	// a small one fits.
	acked := 0
	for ; ; acked++ {
		err := write(big, fmt.Sprintf("big %d %s", acked, pad))
		if err == nil {
			continue
		}
		if err.Error() != "no space left on device" {
			t.Fatalf("write %d to a full disk: %v, want no space left on device", acked, err)
		}
		break
	}
	if acked == 0 || acked > 1100 {
		t.Fatalf("%d writes of 4 KiB before the 4 MiB disk was full", acked)
	}
	small := 0
	for ; small < 100000; small++ {
		err := write(big, "x") // as small as any write below
		if err == nil {
			continue
		}
		if err.Error() != "no space left on device" {
			t.Fatalf("small write %d to a full disk: %v, want no space left on device", small, err)
		}
		break
	}
	before := snapshot(t, fs, "g")
	for i := range 5 {
		if err := write(big, fmt.Sprintf("lost %d %s", i, pad)); err == nil || err.Error() != "no space left on device" {
			t.Errorf("write to a full disk: %v, want no space left on device", err)
		}
		if err := write(keep, "x"); err == nil || err.Error() != "no space left on device" {
			t.Errorf("small write to a full disk: %v, want no space left on device", err)
		}
		if _, err := fs.Create("g/new", plan9.OWRITE, 0664); err == nil || err.Error() != "no space left on device" {
			t.Errorf("create on a full disk: %v, want no space left on device", err)
		}
	}
	if diff := cmp.Diff(before, snapshot(t, fs, "g")); diff != "" {
		t.Errorf("writes refused on a full disk changed the group (-before +after):\n%s", diff)
	}
	if got, err := readAll(fs, "g/keep"); err != nil || got != strings.Join(kept, "\n")+"\n" {
		t.Errorf("read on a full disk: %q, %v", got, err)
	}

	// Free room through mq: the big stream goes, and with it (once its
	// segments are deleted) the room its messages took.
	if err := fs.Remove("g/big"); err != nil {
		t.Fatalf("remove on a full disk: %v", err)
	}
	var moreKept []string
	refused := 0
	for i := 0; len(moreKept) < 200; i++ {
		msg := fmt.Sprintf("more %d %s", i, pad)
		err := write(more, msg)
		switch {
		case err == nil:
			moreKept = append(moreKept, msg)
		case err.Error() != "no space left on device":
			t.Fatalf("write after room was freed: %v", err)
		case refused > 10000:
			t.Fatalf("writes still refused %d times after g/big was removed; %s holds:\n%s", refused, d.dir, listing(d.dir)+d.stderr.String()[max(0, len(d.stderr.String())-3000):])
		default:
			refused++ // the segments are being deleted: room comes back
			time.Sleep(time.Millisecond)
		}
	}
	t.Logf("%d writes of 4 KiB and %d small ones filled the disk; after removing them, %d writes refused while their segments went, then 200 went on", acked, small, refused)

	d.kill()
	d.mustStart()
	if s := d.stderr.String(); strings.Contains(s, "mq:") && !strings.Contains(s, "torn record") {
		t.Fatalf("restart: mq said %s", s)
	}
	_, fs, err = d.dial()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name string
		want []string
	}{{"g/keep", kept}, {"g/more", moreKept}} {
		got, err := readAll(fs, s.name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(strings.Join(s.want, "\n")+"\n", got); diff != "" {
			t.Errorf("%s after kill and restart (-want +got):\n%s", s.name, diff)
		}
	}
	if _, err := fs.Open("g/big", plan9.OREAD); err == nil {
		t.Error("g/big, removed, is back after restart")
	} else if !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "not found") {
		t.Errorf("g/big after restart: %v", err)
	}
}
