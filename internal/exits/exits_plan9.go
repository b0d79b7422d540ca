//go:build plan9

// Package exits ends a command with a Plan 9 exit string, which the
// shell's $status shows (SPEC §2, §10), where os.Exit can give only a
// number.
package exits

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// mainPid is the process the shell started and waits for. Package
// variables are set during init, which the runtime runs on that proc.
var mainPid = syscall.Getpid()

// Exit ends the program with the exit string msg ("" for success).
// exits(2) called directly would end this proc alone, leaving the
// runtime's other procs running. So the proc the shell waits for
// exits with msg, and then os.Exit, from another proc, ends the rest.
func Exit(msg string) {
	if msg == "" {
		os.Exit(0)
	}
	if max := syscall.ERRMAX - 1 - len(exitNote); len(msg) > max {
		msg = msg[:max] // as the note below must be, and the kernel cuts it anyway
	}
	runtime.LockOSThread() // no other goroutine runs on this proc now
	if syscall.Getpid() == mainPid {
		go reapOthers()
		exits(msg)
	}
	// The runtime's note handler exits a proc that gets "go: exit S"
	// with status S (proc(3): writing note posts a note).
	if f, err := os.OpenFile(fmt.Sprintf("/proc/%d/note", mainPid), os.O_WRONLY, 0); err == nil {
		f.WriteString(exitNote + msg)
		f.Close()
	}
	reapOthers()
}

// reapOthers waits until the main proc has gone, so that the runtime's
// exit cannot reach it first with another status, then exits the rest.
// There is nothing to wait on for a proc that is not a child, so it
// looks for its /proc entry, for at most a few seconds.
func reapOthers() {
	status := fmt.Sprintf("/proc/%d/status", mainPid)
	for i := 0; i < 5000; i++ {
		if _, err := os.Stat(status); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	os.Exit(1)
}

// exitNote starts the note that has the runtime exit a proc.
const exitNote = "go: exit "

// exits is exits(2) for this proc alone.
func exits(msg string) {
	b := append([]byte(msg), 0)
	syscall.Syscall(syscall.SYS_EXITS, uintptr(unsafe.Pointer(&b[0])), 0, 0)
}
