//go:build !plan9

// Package exits ends a command with a Plan 9 exit string, which the
// shell's $status shows (SPEC §2, §10), where os.Exit can give only a
// number.
package exits

import "os"

// Exit ends the program: successfully when msg is empty, else with
// status 1, as Unix has no exit strings.
func Exit(msg string) {
	if msg == "" {
		os.Exit(0)
	}
	os.Exit(1)
}
