//go:build !plan9

package mqclient

import "os"

// qidVers is the qid.vers of the file fi describes: a Unix mount does
// not tell it.
func qidVers(os.FileInfo) uint32 { return 0 }
