package relay_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/relay"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/wire"
)

var drivers = []string{"sqlite", "postgres"}

type testDB struct {
	*store.DB
	url string
	raw *sql.DB // for counting rows, which no store method does
}

func openDB(t *testing.T, driver string) *testDB {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	var url, sqlDriver, dsn string
	switch driver {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "relay.db")
		url, sqlDriver, dsn = "sqlite://"+path, "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)"
	case "postgres":
		url = testenv.PostgresURL(t)
		sqlDriver, dsn = "pgx", url
	}
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open(sqlDriver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return &testDB{DB: db, url: url, raw: raw}
}

func (db *testDB) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := db.raw.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (db *testDB) pending(t *testing.T) int {
	t.Helper()
	n, _, err := db.OutboxBacklog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// write inserts one event per name for user in one transaction and
// returns them with the ids and timestamps the outbox gave them.
func (db *testDB) write(t *testing.T, user string, names ...string) []fluxhook.Event {
	t.Helper()
	evs := make([]fluxhook.Event, len(names))
	for i, name := range names {
		evs[i] = fluxhook.Event{Event: name, UserID: user, Data: json.RawMessage(fmt.Sprintf(`{"n":%d,"note":"<&>"}`, i))}
	}
	err := db.Tx(context.Background(), func(q *store.Queries) error { return q.InsertOutbox(context.Background(), evs...) })
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

type natsEnv struct {
	t      *testing.T
	dir    string
	listen string
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	pub    *events.Publisher
}

// startNATS starts an embedded NATS with the streams ensured. With
// listen set, clients connect over TCP and reconnect after a restart.
func startNATS(t *testing.T, listen string) *natsEnv {
	t.Helper()
	n := &natsEnv{t: t, dir: t.TempDir(), listen: listen}
	n.start()
	t.Cleanup(n.stop)
	var err error
	if listen == "" {
		n.nc, err = events.ConnectEmbedded(n.srv, "relay-test", nil)
	} else {
		n.nc, err = events.Connect(testenv.Context(t, 10*time.Second), "nats://"+listen, "relay-test", nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.nc.Close)
	if n.js, err = jetstream.New(n.nc); err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureStreams(testenv.Context(t, 10*time.Second), n.js, events.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	if n.pub, err = events.NewPublisher(n.nc, events.PublisherOptions{}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *natsEnv) start() {
	srv, err := events.StartEmbedded(events.EmbeddedOptions{StoreDir: n.dir, Listen: n.listen})
	if err != nil {
		n.t.Fatal(err)
	}
	n.srv = srv
}

func (n *natsEnv) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

type streamMsg struct {
	subject, msgID string
	event          fluxhook.Event
}

// stored returns the EVENTS stream's messages in stream order (nothing
// consumes them in these tests).
func (n *natsEnv) stored() []streamMsg {
	n.t.Helper()
	ctx := testenv.Context(n.t, 10*time.Second)
	s, err := n.js.Stream(ctx, events.StreamEvents)
	if err != nil {
		n.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	var out []streamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			n.t.Fatalf("get message %d: %v", seq, err)
		}
		es, err := wire.DecodeEvents(m.Data)
		if err != nil {
			n.t.Fatalf("message %d: %v", seq, err)
		}
		for _, e := range es {
			out = append(out, streamMsg{m.Subject, m.Header.Get(nats.MsgIdHdr), e})
		}
	}
	return out
}

// ids lists the event ids of msgs, or of user's events among them.
func ids[T streamMsg | fluxhook.Event](msgs []T, user string) []string {
	var out []string
	for _, m := range msgs {
		var e fluxhook.Event
		switch v := any(m).(type) {
		case streamMsg:
			e = v.event
		case fluxhook.Event:
			e = v
		}
		if user == "" || e.UserID == user {
			out = append(out, e.ID)
		}
	}
	return out
}

// run runs r until the test ends and checks that it stops cleanly.
func run(t *testing.T, r *relay.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10 s of its context ending")
		}
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRelayPublishesOutboxInOrder(t *testing.T) {
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			db := openDB(t, driver)
			n := startNATS(t, "")
			reg := prometheus.NewRegistry()
			m := relay.NewMetrics(reg)

			ada, bob := store.NewID(), store.NewID()
			var written []fluxhook.Event
			written = append(written, db.write(t, ada, "user.created", "auth.login")...)
			written = append(written, db.write(t, bob, "user.created")...)
			written = append(written, db.write(t, ada, "user.updated", "email.verified", "auth.logout", "user.deleted")...)
			written = append(written, db.write(t, bob, "auth.login", "password.reset")...)

			// A small batch size makes the relay loop over full batches too.
			run(t, relay.New(db.DB, n.pub, nil, m, relay.Options{BatchSize: 3, BacklogInterval: time.Millisecond}))
			waitFor(t, 10*time.Second, "the outbox to drain", func() bool { return db.pending(t) == 0 })

			got := n.stored()
			if len(got) != len(written) {
				t.Fatalf("EVENTS holds %d messages, want %d", len(got), len(written))
			}
			if g, w := ids(got, ""), ids(written, ""); !slices.Equal(g, w) {
				t.Errorf("stream order %v, want the outbox order %v", g, w)
			}
			byID := map[string]fluxhook.Event{}
			for _, e := range written {
				byID[e.ID] = e
			}
			msgIDs := map[string]int{}
			for _, msg := range got {
				want := byID[msg.event.ID]
				msgIDs[msg.msgID]++
				if !strings.HasPrefix(msg.msgID, "events.") {
					t.Errorf("Nats-Msg-Id %q, want one derived from the pack's event ids", msg.msgID)
				}
				if msg.subject != events.EventPackSubject {
					t.Errorf("subject %q for %s, want %s", msg.subject, want.Event, events.EventPackSubject)
				}
				e := msg.event
				if e.Event != want.Event || e.UserID != want.UserID || !e.Timestamp.Equal(want.Timestamp) || !jsonEqual(t, e.Data, want.Data) {
					t.Errorf("stored %+v, want %+v", e, want)
				}
			}
			// Batches of 3: the events were packed three to a message.
			if len(msgIDs) != (len(written)+2)/3 {
				t.Errorf("%d messages for %d events in batches of 3, want %d", len(msgIDs), len(written), (len(written)+2)/3)
			}
			// The counter moves just after the rows are stamped.
			waitFor(t, 15*time.Second, fmt.Sprintf("fluxhook_outbox_published_total to reach %d", len(written)), func() bool {
				return testutil.ToFloat64(m.Published) == float64(len(written))
			})
			waitFor(t, 15*time.Second, "the backlog gauge to read 0", func() bool {
				return testutil.ToFloat64(m.Backlog) == 0
			})
			if n, err := testutil.GatherAndCount(reg); err != nil || n != 4 {
				t.Errorf("registry holds %d metrics (err %v), want 4", n, err)
			}
		})
	}
}

// flakyPublisher fails the events it is told to, and passes the others
// on to a real publisher.
type flakyPublisher struct {
	next     relay.Publisher
	attempts atomic.Int64
	mu       sync.Mutex
	failAll  bool
	failIDs  map[string]bool
}

func (f *flakyPublisher) set(all bool, ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAll = all
	f.failIDs = map[string]bool{}
	for _, id := range ids {
		f.failIDs[id] = true
	}
}

// PublishEvents stores the events before the first that is to fail,
// as a message holding them would be, and fails there.
func (f *flakyPublisher) PublishEvents(ctx context.Context, es []fluxhook.Event) (int, error) {
	f.attempts.Add(1)
	f.mu.Lock()
	fail := slices.IndexFunc(es, func(e fluxhook.Event) bool { return f.failAll || f.failIDs[e.ID] })
	f.mu.Unlock()
	if fail < 0 {
		return f.next.PublishEvents(ctx, es)
	}
	n, err := f.next.PublishEvents(ctx, es[:fail])
	if err != nil {
		return n, err
	}
	return n, errors.New("nats: timeout")
}

func TestRelayKeepsFailedEventsPendingUntilPublished(t *testing.T) {
	tests := []struct {
		name string
		// fail picks what fails from the events of two users.
		fail func(f *flakyPublisher, ada, bob []fluxhook.Event)
		// published lists what reaches the stream meanwhile.
		published func(ada, bob []fluxhook.Event) []fluxhook.Event
	}{
		{
			name:      "every publish fails",
			fail:      func(f *flakyPublisher, _, _ []fluxhook.Event) { f.set(true) },
			published: func(_, _ []fluxhook.Event) []fluxhook.Event { return nil },
		},
		{
			name: "one event fails",
			// The events behind the failed one in the outbox wait for it,
			// Bob's too: the stream keeps the outbox's order.
			fail: func(f *flakyPublisher, ada, _ []fluxhook.Event) { f.set(false, ada[1].ID) },
			published: func(ada, _ []fluxhook.Event) []fluxhook.Event {
				return []fluxhook.Event{ada[0]}
			},
		},
	}
	for _, driver := range drivers {
		for _, tt := range tests {
			t.Run(driver+"/"+tt.name, func(t *testing.T) {
				db := openDB(t, driver)
				n := startNATS(t, "")
				m := relay.NewMetrics(prometheus.NewRegistry())
				f := &flakyPublisher{next: n.pub}
				ada := db.write(t, store.NewID(), "user.created", "user.updated", "user.deleted")
				bob := db.write(t, store.NewID(), "user.created", "auth.login")
				tt.fail(f, ada, bob)
				run(t, relay.New(db.DB, f, nil, m, relay.Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, BacklogInterval: time.Millisecond}))

				// Several rounds, so the failed ones were retried and failed again.
				waitFor(t, 15*time.Second, "retries", func() bool { return testutil.ToFloat64(m.PublishErrors) >= 3 })
				want := tt.published(ada, bob)
				total := len(ada) + len(bob)
				waitFor(t, 15*time.Second, "the backlog gauge", func() bool {
					return testutil.ToFloat64(m.Backlog) == float64(total-len(want))
				})
				if got := ids(n.stored(), ""); !sameSet(got, ids(want, "")) {
					t.Fatalf("while failing, EVENTS holds %v, want %v", got, ids(want, ""))
				}
				if p := db.pending(t); p != total-len(want) {
					t.Fatalf("%d rows pending, want %d", p, total-len(want))
				}

				f.set(false)
				waitFor(t, 15*time.Second, "the outbox to drain after recovery", func() bool { return db.pending(t) == 0 })
				got := n.stored()
				if len(got) != total {
					t.Fatalf("EVENTS holds %d messages, want %d", len(got), total)
				}
				for _, user := range [][]fluxhook.Event{ada, bob} {
					if g, w := ids(got, user[0].UserID), ids(user, ""); !slices.Equal(g, w) {
						t.Errorf("stream order %v, want %v", g, w)
					}
				}
				// The counter moves just after the rows are stamped, which is
				// what the drain above waited for.
				waitFor(t, 15*time.Second, fmt.Sprintf("fluxhook_outbox_published_total to reach %d", total), func() bool {
					return testutil.ToFloat64(m.Published) == float64(total)
				})
			})
		}
	}
}

