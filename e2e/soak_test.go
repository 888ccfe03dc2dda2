package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSoak is #15's soak (make soak DURATION=30m): the production layout
// of the chaos runner at a steady rate, to the two healthy webhooks and
// to one that always answers 500 and one that never answers. Every
// FLUXHOOK_SOAK_INTERVAL (default 1 min) it samples every process's
// resident memory, goroutines and open files (their /metrics), the
// database's size and delivery-log rows, and the streams' sizes; at the
// end it prints the samples and a verdict: memory and goroutines flat,
// the delivery log held to its retention (FLUXHOOK_DELIVERY_RETENTION is
// 5 min here; the worker prunes every 10 min), nothing growing without
// bound. It runs only when FLUXHOOK_SOAK_DURATION is set.
func TestSoak(t *testing.T) {
	skipShort(t)
	dur, err := time.ParseDuration(os.Getenv("FLUXHOOK_SOAK_DURATION"))
	if err != nil || dur <= 0 {
		t.Skip("the soak runs only with FLUXHOOK_SOAK_DURATION (make soak DURATION=30m)")
	}
	every := time.Minute
	if d, err := time.ParseDuration(os.Getenv("FLUXHOOK_SOAK_INTERVAL")); err == nil && d > 0 {
		every = d
	}
	rate := float64(envInt("FLUXHOOK_SOAK_RATE", 20))
	// FLUXHOOK_SOAK_RETRY_SCHEDULE: the e2e schedule of seconds by
	// default, which cycles the hanging endpoint's parked jobs every few
	// seconds; a production-like one ("5s,5m,30m") parks them for longer.
	s := NewChaosStack(t, ChaosConfig{RetrySchedule: os.Getenv("FLUXHOOK_SOAK_RETRY_SCHEDULE"), Env: map[string]string{
		"FLUXHOOK_DELIVERY_RETENTION": "5m",
		"FLUXHOOK_DELIVERY_TIMEOUT":   "5s",
	}})
	api := s.APIs[0].API
	failing := newBadEndpoint(t, bad500, "")
	hanging := newBadEndpoint(t, badHang, "")
	CreateWebhook(t, api, s.AdminToken, WebhookSpec{URL: failing.URL, Secret: webhookSecret})
	CreateWebhook(t, api, s.AdminToken, WebhookSpec{URL: hanging.URL, Secret: webhookSecret})
	time.Sleep(2 * time.Second) // the dispatcher learns of the new webhooks

	load := newChaosLoad([]string{s.APIs[0].API, s.APIs[1].API}, s.Key, "soak.tick", rate)
	start := time.Now()
	load.Start()
	var samples []soakSample
	take := func() {
		sm := soakSample{At: time.Since(start), Procs: map[string]ProcSample{}, Accepted: len(load.Accepted())}
		for _, p := range s.Procs() {
			ps, err := sampleProc(p.Admin)
			if err != nil {
				t.Errorf("sample %s: %v", s.procLabel(p), err)
			}
			sm.Procs[s.procLabel(p)] = ps
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if n, err := dbSize(ctx, s.PG.URL); err == nil {
			sm.DBBytes = n
		}
		if conn, err := pgx.Connect(ctx, s.PG.URL); err == nil {
			_ = conn.QueryRow(ctx, `SELECT count(*) FROM delivery_attempts`).Scan(&sm.Attempts)
			conn.Close(ctx)
		}
		if sizes, err := s.NATS.StreamSizes(); err == nil {
			sm.Streams = sizes
		}
		for _, r := range s.Healthy {
			sm.Delivered += r.DeliveredCount()
		}
		samples = append(samples, sm)
		t.Logf("soak %v: %s", sm.At.Round(time.Second), sm.line())
	}
	take()
	for time.Since(start) < dur {
		time.Sleep(min(every, dur-time.Since(start)))
		take()
	}
	load.Stop()
	ids := load.AcceptedIDs()
	for _, r := range s.Healthy {
		waitDelivered(t, r, ids, 3*time.Minute)
		r.checkSignatures(t)
	}
	for _, p := range s.Procs() {
		if !p.Alive() {
			t.Errorf("%s exited during the soak (%v)", s.procLabel(p), p.ExitErr())
		}
	}
	verdict, bad := soakVerdict(samples)
	var b strings.Builder
	fmt.Fprintf(&b, "\nFluxhook soak, %s: %v at %.0f events/s to 2 healthy webhooks, one answering 500, one hanging; %d events accepted, all delivered.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), dur, rate, len(ids))
	printSoakSamples(&b, samples)
	b.WriteString("\n" + verdict)
	fmt.Fprintln(os.Stdout, b.String())
	if path := os.Getenv("FLUXHOOK_SOAK_REPORT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
	for _, f := range bad {
		t.Error(f)
	}
	if failing.Hits() == 0 || hanging.Hits() == 0 {
		t.Errorf("the failing (%d requests) and hanging (%d) endpoints must have been tried", failing.Hits(), hanging.Hits())
	}
}

// soakSample is one reading.
type soakSample struct {
	At        time.Duration
	Procs     map[string]ProcSample
	DBBytes   int64
	Attempts  int64
	Streams   map[string][2]uint64 // name -> bytes, messages
	Accepted  int
	Delivered int
}

func (s soakSample) line() string {
	var parts []string
	for _, name := range sortedKeys(s.Procs) {
		p := s.Procs[name]
		parts = append(parts, fmt.Sprintf("%s rss=%.0fMiB g=%.0f fds=%.0f", name, p.RSS/(1<<20), p.Goroutines, p.FDs))
	}
	for _, name := range sortedKeys(s.Streams) {
		parts = append(parts, fmt.Sprintf("%s=%dKiB/%d", name, s.Streams[name][0]>>10, s.Streams[name][1]))
	}
	return fmt.Sprintf("%s; db=%dMiB attempts=%d; accepted=%d delivered=%d", strings.Join(parts, "; "), s.DBBytes>>20, s.Attempts, s.Accepted, s.Delivered)
}

func printSoakSamples(b *strings.Builder, samples []soakSample) {
	if len(samples) == 0 {
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	procs := sortedKeys(samples[0].Procs)
	streams := sortedKeys(samples[len(samples)-1].Streams)
	header := []string{"t"}
	for _, p := range procs {
		header = append(header, p+" MiB", "gor", "fds")
	}
	header = append(header, "db MiB", "log rows")
	for _, s := range streams {
		header = append(header, s+" KiB")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, sm := range samples {
		row := []string{sm.At.Round(time.Second).String()}
		for _, p := range procs {
			ps := sm.Procs[p]
			row = append(row, fmt.Sprintf("%.0f", ps.RSS/(1<<20)), fmt.Sprintf("%.0f", ps.Goroutines), fmt.Sprintf("%.0f", ps.FDs))
		}
		row = append(row, fmt.Sprint(sm.DBBytes>>20), fmt.Sprint(sm.Attempts))
		for _, s := range streams {
			row = append(row, fmt.Sprint(sm.Streams[s][0]>>10))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// soakVerdict compares the last third of the run with the middle third
// (the first third is warm-up: caches, pools and the delivery log
// filling up to its retention). A series grows without bound when its
// last third's median is well above the middle third's, by more than a
// quarter and more than a small absolute slack, and it still rises
// within the last third (a plateau is not growth). The delivery log and
// DEAD_LETTERS (kept 30 days by design) are judged only when the run is
// long enough; EVENTS (kept for replays, 24 h at the least) and the
// idempotency bucket (KV_*, 24 h) are reported, not judged.
func soakVerdict(samples []soakSample) (string, []string) {
	if len(samples) < 6 {
		return "verdict: too few samples to judge (want 6 or more: a longer DURATION or a shorter FLUXHOOK_SOAK_INTERVAL)\n", nil
	}
	n := len(samples)
	mid, last := samples[n/3:2*n/3], samples[2*n/3:]
	peak := func(ss []soakSample, f func(soakSample) float64) float64 {
		m := 0.0
		for _, s := range ss {
			m = max(m, f(s))
		}
		return m
	}
	median := func(ss []soakSample, f func(soakSample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	var lines, bad []string
	// Judged on the thirds' medians: a bounded burst (parked jobs coming
	// due together, a pruning) may land on any one sample and is not
	// growth; a leak lifts the whole last third. The peaks are shown.
	judge := func(name string, f func(soakSample) float64, slack float64, unit string) {
		a, b := median(mid, f), median(last, f)
		state := "flat"
		// Still rising within the last third: a series that reached a
		// plateau (a database file once freed space is reused) is not.
		rising := f(last[len(last)-1])-f(last[0]) > slack
		if b > a*1.25 && b-a > slack && rising {
			state = "GROWING"
			bad = append(bad, fmt.Sprintf("%s grows: median %.0f%s in the middle third, %.0f%s in the last", name, a, unit, b, unit))
		}
		lines = append(lines, fmt.Sprintf("  %-28s %s (median %.0f%s -> %.0f%s; peak %.0f%s -> %.0f%s)", name, state, a, unit, b, unit,
			peak(mid, f), unit, peak(last, f), unit))
	}
	for _, p := range sortedKeys(samples[0].Procs) {
		judge(p+" memory", func(s soakSample) float64 { return s.Procs[p].RSS / (1 << 20) }, 16, " MiB")
		judge(p+" goroutines", func(s soakSample) float64 { return s.Procs[p].Goroutines }, 40, "")
		judge(p+" open files", func(s soakSample) float64 { return s.Procs[p].FDs }, 20, "")
	}
	if samples[n-1].At >= 30*time.Minute {
		judge("delivery log rows", func(s soakSample) float64 { return float64(s.Attempts) }, 1000, "")
		judge("database size", func(s soakSample) float64 { return float64(s.DBBytes >> 20) }, 16, " MiB")
	} else {
		lines = append(lines, fmt.Sprintf("  %-28s not judged: retention 5 min + pruning every 10 min needs a run of 30 min or more (rows %d -> %d)", "delivery log", samples[n/3].Attempts, samples[n-1].Attempts))
	}
	for _, name := range sortedKeys(samples[n-1].Streams) {
		why := "kept by age by design"
		switch name {
		case "EVENTS":
			// Kept FLUXHOOK_EVENT_RETENTION (24 h at the least, the
			// idempotency window) for replays: it grows through any soak.
			why = "kept for replays for FLUXHOOK_EVENT_RETENTION, 24 h or more"
		case "DELIVERIES":
			// A job for an endpoint whose circuit is open is parked, not
			// tried, and waits for the endpoint to answer, its webhook to
			// be disabled (FLUXHOOK_DISABLE_AFTER, 5 days) or the stream's
			// MaxAge (7 days): the hanging endpoint's jobs pile up by design.
			why = "holds the hanging endpoint's parked jobs until it answers or is disabled"
		}
		lines = append(lines, fmt.Sprintf("  %-28s reported, not judged (%s): %d KiB, %d messages", name, why, samples[n-1].Streams[name][0]>>10, samples[n-1].Streams[name][1]))
	}
	v := "verdict: nothing grows without bound"
	if len(bad) > 0 {
		v = "verdict: FAIL: " + strings.Join(bad, "; ")
	}
	return v + "\n" + strings.Join(lines, "\n") + "\n", bad
}
