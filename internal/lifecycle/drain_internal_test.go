package lifecycle

import (
	"bufio"
	"net"
	"testing"
)

// TestDrainListenerHandsOutQueuedConnections queues connections that
// nobody has accepted, stops the listener, and reads each one's request
// through the connections Accept hands out.
func TestDrainListenerHandsOutQueuedConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &drainListener{Listener: inner}
	const n = 3
	for i := range n {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{'a' + byte(i), '\n'}); err != nil {
			t.Fatal(err)
		}
	}
	l.stopAccepting()
	got := map[string]bool{}
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("read a drained connection: %v", err)
		}
		got[line] = true
		c.Close()
	}
	if len(got) != n {
		t.Fatalf("drained %d connections with their data, want %d", len(got), n)
	}
	if _, err := net.Dial("tcp", inner.Addr().String()); err == nil {
		t.Fatal("the listener still accepts after draining")
	}
}
