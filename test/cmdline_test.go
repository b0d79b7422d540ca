//go:build !plan9

package test

// SPEC §2 and §3.1 as a user meets them: the real mq's usage message,
// exit status, -D trace, -a warning, -M cap and the root's owner.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/google/go-cmp/cmp"
)

const usageLine = "usage: mq [-DS] [-a addr] [-m mtpt] [-M size] [-r dir] [-s name] [-u users]\n"

// runMQ runs mq with args and no input to its end, with a deadlock
// guard, and returns its output and exit status.
func runMQ(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin("mq"), args...)
	cmd.Env = env(t.TempDir())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestUsage checks that a bad flag or argument prints the usage line
// on standard error and exits non-zero (SPEC §2).
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-x"},
		{"-Dx"},
		{"-s"},
		{"-D", "-a"},
		{"extra"},
		{"-D", "extra"},
		{"-M", "0"},
		{"-M", "lots"},
		{"-M", "1.5M"},
		{"-M", "10T"},
		{"-S"},            // -S without -r (SPEC §2, §11.1)
		{"-S", "-s", "x"}, // the same, posted
		{"-Ss", "x"},
		{"-r"},
		{"-s", "x", "-r"},
		{"-s", ""}, // not the one-session mode on standard input
		{"-D", "-m", ""},
		{"-a", ""},
		{"-u", ""},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := runMQ(t, args...)
			if stderr != usageLine || stdout != "" || code == 0 {
				t.Errorf("mq %s: exit %d, stdout %q, stderr %q; want exit non-zero, no output, stderr %q",
					strings.Join(args, " "), code, stdout, stderr, usageLine)
			}
		})
	}
}

// TestStdioTrace checks the one-session mode on standard input and
// output, with -D tracing each message to standard error the way
// lib9p does (SPEC §2).
func TestStdioTrace(t *testing.T) {
	cmd := exec.Command(bin("mq"), "-D")
	cmd.Env = env(t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()

	br := bufio.NewReader(stdout)
	var root *plan9.Dir
	for _, f := range []*plan9.Fcall{
		{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: 8216, Version: "9P2000"},
		{Type: plan9.Tattach, Tag: 1, Fid: 0, Afid: plan9.NOFID, Uname: "glenda"},
		{Type: plan9.Twalk, Tag: 2, Fid: 0, Newfid: 1, Wname: []string{"nosuch"}},
		{Type: plan9.Tstat, Tag: 3, Fid: 0},
	} {
		if err := plan9.WriteFcall(stdin, f); err != nil {
			t.Fatal(err)
		}
		r, err := plan9.ReadFcall(br)
		if err != nil {
			t.Fatal(err)
		}
		if r.Tag != f.Tag || r.Type != f.Type+1 && r.Type != plan9.Rerror {
			t.Errorf("%v: got %v", f, r)
		}
		if r.Type == plan9.Rstat {
			if root, err = plan9.UnmarshalDir(r.Stat); err != nil {
				t.Fatal(err)
			}
		}
	}
	if root == nil {
		t.Fatal("no Rstat")
	}
	// Each message as Plan 9's %F prints it.
	u := owner(t)
	want := []string{
		"<-0- Tversion tag 65535 msize 8216 version '9P2000'",
		"-1-> Rversion tag 65535 msize 8216 version '9P2000'",
		"<-0- Tattach tag 1 fid 0 afid -1 uname glenda aname ",
		"-1-> Rattach tag 1 qid (a000000000000000 0 d)",
		"<-0- Twalk tag 2 fid 0 newfid 1 nwname 1 0:nosuch ",
		"-1-> Rerror tag 2 ename file does not exist",
		"<-0- Tstat tag 3 fid 0",
		fmt.Sprintf("-1-> Rstat tag 3  stat '/' '%s' '%s' '%s' q (a000000000000000 0 d) m 020000000775 at %d mt %d l 0 t 0 d 0",
			u, u, u, root.Atime, root.Mtime),
	}
	stdin.Close()
	rest, _ := io.ReadAll(br)
	if err := cmd.Wait(); err != nil {
		t.Errorf("mq exits with %v at the end of its input, want success", err)
	}
	if len(rest) > 0 {
		t.Errorf("standard output holds more than replies: %q", rest)
	}
	// One line more says why the connection closed (SPEC §8.9).
	want = append(want, "mq: connection 0 closed: client hung up")
	got := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-D trace (-want +got):\n%s", diff)
	}
}

