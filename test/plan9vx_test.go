//go:build !plan9

package test

// The Plan 9 side run for real: mq, mq-cat and attach built for
// plan9/386 run on a Plan 9 kernel (9vx, the kernel as a Linux
// process; see ../shared/plan9vx/README.md), through its mount driver,
// /srv, notes and name spaces, by the rc scripts a person runs on
// Plan 9 or 9front.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// plan9Scripts are the rc scripts run on the kernel, each in one boot,
// with the seconds it may take: about 20, 35 and 105 on an idle
// machine, and several times that on a loaded one (everything is
// emulated twice over).
var plan9Scripts = []struct {
	name    string
	timeout string
}{
	{"9front.rc", "300"},
	{"mq.rc", "300"},
	{"attach.rc", "480"},
}

// plan9vxRun is the kernel's run command: $MQ_PLAN9VX, else
// ../shared/plan9vx/run beside the repository; "" if there is none.
func plan9vxRun() string {
	p := os.Getenv("MQ_PLAN9VX")
	if p == "" {
		p = filepath.Join("..", "..", "shared", "plan9vx", "run")
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0111 == 0 {
		return ""
	}
	return p
}

// SPEC §2, §8.6, §9, §10 on a Plan 9 kernel: every step of
// test/9front.rc, test/mq.rc and test/attach.rc passes.
func TestPlan9Kernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Plan 9 kernel takes minutes")
	}
	run := plan9vxRun()
	if run == "" {
		t.Skip("no Plan 9 kernel: ../shared/plan9vx/run not found (set MQ_PLAN9VX to its run script)")
	}
	if _, err := exec.LookPath("qemu-i386-static"); err != nil {
		t.Skip("no qemu-i386-static, which runs the Plan 9 kernel: apt-get install qemu-user-static")
	}
	// Not t.TempDir: the path goes to rc, where # starts a comment.
	dir, err := os.MkdirTemp("", "mqplan9")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, b := range []struct{ out, pkg string }{
		{"mq", ".."},
		{"mq-cat", "../mqcat"},
		{"attach", "../attach"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Env = append(os.Environ(), "GOOS=plan9", "GOARCH=386", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("GOOS=plan9 GOARCH=386 go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	for _, s := range plan9Scripts {
		t.Run(s.name, func(t *testing.T) {
			out, err := exec.Command(run, "-t", s.timeout, "-b", dir, s.name).CombinedOutput()
			// 9vx's kernel, run under qemu's user-mode emulator,
			// now and then faults inside itself ("9vx panic:
			// kernel fault"); that is the emulated kernel's defect,
			// not a result of the script, which gets one more boot.
			if panic := kernelPanic.Find(out); panic != nil {
				t.Logf("%s: the 9vx kernel faulted (%s); booting it again", s.name, panic)
				out, err = exec.Command(run, "-t", s.timeout, "-b", dir, s.name).CombinedOutput()
			}
			steps := regexp.MustCompile(`(?m)^(PASS|FAIL) .*$`).FindAll(out, -1)
			t.Logf("%s on Plan 9:\n%s", s.name, bytes.Join(steps, []byte("\n")))
			var failed []string
			for _, l := range steps {
				if bytes.HasPrefix(l, []byte("FAIL")) {
					failed = append(failed, string(l))
				}
			}
			if err != nil || len(failed) > 0 || !bytes.Contains(out, []byte("all steps passed")) {
				t.Errorf("%s on Plan 9: %v; failed steps:\n%s\nwhole console:\n%s",
					s.name, err, strings.Join(failed, "\n"), out)
			}
		})
	}
}

// kernelPanic is the line 9vx prints when its kernel faults.
var kernelPanic = regexp.MustCompile(`(?m)^\s*9vx panic: .*$`)

// The Plan 9 scripts are rc that Byron's rc parses (Plan 9's rc has no
// -n), so that a syntax error shows here and not only on the kernel.
func TestPlan9ScriptsParse(t *testing.T) {
	rc, err := exec.LookPath("rc.byron")
	if err != nil {
		t.Skip("no Byron rc to parse the scripts: apt-get install rc")
	}
	for _, s := range plan9Scripts {
		// rc -n reports syntax errors on standard error but exits 0.
		var stderr bytes.Buffer
		cmd := exec.Command(rc, "-n", s.name)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() != 0 {
			t.Errorf("rc -n %s: %v\n%s", s.name, err, stderr.String())
		}
	}
}
