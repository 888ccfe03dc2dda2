package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestChaos is #15's fault runner (make chaos): the production layout
// (ChaosStack: api x2, dispatcher, worker x2, three NATS servers with R3
// streams, PostgreSQL, Redis) under a steady load through POST /events
// to two healthy webhooks whose receivers verify both signatures; one
// fault per scenario, injected mid-run, one after the other on the same
// stack (a scenario also proves that the one before left nothing
// broken). For each it prints events accepted, publishes refused and
// how, deliveries expected and received, lost, duplicates, the longest
// gap with no delivery, the recovery time and whether any process had
// to be restarted by hand, and fails when a bar is missed:
//
//   - lost is 0: every event answered 202 reaches both healthy webhooks;
//   - a publish is refused only with 503 and Retry-After (never a 4xx,
//     another 5xx, or a hang), and never answered 202 while no NATS
//     server was up; transport errors only where an api replica is
//     killed;
//   - a repeated delivery carries the same webhook-id, and every request
//     verifies (X-Fluxbase-Signature and Standard Webhooks);
//   - new events are delivered again within chaosRecoveryBar of the
//     fault's end, and every process is alive and ready by then without
//     being restarted (the runner restarts only the processes it killed,
//     as Kubernetes would);
//   - and what each scenario checks besides (the receivers' outcomes,
//     503 while the disk is full).
//
// FLUXHOOK_CHAOS selects the scenarios: unset, the short subset that
// make test runs; "all" (make chaos), or a comma-separated list of
// names. FLUXHOOK_CHAOS_RATE is the load in events per second (default
// 25); FLUXHOOK_CHAOS_REPORT, a file the table is also written to.
func TestChaos(t *testing.T) {
	skipShort(t)
	sel := os.Getenv("FLUXHOOK_CHAOS")
	full := sel != ""
	var run []chaosScenario
	for _, sc := range chaosScenarios(full) {
		switch {
		case sel == "" && sc.short, sel == "all":
			run = append(run, sc)
		case sel != "" && slices.Contains(strings.Split(sel, ","), sc.name):
			run = append(run, sc)
		}
	}
	if len(run) == 0 {
		t.Fatalf("FLUXHOOK_CHAOS=%q selects no scenario; names: %s", sel, strings.Join(chaosNames(), ", "))
	}
	if !full {
		t.Parallel() // in make test, alongside the other waiting e2e tests
	}
	rate := float64(envInt("FLUXHOOK_CHAOS_RATE", 25))
	start := time.Now()
	s := NewChaosStack(t, ChaosConfig{MaxFileStore: chaosMaxFileStore, Env: map[string]string{
		// Hanging and trickling endpoints give up sooner than the 15 s
		// default, so that the receivers scenario sees several rounds.
		"FLUXHOOK_DELIVERY_TIMEOUT": "5s",
	}})

	var results []*chaosResult
	t.Cleanup(func() { printChaosTable(t, results, rate, time.Since(start)) })
	for _, sc := range run {
		res := runChaosScenario(t, s, sc, rate)
		results = append(results, res)
		for _, f := range res.Failures {
			t.Errorf("%s: %s", sc.name, f)
		}
	}
}

// chaosRecoveryBar bounds the time from a fault's end until new events
// are delivered again and every process is ready. Generous: the machine
// that runs it may be shared, and a bar that flakes under load is a
// defect of its own.
const chaosRecoveryBar = 90 * time.Second

// chaosMaxFileStore is each NATS server's JetStream file storage limit:
// room for the run's streams (the idempotency bucket keeps every event
// id for 24 h) and little more, so that the disk-full scenario fills it
// quickly.
const chaosMaxFileStore = 160 << 20

