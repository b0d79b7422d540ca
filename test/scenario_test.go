//go:build !plan9

package test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/google/go-cmp/cmp"
)

// scenarioSteps names the steps of TestScenario, in order. test/9front.rc
// runs the same steps, in the same order and under the same names,
// through the Plan 9 kernel's mount driver; TestRcScript keeps
// the two in step.
var scenarioSteps = []string{
	"post",
	"taken",
	"usage",
	"root",
	"group",
	"ctldefaults",
	"badctl",
	"replay",
	"streams",
	"session",
	"order",
	"eof",
	"exit",
	"clear",
	"depth",
	"remove",
	"mount",
	"unpost",
}

// TestScenario is the README's session, end to end: a shell whose
// standard input, output and error are mq streams, and the main SPEC
// points around it. On Unix, where no kernel mounts 9P, the files are
// reached over 9P with client.Fsys and the shell's descriptors are fed
// through it.
func TestScenario(t *testing.T) {
	top := t // what lives across steps is cleaned up when the test ends
	var (
		srv   *mqServer
		fs    *client.Fsys
		shell *exec.Cmd
		fwd   chan error // the copy from rc/fd0 to the shell's input
	)
	steps := map[string]func(t *testing.T){
		// SPEC §2: -s posts the service and it answers.
		"post": func(t *testing.T) {
			srv = startMQ(top)
			if _, err := os.Stat(srv.socket()); err != nil {
				t.Fatal(err)
			}
		},
		// SPEC §2: a second server under a taken name refuses to start.
		"taken": func(t *testing.T) {
			out, err := mqIn(srv.ns, "-s", srv.name)
			if err == nil {
				t.Fatalf("mq -s %s with %s live: exit 0, want failure; stderr %q", srv.name, srv.name, out)
			}
			if !strings.Contains(out, srv.socket()) {
				t.Errorf("stderr %q does not name %s", out, srv.socket())
			}
		},
		// SPEC §2: a bad flag prints the usage line and fails.
		"usage": func(t *testing.T) {
			out, err := mqIn(srv.ns, "-x")
			if err == nil {
				t.Fatal("mq -x: exit 0, want failure")
			}
			want := "usage: mq [-DS] [-a addr] [-m mtpt] [-M size] [-r dir] [-s name] [-u users]\n"
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("mq -x stderr (-want +got):\n%s", diff)
			}
		},
		// SPEC §3.1: the root group.
		"root": func(t *testing.T) {
			fs = srv.attach(top, owner(t), "") // the owner of the root (§3.1)
			d, err := fs.Stat("/")
			if err != nil {
				t.Fatal(err)
			}
			if d.Qid.Path != 0xA000000000000000 || d.Qid.Type&plan9.QTDIR == 0 || d.Mode != plan9.DMDIR|0775 {
				t.Errorf("root: qid %v mode %v, want path a000000000000000, QTDIR, mode DMDIR|0775", d.Qid, d.Mode)
			}
		},
		// SPEC §3.2: mkdir makes a group with ctl and order.
		"group": func(t *testing.T) {
			f, err := fs.Create("rc", plan9.OREAD, plan9.DMDIR|0775)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if diff := cmp.Diff([]string{"ctl", "order"}, dirNames(t, fs, "rc")); diff != "" {
				t.Errorf("ls rc (-want +got):\n%s", diff)
			}
		},
		// SPEC §4.1: a new group's configuration.
		"ctldefaults": func(t *testing.T) {
			want := "data message\nreplay off\ndepth 0\nwait off\n"
			if diff := cmp.Diff(want, readToEnd(t, fs, "rc/ctl")); diff != "" {
				t.Errorf("cat rc/ctl (-want +got):\n%s", diff)
			}
		},
		// SPEC §4.2: a bad command fails, naming the line.
		"badctl": func(t *testing.T) {
			err := writeMsg(fs, "rc/ctl", "frob\n")
			if err == nil || err.Error() != `unknown control message "frob"` {
				t.Errorf("echo frob >rc/ctl: %v, want unknown control message \"frob\"", err)
			}
		},
		// SPEC §4.2, §4.1: replay all, read back as written.
		"replay": func(t *testing.T) {
			if err := writeMsg(fs, "rc/ctl", "replay all\n"); err != nil {
				t.Fatal(err)
			}
			if ctl := readToEnd(t, fs, "rc/ctl"); !strings.Contains(ctl, "replay all\n") {
				t.Errorf("cat rc/ctl after replay all:\n%s", ctl)
			}
		},
		// SPEC §3.2, §3.4: touch makes empty append-only streams.
		"streams": func(t *testing.T) {
			for _, s := range []string{"fd0", "fd1", "fd2"} {
				f, err := fs.Create("rc/"+s, plan9.OWRITE, 0664)
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
				d, err := fs.Stat("rc/" + s)
				if err != nil {
					t.Fatal(err)
				}
				if d.Mode&plan9.DMAPPEND == 0 || d.Length != 0 {
					t.Errorf("rc/%s: mode %v length %d, want DMAPPEND, 0", s, d.Mode, d.Length)
				}
			}
		},
		// README; SPEC §5.1, §6.1, §6.2: rc -i <fd0 >>fd1 >>[2]fd2 &, a
		// command written to fd0, its output read from fd1.
		"session": func(t *testing.T) {
			shell, fwd = startShell(top, fs, "rc")
			if err := writeMsg(fs, "rc/fd0", "echo hello\n"); err != nil {
				t.Fatal(err)
			}
			got := readFirst(t, fs, "rc/fd1")
			if got != "hello\n" {
				t.Errorf("read <rc/fd1: %q, want %q", got, "hello\n")
			}
		},
		// SPEC §5.1, §6.3: order lists the command before its output.
		"order": func(t *testing.T) {
			f, err := fs.Open("rc/order", plan9.OREAD)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var seen []string
			for len(seen) == 0 || seen[len(seen)-1] != "fd1" {
				b := make([]byte, 8192)
				n, err := f.Read(b)
				if err != nil {
					t.Fatalf("read rc/order after %q: %v", seen, err)
				}
				seen = append(seen, strings.TrimSuffix(string(b[:n]), "\n"))
			}
			if !strings.Contains(strings.Join(seen, " "), "fd0") {
				t.Errorf("rc/order up to fd1: %q, want fd0 before fd1", seen)
			}
		},
		// SPEC §4.2: eof ends an open reader of fd1 after what it had.
		"eof": func(t *testing.T) {
			f, err := fs.Open("rc/fd1", plan9.OREAD)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			done := make(chan string)
			go func() {
				b, _ := io.ReadAll(f)
				done <- string(b)
			}()
			if err := writeMsg(fs, "rc/ctl", "eof fd1\n"); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-done:
				if got != "hello\n" {
					t.Errorf("cat rc/fd1 ended by eof: %q, want %q", got, "hello\n")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("cat rc/fd1 still reading 10s after eof fd1")
			}
		},
		// README: the shell ends when told to; its streams stay.
		"exit": func(t *testing.T) {
			if err := writeMsg(fs, "rc/fd0", "exit\n"); err != nil {
				t.Fatal(err)
			}
			if err := waitShell(shell, fs, fwd); err != nil {
				t.Errorf("shell: %v", err)
			}
		},
		// SPEC §4.2, §4.3: clear empties the history at once.
		"clear": func(t *testing.T) {
			if err := writeMsg(fs, "rc/ctl", "clear\n"); err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"fd0", "fd1", "fd2"} {
				if d, err := fs.Stat("rc/" + s); err != nil || d.Length != 0 {
					t.Errorf("rc/%s after clear: %v %v, want length 0", s, d, err)
				}
			}
		},
		// SPEC §4.1, §7.2, §6.2: depth 2 keeps the newest two; static
		// reads them back to back.
		"depth": func(t *testing.T) {
			f, err := fs.Create("d", plan9.OREAD, plan9.DMDIR|0775)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			for _, c := range []string{"replay all\n", "depth 2\n"} {
				if err := writeMsg(fs, "d/ctl", c); err != nil {
					t.Fatal(err)
				}
			}
			if f, err = fs.Create("d/log", plan9.OWRITE, 0664); err != nil {
				t.Fatal(err)
			}
			f.Close()
			for _, m := range []string{"1\n", "2\n", "3\n"} {
				if err := writeMsg(fs, "d/log", m); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeMsg(fs, "d/ctl", "data static\n"); err != nil {
				t.Fatal(err)
			}
			if got := readToEnd(t, fs, "d/log"); got != "2\n3\n" {
				t.Errorf("cat d/log: %q, want %q", got, "2\n3\n")
			}
			if ctl := readToEnd(t, fs, "d/ctl"); !strings.Contains(ctl, "depth 2\n") {
				t.Errorf("cat d/ctl:\n%s", ctl)
			}
			if d, err := fs.Stat("d/log"); err != nil || d.Length != 4 {
				t.Errorf("stat d/log: %v %v, want length 4", d, err)
			}
		},
		// SPEC §3.5: ctl stays, a group with streams stays, rm -rf
		// removes it.
		"remove": func(t *testing.T) {
			if err := fs.Remove("d/ctl"); err == nil || err.Error() != "permission denied" {
				t.Errorf("rm d/ctl: %v, want permission denied", err)
			}
			if err := fs.Remove("d"); err == nil || err.Error() != "directory not empty" {
				t.Errorf("rm d: %v, want directory not empty", err)
			}
			for _, n := range []string{"d/log", "d/ctl", "d/order", "d"} { // rm -rf d
				fs.Remove(n)
			}
			if _, err := fs.Stat("d"); err == nil {
				t.Error("d still there after rm -rf d")
			}
		},
		// SPEC §2: -m mounts with plan9port's 9pfuse on Unix and says so
		// clearly when it is missing.
		"mount": func(t *testing.T) {
			cmd := exec.Command(bin("mq"), "-m", t.TempDir())
			cmd.Env = append(env(srv.ns), "PATH="+binDir) // no 9pfuse here
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "9pfuse") {
				t.Errorf("mq -m without 9pfuse: %v, output %q; want failure naming 9pfuse", err, out)
			}
		},
		// SPEC §2: the service goes away when mq exits.
		"unpost": func(t *testing.T) {
			srv.cmd.Process.Signal(syscall.SIGTERM)
			srv.cmd.Wait()
			if _, err := os.Stat(srv.socket()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after mq exited: stat %s: %v, want does not exist", srv.socket(), err)
			}
		},
	}
	for _, name := range scenarioSteps {
		if !t.Run(name, steps[name]) {
			return // later steps build on this one
		}
	}
}

