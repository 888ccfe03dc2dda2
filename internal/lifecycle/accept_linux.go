package lifecycle

import (
	"net"
	"os"
	"syscall"
)

// acceptQueued takes every connection waiting in ln's accept queue
// without blocking (the listener's deadline has already passed, so
// ln.Accept would refuse to look), and stops ln listening.
func acceptQueued(ln net.Listener) []net.Conn {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var conns []net.Conn
	_ = raw.Control(func(fd uintptr) {
		for {
			nfd, _, err := syscall.Accept4(int(fd), syscall.SOCK_CLOEXEC)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				// EAGAIN: the queue is empty. Stop listening right here, in
				// the same breath: a connection completing its handshake
				// between this and a later Close would be reset.
				_ = syscall.Shutdown(int(fd), syscall.SHUT_RDWR)
				return
			}
			f := os.NewFile(uintptr(nfd), "accepted")
			c, err := net.FileConn(f) // dups the descriptor
			f.Close()
			if err == nil {
				conns = append(conns, c)
			}
		}
	})
	return conns
}