// chaosScenario is one fault.
type chaosScenario struct {
	name  string
	what  string
	short bool // in make test's subset
	// fault injects the fault and returns when it has been cleared,
	// filling in win. It runs in the test's goroutine.
	fault func(t *testing.T, s *ChaosStack, w *faultWindow)
	// connErrorsOK: transport errors are expected (an api replica dies).
	connErrorsOK bool
	// no202WhileDown: no publish may be answered 202 within the window's
	// Down..Up (nothing could have stored it).
	no202WhileDown bool
	// refusalsExpected: a scenario that must see at least one 503.
	refusalsExpected bool
}

// faultWindow is when a fault was in force: from Down to Up (Up is when
// it was cleared: the dependency back, the last kill's restart done).
// Killed lists the processes the runner restarted after killing them;
// Notes and Failures are the scenario's own findings.
type faultWindow struct {
	Down, Up time.Time
	Killed   map[string]int
	Notes    []string
	Failures []string
}

func (w *faultWindow) fail(format string, args ...any) {
	w.Failures = append(w.Failures, fmt.Sprintf(format, args...))
}

func (w *faultWindow) note(format string, args ...any) {
	w.Notes = append(w.Notes, fmt.Sprintf(format, args...))
}

// chaosScenarios lists the faults of #15; full makes them last as the
// issue says (make chaos), otherwise shorter (make test's subset).
func chaosScenarios(full bool) []chaosScenario {
	scale := func(long, short time.Duration) time.Duration {
		if full {
			return long
		}
		return short
	}
	return []chaosScenario{
		{name: "nats-kill-one", what: "kill -9 the NATS server leading EVENTS, back after 10 s", short: true,
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				victim := s.NATS.StreamLeader("EVENTS")
				if victim == nil {
					victim = s.NATS.Nodes[0]
				}
				w.note("killed %s (EVENTS leader)", victim.Name)
				w.Down = time.Now()
				victim.Kill()
				time.Sleep(10 * time.Second)
				victim.Start()
				w.Up = time.Now()
			}},
		{name: "nats-kill-all", what: "kill -9 all three NATS servers, back after 10 s", no202WhileDown: true, refusalsExpected: true,
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				for _, n := range s.NATS.Nodes {
					n.Kill()
				}
				w.Down = time.Now()
				time.Sleep(10 * time.Second)
				w.Up = time.Now()
				for _, n := range s.NATS.Nodes {
					n.Start()
				}
			}},
		{name: "nats-partition", what: "SIGSTOP the NATS server leading DELIVERIES for 30 s, then SIGCONT",
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				victim := s.NATS.StreamLeader("DELIVERIES")
				if victim == nil {
					victim = s.NATS.Nodes[1]
				}
				w.note("froze %s (DELIVERIES leader)", victim.Name)
				w.Down = time.Now()
				victim.Signal(syscall.SIGSTOP)
				time.Sleep(scale(30*time.Second, 10*time.Second))
				victim.Signal(syscall.SIGCONT)
				w.Up = time.Now()
			}},
		{name: "pg-restart", what: "PostgreSQL stopped (pg_ctl -m fast) and started again 5 s later",
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				o := s.PG.Restart(5 * time.Second)
				w.Down, w.Up = o.Down, o.Up
			}},
		{name: "pg-unreachable", what: "PostgreSQL frozen (SIGSTOP, connections hang) for 60 s",
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				w.Down = time.Now()
				s.PG.Freeze()
				time.Sleep(scale(60*time.Second, 15*time.Second))
				s.PG.Thaw()
				w.Up = time.Now()
			}},
		{name: "redis-stop", what: "Redis stopped for 30 s, then started again (empty)",
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				w.Down = time.Now()
				s.Redis.Stop()
				time.Sleep(scale(30*time.Second, 10*time.Second))
				s.Redis.Start()
				w.Up = time.Now()
			}},
		{name: "worker-kill-loop", what: "a worker SIGKILLed every 5 s for a minute (restarted each time)", short: true,
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				killLoop(t, s, s.Workers[0], scale(time.Minute, 20*time.Second), w)
			}},
		{name: "dispatcher-kill-loop", what: "the dispatcher SIGKILLed every 5 s for a minute (restarted each time)",
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				killLoop(t, s, s.Dispatch, scale(time.Minute, 20*time.Second), w)
			}},
		{name: "api-kill-loop", what: "an api replica SIGKILLed every 5 s for a minute (restarted each time)", connErrorsOK: true,
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				killLoop(t, s, s.APIs[1], scale(time.Minute, 20*time.Second), w)
			}},
		{name: "receivers", what: "7 more webhooks: reset, hang, trickle, 429 + Retry-After, 410, 500, 302 to a private address",
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				misbehavingReceivers(t, s, scale(45*time.Second, 20*time.Second), w)
			}},
		{name: "disk-full", what: "JetStream's file storage full (max_file_store, filled by another stream) for 15 s, then freed", refusalsExpected: true,
			fault: func(t *testing.T, s *ChaosStack, w *faultWindow) {
				diskFull(t, s, 15*time.Second, w)
			}},
	}
}

