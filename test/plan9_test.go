//go:build !plan9

package test

// mq is a Plan 9 program first: these tests check, from Unix, that it
// builds for Plan 9, that the mkfile does, and that the 9front test
// script stays correct rc and in step with TestScenario.

import (
	"bytes"
	"debug/plan9obj"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// plan9Arches are the Plan 9 architectures Go supports, with the a.out
// magic of each (a.out(6)).
var plan9Arches = []struct {
	arch  string
	magic uint32
}{
	{"386", plan9obj.Magic386},
	{"amd64", plan9obj.MagicAMD64},
	{"arm", plan9obj.MagicARM},
}

// goPlan9 runs the go command on the whole module for plan9/arch.
func goPlan9(t *testing.T, arch string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=plan9", "GOARCH="+arch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=plan9 GOARCH=%s go %s: %v\n%s", arch, strings.Join(args, " "), err, out)
	}
}

// SPEC §1: everything builds for Plan 9, and vets clean there.
func TestPlan9Build(t *testing.T) {
	for _, a := range plan9Arches {
		t.Run(a.arch, func(t *testing.T) { goPlan9(t, a.arch, "build", "./...") })
	}
	t.Run("vet", func(t *testing.T) { goPlan9(t, "amd64", "vet", "./...") })
}

// findMk is plan9port's or 9base's mk, or "" if there is none.
func findMk() string {
	if p, err := exec.LookPath("mk"); err == nil {
		return p
	}
	cands := []string{"/usr/lib/plan9/bin/mk", "/usr/local/plan9/bin/mk"}
	if p9 := os.Getenv("PLAN9"); p9 != "" {
		cands = append([]string{p9 + "/bin/mk"}, cands...)
	}
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// rcShells are the rc's a Unix mk may run recipes with, where present:
// Plan 9's (plan9port, 9base) and Byron's (Debian's rc package).
func rcShells() []string {
	var rcs []string
	seen := make(map[string]bool)
	cands := []string{"/usr/lib/plan9/bin/rc", "/usr/bin/rc.byron"}
	if p9 := os.Getenv("PLAN9"); p9 != "" {
		cands = append([]string{p9 + "/bin/rc"}, cands...)
	}
	for _, p := range cands {
		real, err := filepath.EvalSymlinks(p)
		if err == nil && !seen[real] {
			seen[real] = true
			rcs = append(rcs, p)
		}
	}
	return rcs
}

// runMk runs the mkfile's target with rc as the recipe shell and returns
// its output and error.
func runMk(t *testing.T, mkPath, rc string, args ...string) (string, error) {
	t.Helper()
	shdir, err := os.MkdirTemp("", "mkshell")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(shdir)
	if err := os.Symlink(rc, filepath.Join(shdir, "rc")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mkPath, args...)
	cmd.Dir = ".."
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "objtype=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "PATH="+shdir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The mkfile cross-builds the three commands for every Plan 9
// architecture with a Unix mk, whichever rc runs its recipes, and
// refuses to install anywhere but Plan 9.
func TestMkfile(t *testing.T) {
	mkPath := findMk()
	if mkPath == "" {
		t.Skip("no mk: install plan9port or Debian's 9base (apt-get install 9base)")
	}
	rcs := rcShells()
	if len(rcs) == 0 {
		t.Skip("no rc for mk's recipes: install 9base or rc")
	}
	for _, rc := range rcs {
		t.Run(rc, func(t *testing.T) {
			// Not t.TempDir: its name has a #, which starts a comment in rc.
			dir, err := os.MkdirTemp("", "mkcross")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			if out, err := runMk(t, mkPath, rc, "cross", "BINDIR="+dir); err != nil {
				t.Fatalf("mk cross: %v\n%s", err, out)
			}
			for _, a := range plan9Arches {
				for _, c := range []string{"mq", "mq-cat", "attach"} {
					checkAout(t, filepath.Join(dir, "plan9_"+a.arch, c), a.magic)
				}
			}
			checkInstall(t, mkPath, rc, dir)
			out, err := runMk(t, mkPath, rc, "install", "objtype=amd64", "BINDIR="+dir)
			if err == nil || !strings.Contains(out, "not a Plan 9 system") {
				t.Errorf("mk install on Unix: %v, output:\n%s\nwant a refusal", err, out)
			}
			out, err = runMk(t, mkPath, rc, "BINDIR="+dir)
			if err == nil || !strings.Contains(out, "$objtype is not set") {
				t.Errorf("mk without $objtype: %v, output:\n%s\nwant a refusal", err, out)
			}
		})
	}
}

// checkInstall runs mk install with no Go, as on a 9front machine the
// binaries were copied to, into a stand-in for a Plan 9 root: objtype
// is a path that makes /$objtype/bin a directory here. The amd64
// binaries in bindir play the copied ones.
func checkInstall(t *testing.T, mkPath, rc, bindir string) {
	t.Helper()
	root, err := os.MkdirTemp("", "mkroot")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	objtype := strings.TrimPrefix(root, "/")
	man := filepath.Join(root, "man")
	for _, d := range []string{"bin", "man/1", "man/4", "built"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0755); err != nil {
			t.Fatal(err)
		}
	}
	built := filepath.Join(root, "built")
	copied := filepath.Join(built, "plan9_"+objtype)
	if err := os.MkdirAll(copied, 0755); err != nil {
		t.Fatal(err)
	}
	want := make(map[string]string) // installed file: its source
	for _, c := range []string{"mq", "mq-cat", "attach"} {
		b, err := os.ReadFile(filepath.Join(bindir, "plan9_amd64", c))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copied, c), b, 0755); err != nil {
			t.Fatal(err)
		}
		want[filepath.Join(root, "bin", c)] = filepath.Join(copied, c)
	}
	for _, p := range []string{"4/mq", "1/mq-cat", "1/attach"} {
		want[filepath.Join(man, p)] = filepath.Join("..", "man", p)
	}
	out, err := runMk(t, mkPath, rc, "install", "objtype="+objtype, "BINDIR="+built, "MAN="+man, "GO=nosuchgo")
	if err != nil {
		t.Fatalf("mk install: %v\n%s", err, out)
	}
	for inst, src := range want {
		a, err1 := os.ReadFile(inst)
		b, err2 := os.ReadFile(src)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("mk install: %s is not a copy of %s (%v, %v)", inst, src, err1, err2)
		}
	}
}

