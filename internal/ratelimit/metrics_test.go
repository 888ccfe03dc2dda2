package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInstrumentCountsDecisions(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	ctx := context.Background()
	clock := newFakeClock()
	lim := PerMinute(3)

	api := Instrument(NewLocal(clock.Now), m, "api")
	for range 5 { // 3 allowed, 2 limited, for each of many keys
		for k := range 100 {
			_, _ = api.Allow(ctx, fmt.Sprintf("key-%d", k), lim)
		}
	}
	_, _ = api.Allow(ctx, "k", Limit{}) // an error

	down := NewRedis(newRedisClient(t, refusingURL), "rl:", 50*time.Millisecond)
	delivery := Instrument(NewFailOpen(down, NewLocal(clock.Now), nil), m, "delivery")
	for range 4 { // 3 allowed and 1 limited by the fallback: all fail_open
		if _, err := delivery.Allow(ctx, "webhook", lim); err != nil {
			t.Fatalf("FailOpen: %v", err)
		}
	}
	login := Instrument(NewFailClosed(down, 0), m, "login")
	for range 2 {
		if _, err := login.Allow(ctx, "ip", lim); err == nil {
			t.Fatal("FailClosed with Redis down: no error")
		}
	}

	want := map[[2]string]float64{
		{"api", DecisionAllowed}: 300, {"api", DecisionLimited}: 200, {"api", DecisionError}: 1,
		{"delivery", DecisionFailOpen}: 4,
		{"login", DecisionFailClosed}:  2,
	}
	for _, name := range []string{"api", "delivery", "login"} {
		for _, decision := range []string{DecisionAllowed, DecisionLimited, DecisionFailOpen, DecisionFailClosed, DecisionError} {
			got := testutil.ToFloat64(m.Decisions.WithLabelValues(name, decision))
			if w := want[[2]string{name, decision}]; got != w {
				t.Errorf("decisions{limiter=%q, decision=%q} = %v, want %v", name, decision, got, w)
			}
		}
	}
	// One series per limiter and decision, however many keys were seen,
	// each there from the start.
	if n := testutil.CollectAndCount(m.Decisions, "fluxhook_ratelimit_decisions_total"); n != 3*5 {
		t.Errorf("%d series, want 15", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestNewMetricsUsesOnlyTheGivenRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	Instrument(NewLocal(nil), NewMetrics(reg), "api")
	const name = "fluxhook_ratelimit_decisions_total"
	if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 5 {
		t.Errorf("given registry: %d series, %v; want 5", n, err)
	}
	if n, err := testutil.GatherAndCount(prometheus.DefaultGatherer, name); err != nil || n != 0 {
		t.Errorf("default registry: %d series, %v; want none", n, err)
	}
}
