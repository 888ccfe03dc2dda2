package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

func newJetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	s := testenv.NATS(tb)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

func streamConfig(tb testing.TB, js jetstream.JetStream, name string) jetstream.StreamConfig {
	tb.Helper()
	ctx := testenv.Context(tb, 5*time.Second)
	s, err := js.Stream(ctx, name)
	if err != nil {
		tb.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return info.Config
}

func TestEnsureStreamsCreatesAndIsIdempotent(t *testing.T) {
	js := newJetStream(t)
	ctx := testenv.Context(t, 10*time.Second)

	for run := 1; run <= 2; run++ {
		if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}

	tests := []struct {
		stream     string
		subjects   []string
		retention  jetstream.RetentionPolicy
		maxAge     time.Duration
		duplicates time.Duration
		schedules  bool
	}{
		{StreamEvents, []string{"fluxhook.events.>"}, jetstream.LimitsPolicy, 7 * 24 * time.Hour, 24 * time.Hour, false},
		{StreamDeliveries, []string{"fluxhook.deliveries.>", "fluxhook.schedules.>"}, jetstream.WorkQueuePolicy, 7 * 24 * time.Hour, 10 * time.Minute, true},
		{StreamDeadLetters, []string{"fluxhook.dead.>"}, jetstream.LimitsPolicy, 30 * 24 * time.Hour, 10 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			got := streamConfig(t, js, tt.stream)
			if !slices.Equal(got.Subjects, tt.subjects) {
				t.Errorf("subjects %v, want %v", got.Subjects, tt.subjects)
			}
			if got.Retention != tt.retention {
				t.Errorf("retention %v, want %v", got.Retention, tt.retention)
			}
			if got.MaxAge != tt.maxAge || got.Duplicates != tt.duplicates {
				t.Errorf("max age %s, duplicates %s; want %s, %s", got.MaxAge, got.Duplicates, tt.maxAge, tt.duplicates)
			}
			if got.AllowMsgSchedules != tt.schedules {
				t.Errorf("allow_msg_schedules %v, want %v", got.AllowMsgSchedules, tt.schedules)
			}
			if got.Storage != jetstream.FileStorage || got.Replicas != 1 || got.Discard != jetstream.DiscardOld {
				t.Errorf("storage %v, replicas %d, discard %v; want file, 1, old", got.Storage, got.Replicas, got.Discard)
			}
		})
	}
}

func TestEnsureStreamsUpdatesExisting(t *testing.T) {
	js := newJetStream(t)
	ctx := testenv.Context(t, 10*time.Second)
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       StreamEvents,
		Subjects:   []string{EventsSubjects},
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: time.Minute,
		MaxAge:     time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	got := streamConfig(t, js, StreamEvents)
	if got.Duplicates != 24*time.Hour || got.MaxAge != 7*24*time.Hour {
		t.Errorf("EVENTS kept duplicates %s, max age %s", got.Duplicates, got.MaxAge)
	}
}