func chaosNames() []string {
	var out []string
	for _, sc := range chaosScenarios(true) {
		out = append(out, sc.name)
	}
	return out
}

// killLoop SIGKILLs p every 5 s for d, restarting it (and waiting until
// it is ready) after each kill, as Kubernetes would restart a pod.
func killLoop(t *testing.T, s *ChaosStack, p *Proc, d time.Duration, w *faultWindow) {
	t.Helper()
	w.Down = time.Now()
	end := w.Down.Add(d)
	kills := 0
	for time.Now().Before(end) {
		next := time.Now().Add(5 * time.Second)
		p.Kill()
		kills++
		time.Sleep(300 * time.Millisecond)
		p.Restart()
		time.Sleep(time.Until(next))
	}
	w.Up = time.Now()
	w.Killed = map[string]int{s.procLabel(p): kills}
	w.note("%s SIGKILLed %d times", s.procLabel(p), kills)
}

// chaosResult is one scenario's row.
type chaosResult struct {
	Name       string
	Accepted   int
	Refused    map[string]int
	Expected   int
	Received   int
	Lost       int
	Dups       int
	DupOtherID int
	Gap        time.Duration // longest time with no delivery at the healthy webhooks
	GapFrom    time.Time     // when it began
	Recovery   time.Duration // fault cleared -> first delivery of an event first sent since; <0: never
	Drained    time.Duration // fault cleared -> the last delivery
	P99        time.Duration // first sent -> delivered, 99th percentile
	Manual     string        // "never", or who needed it
	Failures   []string
	Notes      []string
}

