//go:build !linux

package lifecycle

import "net"

// acceptQueued is Linux-only; elsewhere queued connections are reset
// when the listener closes.
func acceptQueued(net.Listener) []net.Conn { return nil }