// jsonEqual compares JSON values, not bytes: the outbox stores data
// through encoding/json, which escapes <, > and & on the way.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestRelaySurvivesNATSRestart(t *testing.T) {
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			db := openDB(t, driver)
			n := startNATS(t, testenv.FreeAddr(t))
			m := relay.NewMetrics(prometheus.NewRegistry())
			run(t, relay.New(db.DB, n.pub, nil, m, relay.Options{BatchTimeout: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}))

			before := db.write(t, store.NewID(), "user.created")
			waitFor(t, 15*time.Second, "the first event", func() bool { return db.pending(t) == 0 })

			n.stop()
			during := db.write(t, store.NewID(), "user.created", "auth.login", "auth.logout")
			waitFor(t, 15*time.Second, "failed publishes", func() bool { return testutil.ToFloat64(m.PublishErrors) >= 2 })
			if p := db.pending(t); p != len(during) {
				t.Fatalf("with NATS down, %d rows pending, want %d", p, len(during))
			}

			n.start()
			waitFor(t, 15*time.Second, "the outbox to drain after NATS is back", func() bool { return db.pending(t) == 0 })
			// Publishes that timed out while NATS was down may have been
			// stored on reconnect and published again: the stream drops
			// the repeats by Nats-Msg-Id.
			got := n.stored()
			want := append(ids(before, ""), ids(during, "")...)
			if g := ids(got, ""); !slices.Equal(g, want) {
				t.Fatalf("EVENTS holds %v, want each event once: %v", g, want)
			}
		})
	}
}

