//go:build !plan9

package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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

// A name space directory named by $NAMESPACE that does not yet exist
// is made mode 0700 and ours, so other users cannot reach the socket in
// it (SPEC §2 -s).
func TestNamespaceDirPrivate(t *testing.T) {
	ns := filepath.Join(t.TempDir(), "deeper", "ns")
	cmd := exec.Command(bin("mq"), "-s", "mq")
	cmd.Env = env(ns)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitDial(t, filepath.Join(ns, "mq"))
	fi, err := os.Lstat(ns)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0700 {
		t.Errorf("%s: mode %v, want a directory mode 0700", ns, fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("%s: owner %d, want %d", ns, st.Uid, os.Geteuid())
	}
}

// A /tmp/ns.USER.DISPLAY directory that someone else made, or that
// others can reach, is refused rather than used, as plan9port does:
// another user could have made it to catch the socket (SPEC §2 -s).
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
			disp := fmt.Sprintf(":mqbad%dx%d", os.Getpid(), i)
			dir := fmt.Sprintf("/tmp/ns.%s.%s", owner(t), disp)
			os.RemoveAll(dir)
			t.Cleanup(func() { os.RemoveAll(dir) })
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			// The timeout guards against a server that serves anyway.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin("mq"), "-s", "mq")
			cmd.Env = displayEnv(disp)
			out, err := cmd.CombinedOutput()
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
