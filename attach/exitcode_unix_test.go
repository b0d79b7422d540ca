//go:build !plan9

package main

import "testing"

// SPEC §10: an attacher exits with the program's status: its exit code,
// 128+N for signal N, and success for a Plan 9 program's ok.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   int
	}{
		{"0", 0},
		{"3", 3},
		{"137", 137},
		{"ok", 0},
		{"rc 60: broken", 1},
		{"256", 1},
		{"-1", 1},
		{"", 1},
	} {
		if got := exitCode(tc.status); got != tc.want {
			t.Errorf("exitCode(%q) = %d, want %d", tc.status, got, tc.want)
		}
	}
}
