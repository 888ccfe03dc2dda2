package cachebus_test

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/testenv"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// recorder collects the ids a subscriber was called with.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) record(id string) {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func (r *recorder) has(id string) bool {
	for _, s := range r.seen() {
		if s == id {
			return true
		}
	}
	return false
}

// waitFor polls r until it has seen id, failing the test after a while.
func waitFor(tb testing.TB, r *recorder, id string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !r.has(id) {
		if time.Now().After(deadline) {
			tb.Fatalf("invalidation %q not delivered within 5s; saw %v", id, r.seen())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// connect opens a connection to s that reconnects for ever, as the
// processes' connections do (events.Connect), but quickly.
func connect(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0))
	if err != nil {
		tb.Fatalf("connect to NATS: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// newBus returns a NATS bus on a connection of its own, as each replica
// has, once the server has its subscription: NewNATS returns before the
// server does, like any core NATS subscription.
func newBus(tb testing.TB, url string) *cachebus.NATS {
	tb.Helper()
	nc := connect(tb, url)
	b, err := cachebus.NewNATS(nc)
	if err != nil {
		tb.Fatalf("NewNATS: %v", err)
	}
	flush(tb, nc)
	return b
}

// flush makes sure the server has processed the connection's subscriptions.
func flush(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	if err := nc.Flush(); err != nil {
		tb.Fatalf("flush: %v", err)
	}
}

func TestPublishReachesSubscribersOnOtherConnections(t *testing.T) {
	s := testenv.NATS(t)
	publisher := newBus(t, s.ClientURL())
	replicas := []*cachebus.NATS{newBus(t, s.ClientURL()), newBus(t, s.ClientURL())}

	kinds := []string{cachebus.ClientKey, cachebus.User, cachebus.Webhook, cachebus.WebhookHealth}
	got := map[string][]*recorder{} // kind -> one recorder per replica
	for _, kind := range kinds {
		for _, b := range replicas {
			r := &recorder{}
			b.Subscribe(kind, r.record)
			got[kind] = append(got[kind], r)
		}
	}
	for _, kind := range kinds {
		publisher.Publish(kind, "id-of-"+kind)
	}
	for _, kind := range kinds {
		for i, r := range got[kind] {
			waitFor(t, r, "id-of-"+kind)
			for _, id := range r.seen() {
				if id != "id-of-"+kind {
					t.Errorf("replica %d: subscriber of %q was called with %q, which was published as another kind", i, kind, id)
				}
			}
		}
	}
}

func TestEverySubscriberOfAKindIsCalled(t *testing.T) {
	s := testenv.NATS(t)
	pub, sub := newBus(t, s.ClientURL()), newBus(t, s.ClientURL())
	var rs [3]recorder
	for i := range rs {
		sub.Subscribe(cachebus.ClientKey, rs[i].record)
	}
	pub.Publish(cachebus.ClientKey, "k1")
	for i := range rs {
		waitFor(t, &rs[i], "k1")
	}
}

func TestOwnPublishIsDeliveredBeforePublishReturns(t *testing.T) {
	s := testenv.NATS(t)
	b := newBus(t, s.ClientURL())
	var r recorder
	b.Subscribe(cachebus.Webhook, r.record)
	b.Publish(cachebus.Webhook, "w1")
	// No waiting: the process that made a change must not serve its own
	// stale copy for the length of a round trip.
	if !r.has("w1") {
		t.Fatalf("own invalidation not delivered when Publish returned; saw %v", r.seen())
	}
}

func TestPublishWithoutAConnectionStillInvalidatesLocally(t *testing.T) {
	s := testenv.NATS(t)
	nc := connect(t, s.ClientURL())
	b, err := cachebus.NewNATS(nc)
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	b.Subscribe(cachebus.ClientKey, r.record)
	nc.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Publish(cachebus.ClientKey, "revoked") // the change is committed: no error to return
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Publish on a closed connection blocked")
	}
	if !r.has("revoked") {
		t.Fatalf("local subscriber not called while NATS is unreachable; saw %v", r.seen())
	}
}

func TestNewNATSFailsOnAClosedConnection(t *testing.T) {
	s := testenv.NATS(t)
	nc := connect(t, s.ClientURL())
	nc.Close()
	if _, err := cachebus.NewNATS(nc); err == nil {
		t.Fatal("NewNATS on a closed connection: want an error, since the bus could never hear other replicas")
	}
}

// TestSubscriptionsSurviveANATSRestart: a replica's bus keeps hearing
// other replicas after the server restarts, without being rebuilt.
// (Invalidations published while the server is down may be lost: core
// NATS is fire and forget, and the caches' TTLs bound that staleness.)
func TestSubscriptionsSurviveANATSRestart(t *testing.T) {
	opts := &natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	s := startServer(t, opts)
	url := s.ClientURL()
	opts.Port = s.Addr().(*net.TCPAddr).Port

	pubConn, subConn := connect(t, url), connect(t, url)
	pub, err := cachebus.NewNATS(pubConn)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cachebus.NewNATS(subConn)
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	sub.Subscribe(cachebus.User, r.record)
	flush(t, subConn)
	pub.Publish(cachebus.User, "before")
	waitFor(t, &r, "before")

	s.Shutdown()
	s.WaitForShutdown()
	startServer(t, opts)
	for _, nc := range []*nats.Conn{pubConn, subConn} {
		deadline := time.Now().Add(5 * time.Second)
		for !nc.IsConnected() {
			if time.Now().After(deadline) {
				t.Fatalf("connection did not reconnect within 5s (status %v)", nc.Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
		flush(t, nc) // the resubscription has reached the server
	}

	pub.Publish(cachebus.User, "after")
	waitFor(t, &r, "after")
}

func startServer(tb testing.TB, opts *natsserver.Options) *natsserver.Server {
	tb.Helper()
	o := *opts
	s, err := natsserver.NewServer(&o)
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func TestLocalBusDeliversToItsSubscribers(t *testing.T) {
	var b cachebus.Local // the zero value is ready
	var hooks, keys recorder
	b.Subscribe(cachebus.Webhook, hooks.record)
	b.Subscribe(cachebus.ClientKey, keys.record)
	b.Publish(cachebus.Webhook, "w1")
	b.Publish(cachebus.ClientKey, "k1")
	if got := fmt.Sprint(hooks.seen(), keys.seen()); got != "[w1] [k1]" {
		t.Fatalf("webhook and key subscribers saw %s, want [w1] [k1]", got)
	}
}