// countingPublisher records every event id published through it, by
// any relay, and takes a little time, as a PubAck does.
type countingPublisher struct {
	mu    sync.Mutex
	count map[string]int
	by    map[string]int
}

func (c *countingPublisher) as(name string) relay.Publisher {
	return publisherFunc(func(ctx context.Context, es []fluxhook.Event) (int, error) {
		time.Sleep(time.Millisecond)
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range es {
			c.count[e.ID]++
			c.by[name]++
		}
		return len(es), nil
	})
}

type publisherFunc func(ctx context.Context, es []fluxhook.Event) (int, error)

func (f publisherFunc) PublishEvents(ctx context.Context, es []fluxhook.Event) (int, error) {
	return f(ctx, es)
}

func TestTwoRelaysOnPostgresPublishEachRowOnce(t *testing.T) {
	db := openDB(t, "postgres")
	// A second replica: its own connection pool on the same database.
	other, err := store.Open(testenv.Context(t, 10*time.Second), db.url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })

	const rows = 1000
	users := make([]string, 40)
	for i := range users {
		users[i] = store.NewID()
	}
	var written []string
	writeSome := func(k int) {
		for range k / 10 {
			user := users[len(written)%len(users)]
			evs := db.write(t, user, slices.Repeat([]string{"user.updated"}, 10)...)
			written = append(written, ids(evs, "")...)
		}
	}
	writeSome(rows / 2)

	c := &countingPublisher{count: map[string]int{}, by: map[string]int{}}
	opts := relay.Options{BatchSize: 50}
	run(t, relay.New(db.DB, c.as("a"), nil, nil, opts))
	run(t, relay.New(other, c.as("b"), nil, nil, opts))
	writeSome(rows / 2)
	waitFor(t, 30*time.Second, "the outbox to drain", func() bool { return db.pending(t) == 0 })

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.count) != rows || len(written) != rows {
		t.Fatalf("%d distinct events published, %d written, want %d", len(c.count), len(written), rows)
	}
	for _, id := range written {
		if c.count[id] != 1 {
			t.Errorf("event %s published %d times, want once", id, c.count[id])
		}
	}
	if c.by["a"] == 0 || c.by["b"] == 0 {
		t.Errorf("relay a published %d, relay b %d: both should have taken batches", c.by["a"], c.by["b"])
	}
}

func TestRelayPrunesPublishedRowsAfterRetention(t *testing.T) {
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			db := openDB(t, driver)
			n := startNATS(t, "")
			var offset atomic.Int64
			now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			run(t, relay.New(db.DB, n.pub, nil, nil, relay.Options{PruneInterval: 5 * time.Millisecond, PruneBatch: 2, Now: now}))

			db.write(t, store.NewID(), "user.created", "user.updated", "auth.login", "auth.logout", "user.deleted")
			waitFor(t, 15*time.Second, "the outbox to drain", func() bool { return db.pending(t) == 0 })
			time.Sleep(100 * time.Millisecond)
			if got := db.rows(t); got != 5 {
				t.Fatalf("%d rows left right after publishing, want all 5 kept for the retention", got)
			}

			offset.Store(int64(25 * time.Hour))
			fresh := db.write(t, store.NewID(), "user.created")
			waitFor(t, 15*time.Second, "old rows to be pruned and the new one published", func() bool {
				return db.rows(t) == 1 && db.pending(t) == 0
			})
			time.Sleep(50 * time.Millisecond)
			if got := db.rows(t); got != 1 {
				t.Fatalf("%d rows left, want only the one published within the retention (%s)", got, fresh[0].ID)
			}
		})
	}
}
