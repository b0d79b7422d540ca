//go:build plan9

package mqclient

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// iounit is the largest read or write f's channel carries in one
// message, as iounit(2) finds it: the field after the qid in
// /fd/Nctl. 0 if it cannot be told.
func iounit(f *os.File) int {
	b, err := os.ReadFile(fmt.Sprintf("/fd/%dctl", f.Fd()))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), ")")
	fields := strings.Fields(rest)
	if !ok || len(fields) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(fields[0])
	return n
}

// IOUnit is iounit for a file opened outside this package: 0 if it
// cannot be told.
func IOUnit(f *os.File) int { return iounit(f) }
