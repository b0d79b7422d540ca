//go:build plan9

package mqclient

import (
	"os"
	"syscall"
)

// qidVers is the qid.vers of the file fi describes.
func qidVers(fi os.FileInfo) uint32 {
	if d, ok := fi.Sys().(*syscall.Dir); ok {
		return d.Qid.Vers
	}
	return 0
}
