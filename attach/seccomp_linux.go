package main

import (
	"encoding/binary"
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A write to a datagram socket longer than the socket's send buffer
// allows fails whole with EMSGSIZE. So that a program's large writes
// still work (SPEC §10), the program runs under a seccomp filter that
// hands the supervisor, through a listener, each write(2) on fd 1 or 2
// longer than the datagram limit and each writev(2) or pwritev2(2)
// there (their length is in memory a filter cannot read). The
// supervisor passes the data on itself and answers with the count, or
// lets the call go on as it would have without the filter.

// The kernel's structures, from <linux/seccomp.h>.
type (
	seccompData struct {
		nr   int32
		arch uint32
		ip   uint64
		args [6]uint64
	}
	seccompNotif struct {
		id    uint64
		pid   uint32
		flags uint32
		data  seccompData
	}
	seccompResp struct {
		id    uint64
		val   int64
		error int32
		flags uint32
	}
)

// Offsets in seccompData, for the filter.
const (
	dataNr   = 0
	dataArch = 4
	dataArgs = 16
)

// auditArch is the seccomp_data.arch of this build's system calls. A
// process of another arch (a 32-bit program on a 64-bit system) is let
// through unfiltered.
var auditArch = map[string]uint32{
	"386":     unix.AUDIT_ARCH_I386,
	"amd64":   unix.AUDIT_ARCH_X86_64,
	"arm":     unix.AUDIT_ARCH_ARM,
	"arm64":   unix.AUDIT_ARCH_AARCH64,
	"loong64": unix.AUDIT_ARCH_LOONGARCH64,
	"ppc64le": unix.AUDIT_ARCH_PPC64LE,
	"riscv64": unix.AUDIT_ARCH_RISCV64,
	"s390x":   unix.AUDIT_ARCH_S390X,
}

// argWord is the offset of the low (hi false) or high 32 bits of
// system call argument i: the filter loads 32 bits at a time.
func argWord(i int, hi bool) uint32 {
	off := uint32(dataArgs + 8*i)
	if hi == (binary.NativeEndian.Uint16([]byte{1, 0}) == 1) {
		off += 4
	}
	return off
}

// writeFilter is the filter, for writes longer than limit bytes.
func writeFilter(arch uint32, limit int) []unix.SockFilter {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jgt = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	// The instructions, by number: jumps name where they go.
	const (
		loadArch = iota
		isArch
		loadNr
		isWrite
		isWritev
		isPwritev2
		writeFd
		writeFd1
		writeFd2
		writeCountHi
		writeCountHiZero
		writeCountLo
		writeOver
		vectorFd
		vectorFd1
		vectorFd2
		notify
		allow
		count
	)
	p := make([]unix.SockFilter, count)
	load := func(at int, off uint32) { p[at] = unix.SockFilter{Code: ld, K: off} }
	jump := func(at int, code uint16, k uint32, yes, no int) {
		p[at] = unix.SockFilter{Code: code, K: k, Jt: uint8(yes - at - 1), Jf: uint8(no - at - 1)}
	}
	load(loadArch, dataArch)
	jump(isArch, jeq, arch, loadNr, allow)
	load(loadNr, dataNr)
	jump(isWrite, jeq, unix.SYS_WRITE, writeFd, isWritev)
	jump(isWritev, jeq, unix.SYS_WRITEV, vectorFd, isPwritev2)
	jump(isPwritev2, jeq, unix.SYS_PWRITEV2, vectorFd, allow)
	// write(fd, buf, count): fd 1 or 2, count > limit.
	load(writeFd, argWord(0, false))
	jump(writeFd1, jeq, 1, writeCountHi, writeFd2)
	jump(writeFd2, jeq, 2, writeCountHi, allow)
	load(writeCountHi, argWord(2, true))
	jump(writeCountHiZero, jeq, 0, writeCountLo, notify)
	load(writeCountLo, argWord(2, false))
	jump(writeOver, jgt, uint32(limit), notify, allow)
	// writev(fd, iov, iovcnt), pwritev2(fd, iov, iovcnt, ...): fd 1 or 2.
	load(vectorFd, argWord(0, false))
	jump(vectorFd1, jeq, 1, notify, vectorFd2)
	jump(vectorFd2, jeq, 2, notify, allow)
	p[notify] = unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_USER_NOTIF}
	p[allow] = unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW}
	return p
}

// Since Linux 5.19; with it, a call the supervisor has taken can no
// longer be interrupted by a signal and restarted, which would pass
// its data on twice.
const filterFlags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV

// installFilter puts the calling thread, which must be locked to its
// goroutine, and what it executes, under the filter, and returns the
// listener. Without CAP_SYS_ADMIN a filter needs no_new_privs, which
// is set only then.
func installFilter(limit int) (int, error) {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return -1, errors.New("no seccomp filter for " + runtime.GOARCH)
	}
	p := writeFilter(arch, limit)
	prog := unix.SockFprog{Len: uint16(len(p)), Filter: &p[0]}
	set := func() (int, error) {
		fd, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, filterFlags, uintptr(unsafe.Pointer(&prog)))
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
	fd, err := set()
	if err == unix.EACCES {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return -1, err
		}
		fd, err = set()
	}
	return fd, err
}

func notifyIoctl(fd int, req uint, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// receive takes the next call from listener fd, which must have one
// waiting (poll says so): otherwise it blocks.
func receive(fd int) (*seccompNotif, error) {
	n := new(seccompNotif) // the kernel wants it zeroed
	return n, notifyIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

// answer ends call id: it returns val, or goes on as without the
// filter.
func answer(fd int, id uint64, val int64, goOn bool) {
	r := seccompResp{id: id, val: val}
	if goOn {
		r.flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	}
	// It fails only if the caller is gone.
	notifyIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// valid says whether call id still waits: what was read from the
// caller's memory before is the caller's, not a new process's that
// took its pid.
func valid(fd int, id uint64) bool {
	return notifyIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}