// runChaosScenario runs one fault under load and measures it.
func runChaosScenario(t *testing.T, s *ChaosStack, sc chaosScenario, rate float64) *chaosResult {
	t.Helper()
	t.Logf("=== %s: %s", sc.name, sc.what)
	settle(t, s)
	for _, r := range s.Healthy {
		r.Reset()
	}
	load := newChaosLoad([]string{s.APIs[0].API, s.APIs[1].API}, s.Key, "chaos."+strings.ReplaceAll(sc.name, "-", "_"), rate)
	load.Start()
	time.Sleep(5 * time.Second) // steady state before the fault
	w := &faultWindow{}
	sc.fault(t, s, w)
	t.Logf("%s: fault from %s to %s (%v)", sc.name, w.Down.Format("15:04:05.000"), w.Up.Format("15:04:05.000"), w.Up.Sub(w.Down).Round(time.Millisecond))

	// Nobody restarts anything from here on: the processes must be
	// ready again by themselves.
	res := &chaosResult{Name: sc.name, Manual: "never", Failures: w.Failures, Notes: w.Notes}
	var stuck []string
	readyBy := time.Now().Add(chaosRecoveryBar)
	for _, p := range s.Procs() {
		for !p.Ready() && p.Alive() && time.Now().Before(readyBy) {
			time.Sleep(200 * time.Millisecond)
		}
		switch {
		case !p.Alive():
			stuck = append(stuck, fmt.Sprintf("%s exited (%v)", s.procLabel(p), p.ExitErr()))
		case !p.Ready():
			_, body := getBody(t, p.Admin+"/readyz")
			stuck = append(stuck, fmt.Sprintf("%s not ready %v after the fault (%s)", s.procLabel(p), chaosRecoveryBar, strings.TrimSpace(body)))
		}
	}
	time.Sleep(10 * time.Second) // load after the fault
	load.Stop()
	measure(t, s, load, w, res)
	if len(stuck) > 0 {
		res.Manual = strings.Join(stuck, "; ")
		res.Failures = append(res.Failures, "needs a restart by hand: "+res.Manual)
		// Put it right so that the next scenario measures its own fault.
		for _, p := range s.Procs() {
			if !p.Alive() || !p.Ready() {
				p.Restart()
			}
		}
	}

	// Bars on the publishes.
	res.Refused = load.Refusals()
	for code, n := range res.Refused {
		switch {
		case code == "503":
		case code == "conn" && sc.connErrorsOK:
		case code == "conn":
			res.Failures = append(res.Failures, fmt.Sprintf("%d publishes failed at the transport level (no answer within 30 s or connection refused) with both api replicas running", n))
		case code == "503-no-RA":
			res.Failures = append(res.Failures, fmt.Sprintf("%d publishes answered 503 without Retry-After", n))
		default:
			res.Failures = append(res.Failures, fmt.Sprintf("%d publishes answered %s (want 202, or 503 with Retry-After): e.g. %s", n, code, firstBody(load, code)))
		}
	}
	if sc.refusalsExpected && res.Refused["503"] == 0 {
		res.Failures = append(res.Failures, "no publish was answered 503 during the fault")
	}
	if load.gaveUp > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d events were never accepted (given up after %v or refused with a status that may not be retried)", load.gaveUp, load.giveUp))
	}
	if sc.no202WhileDown {
		for _, a := range load.Answers() {
			if a.Status == http.StatusAccepted && a.Start.After(w.Down) && a.End.Before(w.Up) {
				res.Failures = append(res.Failures, fmt.Sprintf("event %s answered 202 at %s while no NATS server ran (%s to %s)",
					a.ID, a.End.Format("15:04:05.000"), w.Down.Format("15:04:05.000"), w.Up.Format("15:04:05.000")))
				break
			}
		}
	}
	t.Logf("%s: accepted %d, refused %s, expected %d, received %d, lost %d, duplicates %d (other webhook-id %d), longest gap %v, recovery %v, drained %v, p99 %v; %s",
		sc.name, res.Accepted, formatCounts(res.Refused), res.Expected, res.Received, res.Lost, res.Dups, res.DupOtherID,
		res.Gap.Round(time.Millisecond), res.Recovery.Round(time.Millisecond), res.Drained.Round(time.Millisecond), res.P99.Round(time.Millisecond),
		strings.Join(res.Notes, "; "))
	return res
}

func firstBody(l *chaosLoad, code string) string {
	for _, a := range l.Answers() {
		if fmt.Sprint(a.Status) == code {
			return a.Body
		}
	}
	return ""
}

// settle waits, before a scenario, until the previous one has left
// everything up: every NATS server healthy, every process ready.
func settle(t *testing.T, s *ChaosStack) {
	t.Helper()
	s.NATS.WaitHealthy(2 * time.Minute)
	for _, p := range s.Procs() {
		waitFor(t, time.Minute, p.Ready, s.procLabel(p)+" ready before the next scenario")
	}
}

// chaosDrainBar is how long, after the load stopped, every accepted
// event may take to reach both healthy webhooks before the missing ones
// count as lost.
const chaosDrainBar = 3 * time.Minute

