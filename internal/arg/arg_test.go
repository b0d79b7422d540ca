package arg

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args      []string
		wantFlags []Flag
		wantRest  []string
		wantErr   bool
	}{
		{[]string{"-Ds", "detach"}, []Flag{{'D', ""}, {'s', "detach"}}, []string{}, false},
		{[]string{"-sdetach", "x"}, []Flag{{'s', "detach"}}, []string{"x"}, false},
		{[]string{"-D", "-M", "64K", "--", "-x"}, []Flag{{'D', ""}, {'M', "64K"}}, []string{"-x"}, false},
		{[]string{"a", "-D"}, nil, []string{"a", "-D"}, false},
		{[]string{"-", "a"}, nil, []string{"-", "a"}, false},
		{[]string{"-x"}, nil, nil, true},
		{[]string{"-s"}, nil, nil, true},
	}
	for _, tt := range tests {
		flags, rest, err := Parse(tt.args, "DM:s:")
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if diff := cmp.Diff(tt.wantFlags, flags); diff != "" {
			t.Errorf("Parse(%q) flags (-want +got):\n%s", tt.args, diff)
		}
		if diff := cmp.Diff(tt.wantRest, rest, cmp.Comparer(func(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b)) })); diff != "" {
			t.Errorf("Parse(%q) rest (-want +got):\n%s", tt.args, diff)
		}
	}
}