// TestAnnounceWarning checks that -a warns of tcp addresses that are
// not loopback, naming the address as given, and of nothing else
// (SPEC §2).
func TestAnnounceWarning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mq.sock")
	tests := []struct {
		addr string
		warn bool
	}{
		{"tcp!*!0", true},
		{"tcp!0.0.0.0!0", true},
		{"tcp!127.0.0.1!0", false},
		{"tcp!localhost!0", false},
		{"unix!" + sock, false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			s := startMQ(t, "-a", tt.addr)
			// -a is announced before the posted socket answers, so
			// the warning, if any, has been written.
			s.cmd.Process.Kill()
			s.cmd.Wait()
			want := ""
			if tt.warn {
				want = "mq: warning: " + tt.addr + " is not a loopback address: 9P attach names are not authenticated\n"
			}
			if got := s.stderr.String(); got != want {
				t.Errorf("stderr %q, want %q", got, want)
			}
		})
	}
}

// TestAnnounceUnix checks that -a unix!path serves 9P sessions there
// as well as on the posted socket (SPEC §2).
func TestAnnounceUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mq.sock")
	s := startMQ(t, "-a", "unix!"+sock)
	if _, err := s.attach(t, owner(t), "").Create("g", plan9.OREAD, plan9.DMDIR|0775); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fs, err := c.Attach(nil, owner(t), "g")
	if err != nil {
		t.Fatalf("attach g over %s: %v", sock, err)
	}
	if _, err := fs.Stat("ctl"); err != nil {
		t.Errorf("stat ctl over %s: %v", sock, err)
	}
}

// TestAnnounceUnixFailedStart checks that an mq that announced on
// unix!path and then cannot post its service removes path as it exits,
// as it removes its sockets on every other way out (SPEC §2).
func TestAnnounceUnixFailedStart(t *testing.T) {
	s := startMQ(t)
	for _, name := range []string{s.name, "a/b"} {
		sock := filepath.Join(t.TempDir(), "mq.sock")
		cmd := exec.Command(bin("mq"), "-s", name, "-a", "unix!"+sock)
		cmd.Env = env(s.ns)
		timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		out, err := cmd.CombinedOutput()
		timer.Stop()
		if err == nil {
			t.Errorf("mq -s %s started; output %q", name, out)
		}
		if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("mq -s %s -a unix!%s failed with %q and left the socket: %v", name, sock, out, err)
		}
	}
}

// TestAnnounceBad checks that a bad -a address is an error (SPEC §2).
func TestAnnounceBad(t *testing.T) {
	for _, addr := range []string{"foo", "tcp!x", "udp!*!564", "unix!"} {
		_, stderr, code := runMQ(t, "-a", addr)
		if code == 0 || !strings.HasPrefix(stderr, "mq: ") {
			t.Errorf("mq -a %s: exit %d, stderr %q; want an mq: error and non-zero exit", addr, code, stderr)
		}
	}
}

// TestRootOwner checks that the root belongs to the user running mq
// (SPEC §3.1).
func TestRootOwner(t *testing.T) {
	s := startMQ(t)
	d, err := s.attach(t, "glenda", "").Stat("/")
	if err != nil {
		t.Fatal(err)
	}
	want := &plan9.Dir{Name: "/", Uid: owner(t), Gid: owner(t), Muid: owner(t),
		Mode: plan9.DMDIR | 0775, Qid: plan9.Qid{Path: 0xA000000000000000, Type: plan9.QTDIR}}
	d.Atime, d.Mtime = 0, 0
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("root (-want +got):\n%s", diff)
	}
}

// TestRootOwnerSetuid checks that the root belongs to the effective
// user, not the real one: a copy of mq set-uid to nobody, run by root,
// serves a root owned by nobody (SPEC §3.1). It needs root to make it.
func TestRootOwnerSetuid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a set-uid mq needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	dir, err := os.MkdirTemp("", "setuid")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ns := filepath.Join(dir, "ns")
	mq := filepath.Join(dir, "mq")
	b, err := os.ReadFile(bin("mq"))
	if err != nil {
		t.Fatal(err)
	}
	// nobody must reach the binary and post in ns; chown clears the
	// set-uid bit, so it is set after.
	for _, err := range []error{os.Chmod(dir, 0755), os.Mkdir(ns, 0700), os.Chmod(ns, 0777),
		os.WriteFile(mq, b, 0755), os.Chown(mq, uid, -1), os.Chmod(mq, 0755|os.ModeSetuid)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(mq, "-s", "mq")
	cmd.Env = env(ns)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	s := &mqServer{ns: ns, name: "mq", cmd: cmd, stderr: &stderr}
	waitDial(t, s.socket())
	if fi, err := os.Stat(s.socket()); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Skipf("the set-uid bit is not honoured here (a nosuid mount?): %v", err)
	}
	d, err := s.attach(t, "glenda", "").Stat("/")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{d.Uid, d.Gid, d.Muid}
	want := []string{nobody.Username, nobody.Username, nobody.Username}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("root's uid, gid, muid run set-uid to nobody by %s (-want +got):\n%s", owner(t), diff)
	}

	// With no $NAMESPACE, the socket goes in the real user's name
	// space directory, where plan9port's tools look (SPEC §2).
	disp := fmt.Sprintf(":mqtest%d", os.Getpid())
	nsdir := fmt.Sprintf("/tmp/ns.%s.%s", owner(t), disp)
	t.Cleanup(func() { os.RemoveAll(nsdir) })
	cmd = exec.Command(mq, "-s", "mq")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "NAMESPACE=") && !strings.HasPrefix(e, "DISPLAY=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "DISPLAY="+disp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitDial(t, filepath.Join(nsdir, "mq"))
}

