//go:build !plan9

package main

import "os"

// exitStatus exits as the program did (SPEC §10): with its exit code.
func exitStatus(status string) { os.Exit(exitCode(status)) }