// measure waits for the accepted events to arrive and fills in res.
func measure(t *testing.T, s *ChaosStack, load *chaosLoad, w *faultWindow, res *chaosResult) {
	t.Helper()
	ids := load.AcceptedIDs()
	accepted := load.Accepted()
	res.Accepted = len(ids)
	res.Expected = len(ids) * len(s.Healthy)
	deadline := time.Now().Add(chaosDrainBar)
	for {
		missing := 0
		for _, r := range s.Healthy {
			missing += len(r.Missing(ids))
		}
		if missing == 0 || time.Now().After(deadline) {
			res.Lost = missing
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	res.Received = res.Expected - res.Lost
	if res.Lost > 0 {
		var sample []string
		for i, r := range s.Healthy {
			for _, id := range r.Missing(ids)[:min(3, len(r.Missing(ids)))] {
				sample = append(sample, fmt.Sprintf("webhook %d: %s (accepted %s)", i+1, id, accepted[id].Format("15:04:05.000")))
			}
		}
		res.Failures = append(res.Failures, fmt.Sprintf("%d of %d deliveries lost (not there %v after the load stopped), e.g. %s",
			res.Lost, res.Expected, chaosDrainBar, strings.Join(sample, ", ")))
	}

	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	sent := load.FirstSent()
	var arrivals []time.Time
	var latencies []time.Duration // first sent -> first delivered
	for _, r := range s.Healthy {
		if n, problems := r.SigFailures(); n > 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("%d requests failed signature verification: %s", n, strings.Join(problems, "; ")))
		}
		first := map[string]time.Time{}
		hookIDs := map[string]map[string]bool{}
		oks := map[string]int{}
		for _, q := range r.Requests() {
			if !want[q.Tag] || q.Status != http.StatusOK {
				continue
			}
			oks[q.Tag]++
			if hookIDs[q.Tag] == nil {
				hookIDs[q.Tag] = map[string]bool{}
			}
			hookIDs[q.Tag][q.WebhookID] = true
			if _, ok := first[q.Tag]; !ok {
				first[q.Tag] = q.At
				arrivals = append(arrivals, q.At)
				latencies = append(latencies, q.At.Sub(sent[q.Tag]))
			}
		}
		for tag, n := range oks {
			res.Dups += n - 1
			if len(hookIDs[tag]) > 1 {
				res.DupOtherID++
			}
		}
	}
	if res.DupOtherID > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d events were delivered twice to one webhook under different webhook-ids (a receiver cannot drop such duplicates)", res.DupOtherID))
	}
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i].Before(arrivals[j]) })
	for i := 1; i < len(arrivals); i++ {
		if g := arrivals[i].Sub(arrivals[i-1]); g > res.Gap {
			res.Gap, res.GapFrom = g, arrivals[i-1]
		}
	}
	if res.Gap > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("longest gap from %+.1fs to %+.1fs of the fault's start",
			res.GapFrom.Sub(w.Down).Seconds(), res.GapFrom.Add(res.Gap).Sub(w.Down).Seconds()))
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		res.P99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]
	}
	if len(arrivals) > 0 {
		res.Drained = max(0, arrivals[len(arrivals)-1].Sub(w.Up))
	}

	// Recovery: the first delivery of an event first sent after the
	// fault was cleared. (Not "accepted after": an event whose publish
	// was stored but answered 503 is delivered, and its retry answered
	// 202, duplicate, later.)
	res.Recovery = -1
	var firstNew time.Time
	for _, r := range s.Healthy {
		for _, q := range r.Requests() {
			if want[q.Tag] && q.Status == http.StatusOK && sent[q.Tag].After(w.Up) && (firstNew.IsZero() || q.At.Before(firstNew)) {
				firstNew = q.At
			}
		}
	}
	if !firstNew.IsZero() {
		res.Recovery = firstNew.Sub(w.Up)
	}
	switch {
	case res.Recovery < 0:
		res.Failures = append(res.Failures, "no event first sent after the fault was cleared was delivered")
	case res.Recovery > chaosRecoveryBar:
		res.Failures = append(res.Failures, fmt.Sprintf("deliveries of new events resumed %v after the fault was cleared, want under %v", res.Recovery.Round(time.Millisecond), chaosRecoveryBar))
	}
}

