//go:build plan9

// Bench measures mq against baselines over Unix socketpairs; it runs
// on Unix only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: not supported on Plan 9")
	os.Exit(1)
}