func TestEnsureStreamsRefuses(t *testing.T) {
	tests := []struct {
		name   string
		before *jetstream.StreamConfig
		cfg    StreamsConfig
		wantIn []string
	}{
		{
			name:   "a stream that cannot become a work queue",
			before: &jetstream.StreamConfig{Name: StreamDeliveries, Subjects: []string{DeliveriesSubjects, SchedulesSubjects}, Retention: jetstream.LimitsPolicy},
			wantIn: []string{"stream DELIVERIES", "workqueue"},
		},
		{
			name:   "another stream owning the subjects",
			before: &jetstream.StreamConfig{Name: "LEGACY", Subjects: []string{"fluxhook.>"}},
			wantIn: []string{"stream EVENTS", "overlap"},
		},
		{
			name:   "replicas on a single server",
			cfg:    StreamsConfig{Replicas: 3},
			wantIn: []string{"stream EVENTS", "replicas"},
		},
		{
			name:   "deliveries max age shorter than a retry delay",
			cfg:    StreamsConfig{DeliveriesMaxAge: 24 * time.Hour},
			wantIn: []string{"deliveries: max age 24h0m0s"},
		},
		{
			name:   "duplicate window longer than max age",
			cfg:    StreamsConfig{EventsMaxAge: time.Hour},
			wantIn: []string{"events", "duplicate window 24h0m0s is longer than max age 1h0m0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := newJetStream(t)
			ctx := testenv.Context(t, 10*time.Second)
			if tt.before != nil {
				if _, err := js.CreateStream(ctx, *tt.before); err != nil {
					t.Fatal(err)
				}
			}
			err := EnsureStreams(ctx, js, tt.cfg)
			if err == nil {
				t.Fatal("EnsureStreams succeeded")
			}
			t.Logf("error: %v", err)
			for _, want := range tt.wantIn {
				if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestCheckStreamConfig(t *testing.T) {
	want := streamConfigs(StreamsConfig{}.withDefaults())[1] // DELIVERIES
	tests := []struct {
		name    string
		change  func(*jetstream.StreamConfig)
		setting string // "" for a match
	}{
		{"identical", func(*jetstream.StreamConfig) {}, ""},
		{"server-filled limits and metadata", func(c *jetstream.StreamConfig) {
			c.MaxMsgs, c.MaxBytes, c.MaxMsgSize = -1, -1, -1
			c.Metadata = map[string]string{"_nats.ver": "2.15.2"}
		}, ""},
		{"subjects in another order", func(c *jetstream.StreamConfig) { c.Subjects = []string{SchedulesSubjects, DeliveriesSubjects} }, ""},
		// What a server older than 2.12 echoes: it never heard of schedules.
		{"schedules dropped", func(c *jetstream.StreamConfig) { c.AllowMsgSchedules = false }, "allow_msg_schedules"},
		{"roll-ups dropped", func(c *jetstream.StreamConfig) { c.AllowRollup = false }, "allow_rollup_hdrs"},
		{"subject missing", func(c *jetstream.StreamConfig) { c.Subjects = []string{DeliveriesSubjects} }, "subjects"},
		{"retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.LimitsPolicy }, "retention"},
		{"duplicates", func(c *jetstream.StreamConfig) { c.Duplicates = 2 * time.Minute }, "duplicate_window"},
		{"max age", func(c *jetstream.StreamConfig) { c.MaxAge = 0 }, "max_age"},
		{"storage", func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }, "storage"},
		{"replicas", func(c *jetstream.StreamConfig) { c.Replicas = 3 }, "num_replicas"},
		{"discard", func(c *jetstream.StreamConfig) { c.Discard = jetstream.DiscardNew }, "discard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := want
			got.Subjects = slices.Clone(want.Subjects)
			tt.change(&got)
			err := checkStreamConfig(want, got)
			if tt.setting == "" {
				if err != nil {
					t.Errorf("mismatch reported: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("mismatch not reported")
			}
			if !errors.Is(err, ErrConfigMismatch) {
				t.Errorf("error %v does not match ErrConfigMismatch", err)
			}
			for _, part := range []string{"stream DELIVERIES", tt.setting} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not name %q", err, part)
				}
			}
		})
	}
}

func TestEnsureConsumers(t *testing.T) {
	js := newJetStream(t)
	ctx := testenv.Context(t, 10*time.Second)
	if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	// A worker left by an older release, with a BackOff that would
	// override NakWithDelay.
	_, err := js.CreateConsumer(ctx, StreamDeliveries, jetstream.ConsumerConfig{
		Durable:       ConsumerWorker,
		FilterSubject: DeliveriesSubjects,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       5 * time.Second,
		MaxDeliver:    5,
		BackOff:       []time.Duration{time.Second, 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ConsumersConfig{WorkerAckWait: 45 * time.Second, WorkerMaxAckPending: 500}
	for run := 1; run <= 2; run++ {
		if err := EnsureConsumers(ctx, js, cfg); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}

	tests := []struct {
		stream, consumer, filter string
		ackWait                  time.Duration
		maxAckPending            int
	}{
		{StreamEvents, ConsumerDispatcher, "fluxhook.events.>", 30 * time.Second, 1000},
		{StreamDeliveries, ConsumerWorker, "fluxhook.deliveries.>", 45 * time.Second, 500},
	}
	for _, tt := range tests {
		t.Run(tt.consumer, func(t *testing.T) {
			c, err := js.Consumer(ctx, tt.stream, tt.consumer)
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := info.Config
			if got.FilterSubject != tt.filter || got.AckPolicy != jetstream.AckExplicitPolicy {
				t.Errorf("filter %q, ack policy %v", got.FilterSubject, got.AckPolicy)
			}
			if got.AckWait != tt.ackWait || got.MaxAckPending != tt.maxAckPending {
				t.Errorf("ack wait %s, max ack pending %d; want %s, %d", got.AckWait, got.MaxAckPending, tt.ackWait, tt.maxAckPending)
			}
			if got.MaxDeliver != -1 || len(got.BackOff) != 0 {
				t.Errorf("max deliver %d, backoff %v; want unlimited, none", got.MaxDeliver, got.BackOff)
			}
		})
	}
}

func TestCheckConsumerConfig(t *testing.T) {
	want := consumerSpecs(ConsumersConfig{}.withDefaults())[1].cfg // worker
	tests := []struct {
		name    string
		change  func(*jetstream.ConsumerConfig)
		setting string
	}{
		{"identical", func(*jetstream.ConsumerConfig) {}, ""},
		{"server-filled fields", func(c *jetstream.ConsumerConfig) { c.MaxWaiting = 512; c.ReplayPolicy = jetstream.ReplayInstantPolicy }, ""},
		{"backoff", func(c *jetstream.ConsumerConfig) { c.BackOff = []time.Duration{time.Second} }, "backoff"},
		{"several filters", func(c *jetstream.ConsumerConfig) {
			c.FilterSubject = ""
			c.FilterSubjects = []string{DeliveriesSubjects, SchedulesSubjects}
		}, "filter_subject"},
		{"max deliver", func(c *jetstream.ConsumerConfig) { c.MaxDeliver = 10 }, "max_deliver"},
		{"ack wait", func(c *jetstream.ConsumerConfig) { c.AckWait = 30 * time.Second }, "ack_wait"},
		{"max ack pending", func(c *jetstream.ConsumerConfig) { c.MaxAckPending = 1000 }, "max_ack_pending"},
		{"ack policy", func(c *jetstream.ConsumerConfig) { c.AckPolicy = jetstream.AckAllPolicy }, "ack_policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := want
			tt.change(&got)
			err := checkConsumerConfig(want, got)
			if tt.setting == "" {
				if err != nil {
					t.Errorf("mismatch reported: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfigMismatch) {
				t.Fatalf("error %v does not match ErrConfigMismatch", err)
			}
			for _, part := range []string{"consumer worker", tt.setting} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not name %q", err, part)
				}
			}
		})
	}
}

// startCluster starts n NATS servers clustered on loopback with JetStream
// syncing every write, as production runs (deploy/nats), and waits until
// they have elected a JetStream meta leader. It returns their client
// URLs.
func startCluster(tb testing.TB, n int) []string {
	tb.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(tb)
	}
	var srvs []*server.Server
	var urls []string
	for i := range n {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		s := startServer(tb, &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: tb.TempDir(), SyncAlways: true,
			Cluster: server.ClusterOpts{Name: "events-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		srvs = append(srvs, s)
		urls = append(urls, s.ClientURL())
	}
	waitFor(tb, 20*time.Second, "a JetStream meta leader", func() bool {
		for _, s := range srvs {
			if s.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	return urls
}

// TestEnsureConcurrentlyOnACluster is #17: replicas of every binary
// starting at the same instant against a three-server cluster, streams
// R3. Each used to send CreateOrUpdateStream's update first; the server
// never answers an update of an R3 stream created but not yet led, nor
// the create it raced with, so all of them waited out their deadline.
// Now every one settles the streams, the bucket and the consumers, and
// quickly.
func TestEnsureConcurrentlyOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	urls := startCluster(t, 3)
	const procs = 6
	jss := make([]jetstream.JetStream, procs)
	for i := range jss {
		nc, err := nats.Connect(urls[i%len(urls)])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if jss[i], err = jetstream.New(nc); err != nil {
			t.Fatal(err)
		}
	}
	const bound = 15 * time.Second
	ctx := testenv.Context(t, 2*bound)
	start := make(chan struct{})
	errs := make([]error, procs)
	took := make([]time.Duration, procs)
	var wg sync.WaitGroup
	for i, js := range jss {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			errs[i] = EnsureStreams(ctx, js, StreamsConfig{Replicas: 3})
			if errs[i] == nil {
				errs[i] = EnsureConsumers(ctx, js, ConsumersConfig{})
			}
			took[i] = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	for i := range procs {
		t.Logf("process %d: %v in %v", i, errs[i], took[i].Round(time.Millisecond))
		if errs[i] != nil {
			t.Errorf("process %d: %v", i, errs[i])
		} else if took[i] > bound {
			t.Errorf("process %d took %v, want under %v", i, took[i], bound)
		}
	}
	for _, name := range []string{StreamEvents, StreamDeliveries, StreamDeadLetters, kvStreamPrefix + IdempotencyBucket} {
		if got := streamConfig(t, jss[0], name); got.Replicas != 3 {
			t.Errorf("stream %s: %d replicas, want 3", name, got.Replicas)
		}
	}
	// Once settled, another start writes nothing and is as quick as a read.
	t0 := time.Now()
	if err := EnsureStreams(ctx, jss[1], StreamsConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureConsumers(ctx, jss[2], ConsumersConfig{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a later start: %v", time.Since(t0).Round(time.Millisecond))
}

func TestPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"settings the server does not keep", fmt.Errorf("x: %w", mismatch("stream", "EVENTS", "max_age", 1, 2)), true},
		{"settings refused before asking", permanentf("stream settings: %w", errors.New("replicas 9")), true},
		{"subjects another stream owns", fmt.Errorf("create: %w", &jetstream.APIError{Code: 400, ErrorCode: 10065}), true},
		{"replicas on a single server", &jetstream.APIError{Code: 500, ErrorCode: 10074}, true},
		{"an old server", fmt.Errorf("connect: %w", ErrServerTooOld), true},
		{"bad credentials", fmt.Errorf("connect: %w", nats.ErrAuthorization), true},
		{"peers not all joined yet", &jetstream.APIError{Code: 400, ErrorCode: 10005}, false},
		{"no meta leader yet", &jetstream.APIError{Code: 503, ErrorCode: 10008}, false},
		{"stream offline", &jetstream.APIError{Code: 500, ErrorCode: 10118}, false},
		{"no answer", fmt.Errorf("read: %w", context.DeadlineExceeded), false},
		{"no server", fmt.Errorf("connect: %w", nats.ErrNoServers), false},
		{"JetStream not enabled yet", jetstream.ErrJetStreamNotEnabled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Permanent(tt.err); got != tt.want {
				t.Errorf("Permanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestEnsureStreamsUpdatesANewClusterStream: a replica finds EVENTS just
// created by another with older settings, its leader not elected yet.
// An update sent then would never be answered; EnsureStreams waits for
// the leader and updates it.
func TestEnsureStreamsUpdatesANewClusterStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	urls := startCluster(t, 3)
	var jss []jetstream.JetStream
	for _, u := range urls[:2] {
		nc, err := nats.Connect(u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		jss = append(jss, js)
	}
	ctx := testenv.Context(t, 30*time.Second)
	// Until every server has joined, an R3 create fails ("no suitable
	// peers"); the race below needs one that succeeds.
	waitFor(t, 10*time.Second, "an R3 stream can be placed", func() bool {
		_, err := jss[0].CreateStream(ctx, jetstream.StreamConfig{Name: "PLACEABLE", Subjects: []string{"placeable"}, Replicas: 3})
		return err == nil
	})
	old := streamConfigs(StreamsConfig{Replicas: 3}.withDefaults())[0]
	old.MaxAge = time.Hour
	old.Duplicates = time.Minute
	created := make(chan error, 1)
	go func() { _, err := jss[0].CreateStream(ctx, old); created <- err }()
	time.Sleep(20 * time.Millisecond) // the create committed, no leader yet
	t0 := time.Now()
	if err := EnsureStreams(ctx, jss[1], StreamsConfig{Replicas: 3}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	took := time.Since(t0)
	if err := <-created; err != nil {
		t.Errorf("the other replica's create: %v", err)
	}
	if got := streamConfig(t, jss[0], StreamEvents); got.MaxAge != DefaultEventsMaxAge || got.Duplicates != DefaultEventsDuplicates {
		t.Errorf("EVENTS kept max age %s, duplicates %s", got.MaxAge, got.Duplicates)
	}
	if took > 10*time.Second {
		t.Errorf("EnsureStreams took %v", took)
	}
	t.Logf("settled in %v", took.Round(time.Millisecond))
}
