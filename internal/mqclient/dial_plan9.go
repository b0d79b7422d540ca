//go:build plan9

package mqclient

import (
	"os"
	"strings"
	"syscall"
)

// User is the name the commands put in service names.
func User() string {
	b, err := os.ReadFile("/dev/user")
	if err != nil || len(b) == 0 {
		return "none"
	}
	return strings.TrimSpace(string(b))
}

// rootPath is the qid.path of an mq root (SPEC §3.1).
const rootPath = 0xA000000000000000

// Mounted says whether an mq service is mounted on mtpt.
func Mounted(mtpt string) bool {
	fi, err := os.Stat(mtpt)
	if err != nil {
		return false
	}
	d, ok := fi.Sys().(*syscall.Dir)
	return ok && d.Qid.Path == rootPath
}

// Service is the tree of the posted service /srv/srv, mounted on
// /n/srv (as srv(4) does) unless an mq is there already.
func Service(srv string) (FS, error) {
	mtpt := "/n/" + srv
	if !Mounted(mtpt) {
		fd, err := syscall.Open("/srv/"+srv, syscall.O_RDWR)
		if err != nil {
			return nil, err
		}
		err = syscall.Mount(fd, -1, mtpt, syscall.MREPL|syscall.MCREATE, "")
		syscall.Close(fd)
		if err != nil {
			return nil, err
		}
	}
	return NameSpace(mtpt), nil
}