// printChaosTable prints the results (and writes them to
// FLUXHOOK_CHAOS_REPORT when set).
func printChaosTable(t *testing.T, results []*chaosResult, rate float64, took time.Duration) {
	if len(results) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nFluxhook chaos run, %s: api x2, dispatcher, worker x2, 3 NATS servers (R3, sync always), PostgreSQL, Redis;\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "%.0f events/s through POST /events to 2 healthy webhooks (both signatures verified); %v in all.\n\n", rate, took.Round(time.Second))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\taccepted\trefused\texpected\treceived\tlost\tdup (same id)\tlongest gap\trecovery\tp99 latency\tmanual restart\tverdict")
	for _, r := range results {
		verdict := "pass"
		if len(r.Failures) > 0 {
			verdict = "FAIL"
		}
		rec := "never"
		if r.Recovery >= 0 {
			rec = r.Recovery.Round(10 * time.Millisecond).String()
		}
		manual := r.Manual
		if manual != "never" {
			manual = "NEEDED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d (%d)\t%v\t%s\t%v\t%s\t%s\n", r.Name, r.Accepted, formatCounts(r.Refused), r.Expected, r.Received,
			r.Lost, r.Dups, r.Dups-r.DupOtherID, r.Gap.Round(100*time.Millisecond), rec, r.P99.Round(10*time.Millisecond), manual, verdict)
	}
	tw.Flush()
	for _, r := range results {
		if len(r.Notes) > 0 {
			fmt.Fprintf(&b, "  %s: %s\n", r.Name, strings.Join(r.Notes, "; "))
		}
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "  %s FAILED: %s\n", r.Name, f)
		}
	}
	fmt.Fprintln(os.Stdout, b.String())
	if path := os.Getenv("FLUXHOOK_CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Logf("write %s: %v", path, err)
		}
	}
}

// ---------------------------------------------------------------------
// Receivers that misbehave.

// misbehavingReceivers adds a webhook for each misbehaviour (on every
// event, as the healthy ones), keeps them for d under the load, checks
// that the engine classified each as it should, and removes them.
func misbehavingReceivers(t *testing.T, s *ChaosStack, d time.Duration, w *faultWindow) {
	t.Helper()
	api := s.APIs[0].API
	canary := newBadEndpoint(t, badCanary, "")
	modes := []string{badReset, badHang, badTrickle, bad429, bad410, bad500, badRedirect}
	eps := map[string]*badEndpoint{}
	hooks := map[string]string{}
	for _, m := range modes {
		eps[m] = newBadEndpoint(t, m, canary.URL)
		hooks[m] = CreateWebhook(t, api, s.AdminToken, WebhookSpec{URL: eps[m].URL, Secret: webhookSecret})
	}
	w.Down = time.Now()
	time.Sleep(d)
	// 410 disables the webhook: requests stop (but for those in flight).
	var goneAt int
	waitFor(t, 30*time.Second, func() bool {
		_, _, out := call(t, "GET", api+"/webhooks/"+hooks[bad410], nil, s.AdminToken)
		goneAt = eps[bad410].Hits()
		return out["is_active"] == false
	}, "the webhook whose endpoint answers 410 is disabled")
	_, _, out := call(t, "GET", api+"/webhooks/"+hooks[bad410], nil, s.AdminToken)
	time.Sleep(5 * time.Second)
	if n := eps[bad410].Hits(); n > goneAt+64 {
		w.fail("410: %d more requests reached the endpoint after its webhook was disabled", n-goneAt)
	}
	w.note("410: disabled after %d requests (%v)", goneAt, out["disabled_reason"])

	for _, m := range modes {
		log := Deliveries(t, api, s.AdminToken, hooks[m], 200)
		var statuses, codes, errs []string
		for _, d := range log {
			statuses = append(statuses, d.Status)
			if d.StatusCode != nil {
				codes = append(codes, fmt.Sprint(*d.StatusCode))
			}
			if d.Error != nil {
				errs = append(errs, *d.Error)
			}
		}
		has := func(list []string, sub string) bool {
			return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, sub) })
		}
		if has(statuses, "delivered") {
			w.fail("%s: the delivery log says delivered", m)
		}
		if eps[m].Hits() == 0 {
			w.fail("%s: the endpoint got no request", m)
			continue
		}
		if len(log) == 0 {
			w.fail("%s: nothing in the delivery log after %d requests", m, eps[m].Hits())
			continue
		}
		var ok bool
		switch m {
		case badReset:
			ok = has(errs, "reset") || has(errs, "closed")
		case badHang, badTrickle:
			ok = has(errs, "timeout")
		case bad429:
			ok = has(codes, "429") && has(statuses, "retrying")
			if g := eps[m].MinRetryGap(); g > 0 && g < 1800*time.Millisecond {
				w.fail("429: a retry came %v after the 429 with Retry-After: 3 (the schedule's 1 s, honoured up to 2 x: want >= 2 s)", g.Round(time.Millisecond))
			}
		case bad410:
			ok = has(codes, "410") && out["is_active"] == false
		case bad500:
			ok = has(codes, "500") && (has(statuses, "failed") || has(statuses, "retrying"))
		case badRedirect:
			ok = has(codes, "302") && has(statuses, "retrying")
		}
		w.note("%s: %d requests, log %s / %s / %s", m, eps[m].Hits(), uniq(statuses), uniq(codes), uniq(errs))
		if !ok {
			w.fail("%s: classified as status %v, codes %v, errors %v", m, uniq(statuses), uniq(codes), uniq(errs))
		}
	}
	if n := canary.Hits(); n > 0 {
		w.fail("the private address a 302 pointed at got %d requests: redirects must not be followed", n)
	}
	for _, m := range modes {
		mustCall(t, http.StatusOK, "DELETE", api+"/webhooks/"+hooks[m], nil, s.AdminToken)
	}
	w.Up = time.Now()
}