// TestCapFlag checks that -M caps what the queues hold (SPEC §2, §7.2).
func TestCapFlag(t *testing.T) {
	s := startMQ(t, "-M", "1K")
	fs := s.attach(t, owner(t), "")
	f, err := fs.Create("s", plan9.OWRITE, 0664)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1024)); err != nil {
		t.Errorf("writing 1K under -M 1K: %v", err)
	}
	if _, err := f.Write(make([]byte, 1025)); err == nil || err.Error() != "no buffer space" {
		t.Errorf("writing 1K+1 under -M 1K: %v, want no buffer space", err)
	}
}

// TestMountWithout9pfuse checks that -m says so clearly when 9pfuse is
// not on $PATH, and exits non-zero (SPEC §2).
func TestMountWithout9pfuse(t *testing.T) {
	cmd := exec.Command(bin("mq"), "-m", t.TempDir())
	cmd.Env = append(env(t.TempDir()), "PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "9pfuse") {
		t.Errorf("mq -m without 9pfuse: %v, output %q; want failure naming 9pfuse", err, out)
	}
}

// TestPostRefusesLive checks that -s refuses to start where a live
// server answers, leaving that one alone (SPEC §2).
func TestPostRefusesLive(t *testing.T) {
	s := startMQ(t)
	cmd := exec.Command(bin("mq"), "-s", s.name)
	cmd.Env = env(s.ns)
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("a second mq -s %s started; output %q", s.name, out)
	}
	if _, err := s.attach(t, owner(t), "").Stat("/"); err != nil {
		t.Errorf("the first server after the second one tried: %v", err)
	}
}

// TestPostReplacesStale checks that -s replaces a socket no server
// answers on, and removes its own on SIGINT and SIGTERM (SPEC §2).
func TestPostReplacesStale(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ns := t.TempDir()
			sock := filepath.Join(ns, "mq")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close() // a socket file nobody answers on

			cmd := exec.Command(bin("mq"), "-s", "mq")
			cmd.Env = env(ns)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
			defer timer.Stop()
			waitDial(t, sock)
			cmd.Process.Signal(sig)
			err = cmd.Wait()
			if err == nil {
				t.Errorf("mq exited 0 on %v", sig)
			}
			if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after %v the socket is still there: %v; stderr %q", sig, err, stderr.String())
			}
		})
	}
}

// waitDial waits until a server answers on the Unix socket path.
func waitDial(t *testing.T, path string) {
	t.Helper()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return
		}
		if i == 1000 {
			t.Fatalf("nothing answers on %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDefaultNamespace checks the plan9port name space directory used
// when $NAMESPACE is unset: /tmp/ns.USER.DISPLAY, DISPLAY's ".0"
// dropped, made mode 0700 (SPEC §2).
func TestDefaultNamespace(t *testing.T) {
	display := fmt.Sprintf(":mqtest%d", os.Getpid())
	dir := fmt.Sprintf("/tmp/ns.%s.%s", owner(t), display)
	os.RemoveAll(dir)
	t.Cleanup(func() { os.RemoveAll(dir) })
	cmd := exec.Command(bin("mq"), "-s", "mq")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "NAMESPACE=") && !strings.HasPrefix(e, "DISPLAY=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "DISPLAY="+display+".0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitDial(t, filepath.Join(dir, "mq"))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0700 {
		t.Errorf("%s has mode %v, want 0700", dir, fi.Mode().Perm())
	}
}

// TestUsersFlag checks that -u loads group membership (SPEC §2): bob,
// a member of the owner's group, may create in the root; without the
// file he may not.
func TestUsersFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	text := fmt.Sprintf("1:%s:%s:bob\n", owner(t), owner(t))
	if err := os.WriteFile(file, []byte(text), 0644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		flags []string
		ok    bool
	}{
		{nil, false},
		{[]string{"-u", file}, true},
	} {
		s := startMQ(t, tt.flags...)
		f, err := s.attach(t, "bob", "").Create("s", plan9.OWRITE, 0664)
		if (err == nil) != tt.ok {
			t.Errorf("mq %v: bob creating in the root: %v, want success %v", tt.flags, err, tt.ok)
		}
		if err == nil {
			f.Close()
		}
	}
	if _, stderr, code := runMQ(t, "-u", filepath.Join(t.TempDir(), "nosuch")); code == 0 || !strings.HasPrefix(stderr, "mq: ") {
		t.Errorf("mq -u nosuch: exit %d, stderr %q; want an mq: error and non-zero exit", code, stderr)
	}
}
