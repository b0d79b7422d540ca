package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stop ends the server and returns what it printed on standard error.
func (s *mqServer) stop() string {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	return s.stderr.String()
}

// -a with a tcp address that is not loopback warns that attach names
// are not authenticated, naming the address as given; loopback and
// unix addresses do not (SPEC §2).
func TestAnnounceWarning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sock")
	for _, tt := range []struct {
		addr string
		warn bool
	}{
		{"tcp!*!0", true},
		{"tcp!0.0.0.0!0", true},
		{"tcp!127.0.0.1!0", false},
		{"tcp!localhost!0", false},
		{"tcp!::1!0", false},
		{"unix!" + sock, false},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			stderr := startMQ(t, "-a", tt.addr).stop()
			want := fmt.Sprintf("mq: warning: %s is not a loopback address: 9P attach names are not authenticated\n", tt.addr)
			if got := strings.Contains(stderr, want); got != tt.warn {
				t.Errorf("-a %s: warning printed %v, want %v; stderr:\n%s", tt.addr, got, tt.warn, stderr)
			}
			if !tt.warn && strings.Contains(stderr, "warning") {
				t.Errorf("-a %s: stderr:\n%s", tt.addr, stderr)
			}
		})
	}
}

// displayEnv is the environment with no $NAMESPACE and $DISPLAY set to
// disp, so mq derives its name space directory as plan9port does.
func displayEnv(disp string) []string {
	var e []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NAMESPACE=") && !strings.HasPrefix(kv, "DISPLAY=") {
			e = append(e, kv)
		}
	}
	return append(e, "DISPLAY="+disp)
}

// nsDir is /tmp/ns.USER.DISPLAY for a fresh display name, removed at
// the end of the test.
func nsDir(t *testing.T, tag string) (dir, disp string) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	disp = fmt.Sprintf(":mqtest%d%s", os.Getpid(), tag)
	dir = fmt.Sprintf("/tmp/ns.%s.%s", u.Username, disp)
	os.RemoveAll(dir)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir, disp
}

// The name space directory mq makes is its user's alone, mode 0700, so
// other users cannot reach the socket in it (SPEC §2 -s).
func TestNamespaceDirPrivate(t *testing.T) {
	dir, disp := nsDir(t, "a")
	cmd := exec.Command(bin("mq"), "-s", "mq")
	cmd.Env = displayEnv(disp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	sock := filepath.Join(dir, "mq")
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i == 500 {
			t.Fatalf("mq did not post %s", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0700 {
		t.Errorf("%s: mode %v, want a directory mode 0700", dir, fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("%s: owner %d, want %d", dir, st.Uid, os.Geteuid())
	}

	// So is one named by $NAMESPACE that does not yet exist.
	ns := filepath.Join(t.TempDir(), "deeper", "ns")
	s := &mqServer{ns: ns, name: "mq"}
	cmd2 := exec.Command(bin("mq"), "-s", "mq")
	cmd2.Env = env(ns)
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd2.Process.Kill()
		cmd2.Wait()
	}()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", s.socket()); err == nil {
			c.Close()
			break
		}
		if i == 500 {
			t.Fatalf("mq did not post %s", s.socket())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fi, err := os.Stat(ns); err != nil || fi.Mode().Perm() != 0700 {
		t.Errorf("%s: %v, %v; want mode 0700", ns, fi.Mode(), err)
	}
}

// A name space directory that someone else made, or that others can
// reach, is refused rather than used, as plan9port does: another user
// could have made it to catch the socket (SPEC §2 -s).
func TestNamespaceDirRefused(t *testing.T) {
	cases := []struct {
		name  string
		setup func(dir string) error
	}{
		{"mode 0777", func(dir string) error {
			if err := os.Mkdir(dir, 0700); err != nil {
				return err
			}
			return os.Chmod(dir, 0777)
		}},
		{"a symbolic link", func(dir string) error {
			return os.Symlink(t.TempDir(), dir)
		}},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, struct {
			name  string
			setup func(dir string) error
		}{"another user's", func(dir string) error {
			if err := os.Mkdir(dir, 0700); err != nil {
				return err
			}
			return os.Chown(dir, 65534, 65534)
		}})
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			dir, disp := nsDir(t, fmt.Sprint("r", i))
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin("mq"), "-s", "mq")
			cmd.Env = displayEnv(disp)
			done := make(chan struct{})
			var out []byte
			var err error
			go func() {
				out, err = cmd.CombinedOutput()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("mq served in %s", dir)
			}
			want := "bad name space dir " + dir
			if err == nil || !strings.Contains(string(out), want) {
				t.Errorf("mq with %s: %v, output %q; want failure with %q", dir, err, out, want)
			}
			if _, err := os.Lstat(filepath.Join(dir, "mq")); err == nil {
				t.Errorf("mq posted its socket in %s", dir)
			}
		})
	}
}
