//go:build !plan9

package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// manPages are the manual pages, with the command each documents and
// the arguments that make it print its usage.
var manPages = []struct {
	page, cmd string
	bad       []string
}{
	{"4/mq", "mq", []string{"-x"}},
	{"1/mq-cat", "mq-cat", nil},
	{"1/attach", "attach", nil},
}

// The sections every page has, in this order, as Plan 9's pages do.
var manSections = []string{"NAME", "SYNOPSIS", "DESCRIPTION", "EXAMPLES", "FILES", "SOURCE", `"SEE ALSO"`, "BUGS"}

// The manual pages are troff -man that groff renders without a single
// warning, with Plan 9's sections, and their synopses are the usage
// lines the commands print.
func TestManPages(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff to render the manual pages: apt-get install groff")
	}
	for _, m := range manPages {
		t.Run(m.page, func(t *testing.T) {
			path := filepath.Join("..", "man", m.page)
			var stderr bytes.Buffer
			cmd := exec.Command(groff, "-man", "-ww", "-Tutf8", "-P-cbou", path)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || stderr.Len() != 0 {
				t.Fatalf("groff -man -ww %s: %v\n%s", path, err, stderr.String())
			}
			checkSections(t, path)
			t.Run("synopsis", func(t *testing.T) { checkSynopsis(t, m.cmd, m.bad, string(out)) })
		})
	}
}

func checkSections(t *testing.T, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^\.SH (.*)$`).FindAllSubmatch(src, -1) {
		for _, want := range manSections {
			if string(m[1]) == want {
				got = append(got, want)
			}
		}
	}
	if diff := cmp.Diff(manSections, got); diff != "" {
		t.Errorf("%s: sections (-want +got):\n%s", path, diff)
	}
}

// checkSynopsis compares the rendered SYNOPSIS with what the command
// prints for a bad command line, both in one spacing.
func checkSynopsis(t *testing.T, name string, bad []string, rendered string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin(name), bad...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("%s %s: exit 0, want a usage error", name, strings.Join(bad, " "))
	}
	if !strings.HasPrefix(stderr.String(), "usage: ") {
		t.Skipf("%s prints no usage line yet (%q): synopsis not checked", name, stderr.String())
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		want = append(want, synopsisLine(strings.TrimPrefix(strings.TrimSpace(l), "usage: ")))
	}
	var got []string
	in := false
	for _, l := range strings.Split(rendered, "\n") {
		switch {
		case l == "SYNOPSIS":
			in = true
		case in && strings.TrimSpace(l) == "":
			in = false
		case in && len(got) > 0 && !strings.HasPrefix(strings.TrimSpace(l), name+" "):
			// A synopsis too long for the page goes on on the next line.
			got[len(got)-1] = synopsisLine(got[len(got)-1] + " " + l)
		case in:
			got = append(got, synopsisLine(l))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: SYNOPSIS differs from the usage it prints (-usage +page):\n%s", name, diff)
	}
}

// synopsisLine puts a synopsis line in one spacing: "[ -p ]" as "[-p]".
func synopsisLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("[ ", "[", " ]", "]").Replace(s)
}
