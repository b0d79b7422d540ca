//go:build linux

package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// files is every file under dir with its contents.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// SPEC §11.5: a dir mq cannot write (here a file system mounted
// read-only, which holds even for root) is refused: mq exits non-zero
// naming a file in it and the problem, and leaves it as it was.
func TestReadOnlyDirRefused(t *testing.T) {
	mnt := smallDisk(t, 16<<20)
	d := newDurable(t)
	d.dir = filepath.Join(mnt, "log")
	d.mustStart()
	_, fs, err := d.dial()
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create("s", plan9.OWRITE, 0664)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d.kill()
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only (%v): %s", err, out)
	}
	before := files(t, d.dir)
	msg, ok := d.start()
	if ok {
		t.Fatal("mq started on a read-only dir")
	}
	if !strings.HasPrefix(msg, "mq: ") || !strings.Contains(msg, d.dir+"/") || !strings.Contains(msg, "read-only file system") {
		t.Errorf("mq said %q; want it to name a file in %s and the problem", msg, d.dir)
	}
	if diff := cmp.Diff(before, files(t, d.dir)); diff != "" {
		t.Errorf("dir changed (-before +after):\n%s", diff)
	}
}