// checkAout checks that path is a Plan 9 executable with the magic.
func checkAout(t *testing.T, path string, magic uint32) {
	t.Helper()
	f, err := plan9obj.Open(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	defer f.Close()
	if f.Magic != magic {
		t.Errorf("%s: a.out magic %#x, want %#x", path, f.Magic, magic)
	}
}

// test/9front.rc is rc that Byron's rc parses (Plan 9's rc has no -n),
// and its steps are TestScenario's, in order.
func TestRcScript(t *testing.T) {
	src, err := os.ReadFile("9front.rc")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, m := range regexp.MustCompile(`(?m)^step (\S+)$`).FindAllSubmatch(src, -1) {
		steps = append(steps, string(m[1]))
	}
	if diff := cmp.Diff(scenarioSteps, steps); diff != "" {
		t.Errorf("steps of 9front.rc differ from TestScenario's (-go +rc):\n%s", diff)
	}

	rc, err := exec.LookPath("rc.byron")
	if err != nil {
		t.Skip("no Byron rc to parse 9front.rc: apt-get install rc")
	}
	// rc -n reports syntax errors on standard error but exits 0.
	var stderr bytes.Buffer
	cmd := exec.Command(rc, "-n", "9front.rc")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() != 0 {
		t.Errorf("rc -n 9front.rc: %v\n%s", err, stderr.String())
	}
}
