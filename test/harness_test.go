//go:build !plan9

// Package test holds end-to-end tests: they build the real mq, mq-cat
// and attach binaries and run them as a user would.
package test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"9fans.net/go/plan9/client"
)

// binDir holds the binaries built once for all tests.
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(writersEnv) != "" {
		runWriters()
		return
	}
	if os.Getenv(bigWriteEnv) != "" {
		runBigWrite()
		return
	}
	dir, err := os.MkdirTemp("", "mqtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, b := range []struct{ out, pkg string }{
		{"mq", ".."},
		{"mq-cat", "../mqcat"},
		{"attach", "../attach"},
	} {
		cmd := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", b.pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bin is the path of a built binary.
func bin(name string) string { return filepath.Join(binDir, name) }

// env is the environment for the commands under test: the binaries
// first on $PATH and the name space directory ns, which also holds
// their $XDG_STATE_HOME, so that an mq attach starts keeps its history
// there and never in the user's (SPEC §11.6). ($HOME stays: go, run by
// tests that build, keeps its caches there.)
func env(ns string) []string {
	return append(os.Environ(),
		"NAMESPACE="+ns,
		"XDG_STATE_HOME="+filepath.Join(ns, "state"),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// mqServer is a running `mq -s name` with its own name space directory.
type mqServer struct {
	ns, name string
	cmd      *exec.Cmd
	stderr   *bytes.Buffer // unless started with startMQStderr
}

// startMQ runs `mq -s name` with extra flags in a fresh name space
// directory and waits until its socket answers.
func startMQ(t *testing.T, flags ...string) *mqServer {
	t.Helper()
	s := new(bytes.Buffer)
	m := startMQStderr(t, s, flags...)
	m.stderr = s
	return m
}

// startMQStderr is startMQ with standard error going to w.
func startMQStderr(t *testing.T, w io.Writer, flags ...string) *mqServer {
	t.Helper()
	ns, err := os.MkdirTemp("", "ns")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ns) })
	s := &mqServer{ns: ns, name: "mq"}
	s.cmd = exec.Command(bin("mq"), append(flags, "-s", s.name)...)
	s.cmd.Env = env(ns)
	s.cmd.Stderr = w
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	})
	sock := filepath.Join(ns, s.name)
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return s
		}
		if i == 500 {
			if b, ok := w.(fmt.Stringer); ok {
				t.Fatalf("mq did not post %s; stderr:\n%s", sock, b)
			}
			t.Fatalf("mq did not post %s", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// owner is the login name mq runs as, and so the root's owner.
func owner(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// socket is the path of the server's posted socket.
func (s *mqServer) socket() string { return filepath.Join(s.ns, s.name) }

// attach dials the server and attaches as user to aname.
func (s *mqServer) attach(t *testing.T, user, aname string) *client.Fsys {
	t.Helper()
	c, err := client.Dial("unix", s.socket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fs, err := c.Attach(nil, user, aname)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}
