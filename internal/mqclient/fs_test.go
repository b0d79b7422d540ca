package mqclient

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"9fans.net/go/plan9"
	"github.com/google/go-cmp/cmp"
)

// The name space tree (a mount) does what the commands ask of it; a
// plain directory stands in for the mount.
func TestNameSpace(t *testing.T) {
	root := t.TempDir()
	fs := NameSpace(root)
	if err := fs.Create("g", plan9.DMDIR|0775); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"g/a", "g/b"} {
		if err := fs.Create(name, 0664); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Create("g/a", 0664); !IsExist(err) {
		t.Errorf("Create of an existing stream: %v, want file exists", err)
	}
	w, err := fs.Open("g/a", plan9.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello"))
	w.Close()
	if d, err := fs.Stat("g/a"); err != nil || d.Length != 5 || d.IsDir {
		t.Errorf("Stat g/a = %+v, %v; want a 5-byte file", d, err)
	}
	dirs, err := fs.ReadDir("g")
	if err != nil {
		t.Fatal(err)
	}
	want := []Dir{{Name: "a", Length: 5}, {Name: "b"}}
	if diff := cmp.Diff(want, dirs); diff != "" {
		t.Errorf("ReadDir g (-want +got):\n%s", diff)
	}

	r, err := fs.Open("g/a", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if fs.Gone(r, "g/a") {
		t.Errorf("Gone of an open file still there = true")
	}
	if err := fs.Remove("g/a"); err != nil {
		t.Fatal(err)
	}
	if !fs.Gone(r, "g/a") {
		t.Errorf("Gone of a removed file = false")
	}
	if err := fs.Create("g/a", 0664); err != nil {
		t.Fatal(err)
	}
	if !fs.Gone(r, "g/a") {
		t.Errorf("Gone of a file removed and made again = false")
	}
	if _, err := fs.Open("g/nosuch", plan9.OREAD); !IsNotExist(err) {
		t.Errorf("Open of a missing file: %v, want not exist", err)
	}
	if fs.MsgSize() != nsMsgSize {
		t.Errorf("MsgSize = %d, want %d where no iounit is told", fs.MsgSize(), nsMsgSize)
	}
}

// Errors name the file as Plan 9 commands do.
func TestPathErr(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "x"))
	if got, want := PathErr("g/x", err).Error(), "g/x: "+err.(*os.PathError).Err.Error(); got != want {
		t.Errorf("PathErr = %q, want %q", got, want)
	}
}

// On Plan 9 a note breaks off a read with "interrupted"; the commands
// make it again (SPEC §10: an interrupt does not detach).
func TestInterrupted(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("interrupted"), true},
		{&fs.PathError{Op: "read", Path: "/dev/stdin", Err: errors.New("interrupted")}, true},
		{&fs.PathError{Op: "read", Path: "/n/x/fd1", Err: errors.New("file does not exist")}, false},
		{errors.New("interrupted system call"), false},
	} {
		if got := Interrupted(tc.err); got != tc.want {
			t.Errorf("Interrupted(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
