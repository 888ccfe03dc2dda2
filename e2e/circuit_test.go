package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

// TestE2EDeadEndpointIsParkedAtDispatch: a webhook whose endpoint refuses
// connections has its circuit opened by the worker after a few failures;
// the dispatcher hears of it and stores the webhook's next jobs parked,
// as it makes them (fluxhook_dispatch_parked_total), instead of handing
// each to a worker to park. When the endpoint comes back, every event
// arrives, signed: parking loses nothing and uses up no attempts.
func TestE2EDeadEndpointIsParkedAtDispatch(t *testing.T) {
	skipShort(t)
	t.Parallel()
	// Six attempts a job, over about half a minute: parking must not use
	// them up while the endpoint is down for longer than that.
	s := NewAllInOne(t, "1s,2s,4s,8s,16s")
	addr := testenv.FreeAddr(t) // nothing listens there yet: refused
	hookID := CreateWebhook(t, s.API.API, s.AdminToken, WebhookSpec{URL: "http://" + addr + "/webhook", Secret: webhookSecret, Events: []string{"e2e.dead"}})
	time.Sleep(time.Second) // the dispatcher's subscription cache learns of it

	ids := newIDs(60)
	publish := func(ids []string) {
		for _, id := range ids {
			if st, out := Publish(t, s.API.API, s.Key, "e2e.dead", id, map[string]any{"e2e": id}); st != http.StatusAccepted {
				t.Fatalf("publish: %d %v", st, out)
			}
		}
	}
	// Enough failures in a row to open the circuit.
	publish(ids[:10])
	waitFor(t, 30*time.Second, func() bool {
		return metric(t, s.API.Admin, `fluxhook_delivery_attempts_total{outcome="parked"}`) > 0
	}, "the worker parking the dead endpoint's jobs")
	// From now on the dispatcher parks the new jobs itself.
	publish(ids[10:])
	waitFor(t, 30*time.Second, func() bool {
		return metric(t, s.API.Admin, "fluxhook_dispatch_parked_total") >= 10
	}, "the dispatcher parking the dead endpoint's new jobs")
	// The endpoint comes back at the same address.
	time.Sleep(2 * time.Second)
	rcv := &Receiver{Secret: webhookSecret, attempts: map[string]int{}, delivered: map[string]int{}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on the dead endpoint's address %s: %v", addr, err)
	}
	rcv.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: rcv}}
	rcv.srv.Start()
	t.Cleanup(rcv.srv.Close)
	waitFor(t, 120*time.Second, func() bool { return len(rcv.Missing(ids)) == 0 },
		"every event at the endpoint once it answers again")
	for _, r := range rcv.Requests() {
		if r.Problem != "" {
			t.Errorf("a delivery failed verification: %s", r.Problem)
		}
	}
	t.Logf("webhook %s: dispatcher parked %.0f jobs, %d requests for %d events once the endpoint answered",
		hookID, metric(t, s.API.Admin, "fluxhook_dispatch_parked_total"), len(rcv.Requests()), len(ids))
	s.CheckAlive(t)
	s.StopAll(t)
}