// mqIn runs mq with args in name space ns and returns its standard error.
func mqIn(ns string, args ...string) (string, error) {
	cmd := exec.Command(bin("mq"), args...)
	cmd.Env = env(ns)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// dirNames lists a directory, as ls -p does.
func dirNames(t *testing.T, fs *client.Fsys, dir string) []string {
	t.Helper()
	f, err := fs.Open(dir, plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ds, err := f.Dirreadall()
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, d := range ds {
		n = append(n, d.Name)
	}
	return n
}

// readToEnd reads a file that ends (ctl, or a stream in static mode).
func readToEnd(t *testing.T, fs *client.Fsys, name string) string {
	t.Helper()
	f, err := fs.Open(name, plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// readFirst opens a stream and reads its first message.
func readFirst(t *testing.T, fs *client.Fsys, name string) string {
	t.Helper()
	f, err := fs.Open(name, plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 8192)
	n, err := f.Read(b)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b[:n])
}

// writeMsg writes s to name in one write, as echo s >>name does.
func writeMsg(fs *client.Fsys, name, s string) error {
	f, err := fs.Open(name, plan9.OWRITE)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(s))
	return err
}

// fidWriter makes each write of a command's output one message.
type fidWriter struct{ f *client.Fid }

func (w fidWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

// startShell runs /bin/sh -i with standard input read from group/fd0
// and output and errors written to group/fd1 and group/fd2: the Unix
// stand-in for rc -i <fd0 >>fd1 >>[2]fd2 &. The returned channel
// reports the end of the copy from fd0.
func startShell(t *testing.T, fs *client.Fsys, group string) (*exec.Cmd, chan error) {
	t.Helper()
	open := func(s string, mode uint8) *client.Fid {
		f, err := fs.Open(group+"/"+s, mode)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	in, out, errs := open("fd0", plan9.OREAD), open("fd1", plan9.OWRITE), open("fd2", plan9.OWRITE)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-i")
	cmd.Stdin = pr
	cmd.Stdout = fidWriter{out}
	cmd.Stderr = fidWriter{errs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	fwd := make(chan error, 1)
	go func() {
		_, err := io.Copy(pw, in)
		pw.Close()
		fwd <- err
	}()
	return cmd, fwd
}

// waitShell waits for the shell to exit, then ends the copy from fd0
// with eof (SPEC §4.2) and waits for that too.
func waitShell(cmd *exec.Cmd, fs *client.Fsys, fwd chan error) error {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			return err
		}
	case <-time.After(10 * time.Second):
		return errors.New("still running 10s after exit")
	}
	if err := writeMsg(fs, "rc/ctl", "eof fd0\n"); err != nil {
		return err
	}
	select {
	case err := <-fwd:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("reader of fd0 still reading 10s after eof fd0")
	}
}
