package main

import "testing"

// SPEC §10: on Plan 9 the status line is the exit string as wait(2)
// gives it, unquoted, or ok when it is empty.
func TestExitString(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"", "ok"},
		{"''", "ok"},
		{"'rc 60: broken'", "rc 60: broken"},
		{"'rc 60: it''s broken'", "rc 60: it's broken"},
		{"'cat 7: ''x'' missing'", "cat 7: 'x' missing"},
		{"'sleep 12: sys: note: interrupt'", "sleep 12: sys: note: interrupt"},
		{"plain", "plain"},
		{"a'b c'd", "ab cd"},
		{"''''", "'"},
	} {
		if got := exitString(tc.msg); got != tc.want {
			t.Errorf("exitString(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}