// uniq returns the distinct values of list, sorted, joined, clipped.
func uniq(list []string) string {
	seen := map[string]bool{}
	for _, s := range list {
		seen[s] = true
	}
	keys := sortedKeys(seen)
	out := strings.Join(keys, ",")
	if len(out) > 120 {
		out = out[:120] + "…"
	}
	if out == "" {
		out = "-"
	}
	return out
}

// ---------------------------------------------------------------------
// Disk full.

// diskFull fills every NATS server's JetStream file storage to its
// max_file_store with a stream of the test's own (R3, so on every
// server), holds it full for d, then deletes that stream. Publishes must
// be refused with 503 meanwhile and accepted again afterwards.
func diskFull(t *testing.T, s *ChaosStack, d time.Duration, w *faultWindow) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nc, js, err := s.NATS.connect(ctx)
	if err != nil {
		t.Fatalf("disk-full: connect: %v", err)
	}
	defer nc.Close()
	const filler = "CHAOS_FILLER"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: filler, Subjects: []string{"chaos.filler"}, Storage: jetstream.FileStorage, Replicas: 3}); err != nil {
		t.Fatalf("disk-full: create the filler stream: %v", err)
	}
	chunk := make([]byte, 512<<10)
	w.Down = time.Now()
	var filled int
	for {
		_, err := js.Publish(ctx, "chaos.filler", chunk)
		if err == nil {
			filled++
			continue
		}
		// JSInsufficientResourcesErr, 10023: the server's limit is reached.
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == 10023 || strings.Contains(err.Error(), "insufficient resources") {
			break
		}
		if filled*len(chunk) > 2*chaosMaxFileStore || ctx.Err() != nil {
			t.Fatalf("disk-full: %d MiB written and still no insufficient resources: %v", filled/2, err)
		}
		time.Sleep(100 * time.Millisecond) // e.g. a leader election after a step-down
	}
	w.note("filled after %d MiB of filler", filled/2)
	time.Sleep(d)
	if err := js.DeleteStream(ctx, filler); err != nil {
		t.Fatalf("disk-full: delete the filler stream: %v", err)
	}
	w.Up = time.Now()
}
